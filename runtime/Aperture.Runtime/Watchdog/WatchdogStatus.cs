using System.Text.Json.Serialization;
using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog;

/// <summary><c>GET /api/v1/status</c>: each component's real state and the watchdog's figures for the caller's tenant.</summary>
public static class WatchdogStatus
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    public static IEndpointRouteBuilder MapWatchdogStatus(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/status", async (
            HttpContext context, WatchdogState state, IncidentRecall recall, RcaSummarizer llm, ClickHouseClient clickHouse, AnomalyStore anomalies,
            TimeProvider time, CancellationToken cancellationToken) =>
        {
            var tenant = context.Principal().Tenant;
            var clickHouseState = "ok";
            long? lastHour = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(ProbeTimeout);
                await clickHouse.ExecuteScalarAsync("SELECT 1", cancellationToken: timeout.Token);
                lastHour = await anomalies.CountObservedSinceAsync(tenant, (time.GetUtcNow() - TimeSpan.FromHours(1)).ToUnixTimeMilliseconds(), timeout.Token);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                clickHouseState = "unavailable";
            }

            var components = new Dictionary<string, string>
            {
                ["watchdog"] = state.Running ? "running" : "stopped",
                ["vectorizer"] = recall.VectorizerState,
                // The RCA needs nothing of its own beyond ClickHouse, where its series and graph are.
                ["rca"] = clickHouseState == "ok" ? "ready" : "unavailable",
                ["llm"] = llm.State,
                ["clickhouse"] = clickHouseState,
            };
            var healthy = state.Running && clickHouseState == "ok" && components["vectorizer"] is "running" or "loading";
            return Results.Json(new StatusJson(
                healthy ? "ok" : "degraded", RuntimeApplication.Version, components,
                new WatchdogFigures(state.LastRun, state.LiveSeries.GetValueOrDefault(tenant), lastHour)));
        }).Requires(Permission.Read);
        return routes;
    }

    private sealed record WatchdogFigures(
        [property: JsonPropertyName("last_run")] DateTimeOffset? LastRun,
        [property: JsonPropertyName("metrics_monitored")] int MetricsMonitored,
        [property: JsonPropertyName("anomalies_last_hour")] long? AnomaliesLastHour);

    private sealed record StatusJson(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("version")] string Version,
        [property: JsonPropertyName("components")] IReadOnlyDictionary<string, string> Components,
        [property: JsonPropertyName("watchdog")] WatchdogFigures Watchdog);
}
