using System.Threading.Channels;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Detection;
using Aperture.Runtime.Watchdog.Rca;
using Aperture.Storage;
using ClickHouse.Driver;
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
        services.AddSingleton(provider => new TopologyStore(provider.GetRequiredService<ClickHouseClient>(), Database(provider), provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<AnomalyLedger>();
        services.AddSingleton<WatchdogState>();
        services.AddSingleton<RcaQueue>();
        services.AddSingleton<RcaService>();
        services.AddSingleton<RcaSummarizer>();
        services.AddSingleton<IncidentRecall>();
        services.AddSingleton<MetricIngest>();
        services.AddHostedService<WatchdogEngine>();
        services.AddSingleton<RcaWorker>();
        services.AddHostedService(provider => provider.GetRequiredService<RcaWorker>());
    }

    public static void MapWatchdog(this WebApplication app)
    {
        app.MapWatchdogStatus();
        app.MapWatchdogApi();
        app.MapPost("/api/v1/resolutions/webhook", NotBuilt).Requires(Permission.Write);
        // Alertmanager sends no credential; aiops-api.md restricts this port at the network instead.
        app.MapPost("/api/v1/alerts/webhook", NotBuilt).WithMetadata(ListenerMetadata.Webhook).Public("the Alertmanager webhook (port 9093, network-restricted)");
    }

    private static string Database(IServiceProvider provider) => provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database;

    private static IResult NotBuilt(HttpContext context) => Results.Json(
        new ErrorResponse(ErrorCodes.NotImplemented, $"{context.Request.Method} {context.Request.Path} is part of the AIOps watchdog, which is not built yet."),
        statusCode: StatusCodes.Status501NotImplemented);
}
