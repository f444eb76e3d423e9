using System.Threading.Channels;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Detection;
using Aperture.Runtime.Watchdog.Memory;
using Aperture.Runtime.Watchdog.Rca;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>
/// The AIOps watchdog (aiops-api.md) on the central runtime: series in (import, remote write, the sites), the
/// streaming detector, anomalies, RCA, the Alertmanager webhook (port 9093) and the incident memory.
/// </summary>
public static class WatchdogFeature
{
    public static void AddWatchdog(this WebApplicationBuilder builder)
    {
        var watchdog = builder.AddValidatedOptions<WatchdogOptions>(WatchdogOptions.Section);
        builder.AddValidatedOptions<DetectorOptions>(DetectorOptions.Section);
        builder.AddValidatedOptions<CorrelationOptions>(CorrelationOptions.Section);
        builder.AddValidatedOptions<LlmOptions>(LlmOptions.Section);
        var services = builder.Services;
        services.AddSingleton(Channel.CreateBounded<MetricBatch>(new BoundedChannelOptions(watchdog.QueueBatches)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        }));
        services.AddSingleton(provider => new MetricPointStore(provider.GetRequiredService<ClickHouseClient>(), Database(provider)));
        services.AddSingleton(provider => new AnomalyStore(provider.GetRequiredService<ClickHouseClient>(), Database(provider)));
        services.AddSingleton(provider => new DetectorStateStore(provider.GetRequiredService<ClickHouseClient>(), Database(provider), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton(provider => new TopologyStore(provider.GetRequiredService<ClickHouseClient>(), Database(provider), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<AnomalyLedger>();
        services.AddSingleton<WatchdogState>();
        services.AddSingleton<RcaQueue>();
        // The Sites' main APIs answer for the evidence; the central-jobs feature configures them and shares the client.
        services.TryAddSingleton<Jobs.SiteClient>();
        services.AddSingleton<RcaEvidence>();
        services.AddSingleton<RcaService>();
        services.AddSingleton<RcaSummarizer>();
        builder.AddIncidentMemory();
        services.AddSingleton<IncidentRecall>();
        services.AddSingleton<AlertIntake>();
        services.AddSingleton<MetricIngest>();
        services.AddHostedService<WatchdogEngine>();
        services.AddSingleton<RcaWorker>();
        services.AddHostedService(provider => provider.GetRequiredService<RcaWorker>());
    }

    public static void MapWatchdog(this WebApplication app)
    {
        app.MapWatchdogStatus();
        app.MapWatchdogApi();
        app.MapPost("/api/v1/resolutions/webhook", async (HttpContext context, IncidentMemory memory, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync<ResolutionWebhookJson?>(context.Request, null, cancellationToken)
                ?? throw new InvalidRequestException("body", "the body is a resolution: {incident_id, service_id, resolution, resolved_by, time_to_recovery_minutes, tags}");
            var id = await memory.RememberAsync(context.Principal().Tenant, body.ToRecord(), cancellationToken);
            return Results.Json(new { status = "ok", stored = true, knowledge_base_id = id });
        }).Requires(Permission.Write);
        app.MapWatchdogReceivers();
    }

    private static string Database(IServiceProvider provider) => provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database;
}
