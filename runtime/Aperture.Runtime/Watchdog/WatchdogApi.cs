using System.Globalization;
using System.Text;
using System.Text.Json.Serialization;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>The watchdog's routes on the central runtime's HTTP port (aiops-api.md and the extensions the README lists).</summary>
public static class WatchdogApi
{
    private const int DefaultLimit = 50;
    private const int MaxLimit = 1000;
    private const int MaxDepth = 10;
    private const int MaxEdges = 10_000;

    public static IEndpointRouteBuilder MapWatchdogApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/anomalies", ListAnomaliesAsync).Requires(Permission.Read);
        routes.MapGet("/api/v1/anomalies/{anomalyId}", async (string anomalyId, HttpContext context, AnomalyStore store, CancellationToken cancellationToken) =>
            await store.FindAsync(context.Principal().Tenant, anomalyId, cancellationToken) is { } anomaly
                ? Results.Json(AnomalyJson.Of(anomaly))
                : Results.Json(new Aperture.Contracts.ErrorResponse(Aperture.Contracts.ErrorCodes.NotFound, $"no anomaly '{anomalyId}'"), statusCode: StatusCodes.Status404NotFound))
            .Requires(Permission.Read);

        routes.MapPost("/api/v1/metrics/import", async (HttpContext context, MetricIngest ingest, IOptions<WatchdogOptions> options, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(context.Request, new ImportJson(null), options.Value.MaxImportBytes, cancellationToken);
            var series = MetricIngest.FromImport(body);
            var outcome = await ingest.AcceptAsync(context.Principal(), series, cancellationToken);
            return Results.Json(new ImportAnswer("ok", series.Count, outcome.Stored, outcome.Watched, outcome.OutOfOrder, outcome.AnomaliesOpened, outcome.AnomaliesResolved));
        }).Requires(Permission.Ingest);

        routes.MapGet("/api/v1/metrics/series", async (HttpRequest request, MetricPointStore points, IOptions<WatchdogOptions> options, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var since = time.GetUtcNow() - options.Value.LiveWindow;
            var series = await points.LiveSeriesAsync(request.HttpContext.Principal().Tenant, RequestBody.OptionalString(request, "service_id"), since.ToUnixTimeMilliseconds(), 10_000, cancellationToken);
            return Results.Json(new { series });
        }).Requires(Permission.Read);

        routes.MapGet("/api/v1/rca/correlations", async (HttpRequest request, RcaService rca, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var service = RequestBody.OptionalString(request, "service_id") ?? throw new InvalidRequestException("service_id", "service_id is required");
            var depth = RequestBody.OptionalInt(request, "depth") ?? 3;
            if (depth is < 1 or > MaxDepth)
            {
                throw new InvalidRequestException("depth", $"depth must be between 1 and {MaxDepth}");
            }

            var correlations = await rca.CorrelateAsync(request.HttpContext.Principal().Tenant, service, depth, time.GetUtcNow().ToUnixTimeMilliseconds(), cancellationToken);
            return Results.Json(new
            {
                service_id = service,
                correlations = correlations.Select(c => new
                {
                    related_service = c.RelatedService,
                    correlation_score = Math.Round(c.CorrelationScore, 4),
                    lag_minutes = c.LagMinutes,
                    direction = c.Direction,
                }),
            });
        }).Requires(Permission.Read);

        routes.MapPost("/api/v1/rca/analyze", async (HttpContext context, RcaService rca, IncidentRecall recall, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(context.Request, new AnalyzeJson(null, null, null, null), cancellationToken);
            var service = body.ServiceId ?? throw new InvalidRequestException("service_id", "service_id is required");
            var metric = body.MetricName ?? throw new InvalidRequestException("metric_name", "metric_name is required");
            var at = body.At ?? throw new InvalidRequestException("at", "at is required (RFC 3339)");
            var window = body.WindowMinutes ?? 30;
            if (window is < 1 or > 24 * 60)
            {
                throw new InvalidRequestException("window_minutes", "window_minutes must be between 1 and 1440");
            }

            var tenant = context.Principal().Tenant;
            var causes = await rca.AnalyzeAsync(tenant, service, metric, at.ToUnixTimeMilliseconds(), window, cancellationToken);
            var text = $"{service} {metric}; likely cause " + (causes.Count > 0 ? $"{causes[0].ServiceId} {causes[0].MetricName}: {string.Join("; ", causes[0].Evidence)}" : "unknown");
            var similar = await recall.RecallAsync(tenant, service, text, cancellationToken);
            return Results.Json(new { service_id = service, metric_name = metric, at, causes, similar_incidents = similar });
        }).Requires(Permission.Read);

        routes.MapPut("/api/v1/rca/topology", async (HttpContext context, TopologyStore topology, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(context.Request, new TopologyJson(null), cancellationToken);
            var edges = body.Edges ?? throw new InvalidRequestException("edges", "edges is required: [{\"from\": caller, \"to\": callee}]");
            if (edges.Count > MaxEdges)
            {
                throw new InvalidRequestException("edges", $"at most {MaxEdges} edges");
            }

            var checkedEdges = new HashSet<TopologyEdge>();
            for (var i = 0; i < edges.Count; i++)
            {
                var (from, to) = (edges[i]?.From, edges[i]?.To);
                if (from is not { Length: > 0 and <= MetricIngest.MaxServiceIdLength } || to is not { Length: > 0 and <= MetricIngest.MaxServiceIdLength } || from == to)
                {
                    throw new InvalidRequestException($"edges[{i}]", "an edge is {\"from\": caller, \"to\": callee}, two different service ids");
                }

                checkedEdges.Add(new TopologyEdge(from, to));
            }

            await topology.ReplaceApiEdgesAsync(context.Principal().Tenant, checkedEdges, cancellationToken);
            return Results.Json(new { status = "ok", edges = checkedEdges.Count });
        }).Requires(Permission.Write);

        routes.MapGet("/api/v1/rca/topology", async (HttpContext context, TopologyStore topology, CancellationToken cancellationToken) =>
        {
            var edges = await topology.EdgesAsync(context.Principal().Tenant, fresh: true, cancellationToken);
            return Results.Json(new { edges = edges.Select(e => new { from = e.Edge.Caller, to = e.Edge.Callee, origin = e.Origin }) });
        }).Requires(Permission.Read);

        return routes;
    }

    private static async Task<IResult> ListAnomaliesAsync(HttpRequest request, AnomalyStore store, CancellationToken cancellationToken)
    {
        var tenant = request.HttpContext.Principal().Tenant;
        var minScore = OptionalDouble(request, "min_score");
        if (minScore is < 0 or > 1)
        {
            throw new InvalidRequestException("min_score", "min_score must be between 0 and 1");
        }

        var limit = RequestBody.OptionalInt(request, "limit") ?? DefaultLimit;
        if (limit is < 1 or > MaxLimit)
        {
            throw new InvalidRequestException("limit", $"limit must be between 1 and {MaxLimit}");
        }

        var resolved = RequestBody.OptionalString(request, "resolved") switch
        {
            null => (bool?)null,
            "true" => true,
            "false" => false,
            var other => throw new InvalidRequestException("resolved", $"resolved must be true or false, not '{other}'"),
        };
        var filter = new AnomalyFilter(
            tenant, RequestBody.OptionalString(request, "service_id"), RequestBody.OptionalString(request, "metric_name"), RequestBody.OptionalString(request, "source"),
            RequestBody.OptionalTimeMs(request, "since"), RequestBody.OptionalTimeMs(request, "until"), minScore, resolved);
        var cursor = RequestBody.OptionalString(request, "page_token") is { } token ? PageTokens.Read(token, filter) : (AnomalyCursor?)null;
        // One more than the page: whether a next page exists without a second count.
        var (rows, total) = await store.ListAsync(filter, cursor, limit + 1, cancellationToken);
        var page = rows.Take(limit).ToList();
        var next = rows.Count > limit ? PageTokens.Write(new AnomalyCursor(page[^1].DetectedAtMs, page[^1].AnomalyId), filter) : null;
        return Results.Json(new AnomalyPage([.. page.Select(AnomalyJson.Of)], total, next));
    }

    private static double? OptionalDouble(HttpRequest request, string name) =>
        RequestBody.OptionalString(request, name) is { } text
            ? double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value)
                ? value
                : throw new InvalidRequestException(name, $"{name} must be a number, not '{text}'")
            : null;

    private sealed record AnalyzeJson(
        [property: JsonPropertyName("service_id")] string? ServiceId,
        [property: JsonPropertyName("metric_name")] string? MetricName,
        [property: JsonPropertyName("at")] DateTimeOffset? At,
        [property: JsonPropertyName("window_minutes")] int? WindowMinutes);

    private sealed record EdgeJson([property: JsonPropertyName("from")] string? From, [property: JsonPropertyName("to")] string? To);

    private sealed record TopologyJson([property: JsonPropertyName("edges")] IReadOnlyList<EdgeJson?>? Edges);

    private sealed record ImportAnswer(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("series")] int Series,
        [property: JsonPropertyName("points")] int Points,
        [property: JsonPropertyName("watched")] int Watched,
        [property: JsonPropertyName("out_of_order")] int OutOfOrder,
        [property: JsonPropertyName("anomalies_opened")] IReadOnlyList<string> AnomaliesOpened,
        [property: JsonPropertyName("anomalies_resolved")] IReadOnlyList<string> AnomaliesResolved);

    private sealed record AnomalyPage(
        [property: JsonPropertyName("anomalies")] IReadOnlyList<AnomalyJson> Anomalies,
        [property: JsonPropertyName("total")] long Total,
        [property: JsonPropertyName("page_token")] string? PageToken);
}

/// <summary>An anomaly as the API shows it: the spec's fields, then what Aperture adds.</summary>
public sealed record AnomalyJson(
    [property: JsonPropertyName("anomaly_id")] string AnomalyId,
    [property: JsonPropertyName("service_id")] string ServiceId,
    [property: JsonPropertyName("metric_name")] string MetricName,
    [property: JsonPropertyName("anomaly_score")] double AnomalyScore,
    [property: JsonPropertyName("z_score")] double ZScore,
    [property: JsonPropertyName("detected_at")] DateTimeOffset DetectedAt,
    [property: JsonPropertyName("rca_triggered")] bool RcaTriggered,
    [property: JsonPropertyName("resolved")] bool Resolved,
    [property: JsonPropertyName("source")] string Source,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("value")] double? Value,
    [property: JsonPropertyName("expected")] double? Expected,
    [property: JsonPropertyName("observed_at")] DateTimeOffset ObservedAt,
    [property: JsonPropertyName("resolved_at")] DateTimeOffset? ResolvedAt,
    [property: JsonPropertyName("causes")] IReadOnlyList<CauseJson>? Causes,
    [property: JsonPropertyName("similar_incidents")] IReadOnlyList<SimilarIncidentJson>? SimilarIncidents,
    [property: JsonPropertyName("summary")] string? Summary,
    [property: JsonPropertyName("rca_error")] string? RcaError,
    [property: JsonPropertyName("alert")] AlertJson? Alert)
{
    public static AnomalyJson Of(AnomalyRecord a) => new(
        a.AnomalyId, a.ServiceId, a.MetricName, Finite(Math.Round(a.AnomalyScore, 4)) ?? 0, Finite(Math.Round(a.ZScore, 3)) ?? 0,
        DateTimeOffset.FromUnixTimeMilliseconds(a.DetectedAtMs), a.RcaTriggered, a.Resolved, a.Source, SeriesLabels.Parse(a.Labels),
        Finite(a.Value), Finite(a.Expected), DateTimeOffset.FromUnixTimeMilliseconds(a.ObservedAtMs),
        a.ResolvedAtMs is { } resolved ? DateTimeOffset.FromUnixTimeMilliseconds(resolved) : null,
        a.Details.Causes, a.Details.SimilarIncidents, a.Details.Summary, a.Details.RcaError, a.Details.Alert);

    private static double? Finite(double value) => double.IsFinite(value) ? value : null;
}

/// <summary>
/// The listing's page token: where the last page ended and which query it belongs to, base64url-encoded. Opaque
/// to clients; stable, because it names a position in the order (newest first), not an offset that new
/// anomalies would shift.
/// </summary>
public static class PageTokens
{
    public static string Write(AnomalyCursor cursor, AnomalyFilter filter) =>
        Base64Url(Encoding.UTF8.GetBytes($"1|{cursor.DetectedAtMs.ToString(CultureInfo.InvariantCulture)}|{Of(filter)}|{cursor.AnomalyId}"));

    public static AnomalyCursor Read(string token, AnomalyFilter filter)
    {
        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(token.Replace('-', '+').Replace('_', '/') + new string('=', (4 - (token.Length % 4)) % 4)));
        }
        catch (FormatException)
        {
            throw new InvalidRequestException("page_token", "page_token is not one this API gave");
        }

        var parts = text.Split('|', 4);
        if (parts.Length != 4 || parts[0] != "1" || !long.TryParse(parts[1], NumberStyles.Integer, CultureInfo.InvariantCulture, out var at))
        {
            throw new InvalidRequestException("page_token", "page_token is not one this API gave");
        }

        return parts[2] == Of(filter)
            ? new AnomalyCursor(at, parts[3])
            : throw new InvalidRequestException("page_token", "page_token belongs to a listing with other filters");
    }

    private static string Of(AnomalyFilter filter) => WatchdogIds.Hash(filter.ToString())[..8];

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
