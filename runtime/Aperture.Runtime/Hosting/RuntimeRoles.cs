using Aperture.Runtime.Access;
using Aperture.Runtime.Alerts;
using Aperture.Runtime.Health;
using Aperture.Runtime.Identity;
using Aperture.Runtime.Jobs;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Profiling;
using Aperture.Runtime.Servers;
using Aperture.Runtime.Storage;
using Aperture.Runtime.Ui;
using Aperture.Runtime.Watchdog;
using Aperture.Runtime.Watchdog.Export;

namespace Aperture.Runtime.Hosting;

/// <summary>Each role as the list of its features, in the order their middleware and routes are composed.</summary>
public static class RuntimeRoles
{
    private static readonly RuntimeFeature Storage = new("storage", (builder, _) => builder.AddStorage(), _ => { });
    private static readonly RuntimeFeature Health = new("health", (builder, _) => builder.AddHealth(), app => app.MapHealth());
    private static readonly RuntimeFeature Access = new("access", (builder, _) => builder.AddAccess(), app => app.MapAccess());
    private static readonly RuntimeFeature Profiling = new("profiling", (builder, context) => builder.AddProfiling(context), app => app.MapProfiling());
    private static readonly RuntimeFeature Alerts = new("alerts", (builder, _) => builder.AddAlerts(), app => app.MapAlerts());
    private static readonly RuntimeFeature Servers = new("servers", (builder, _) => builder.AddServerMonitoring(), app => app.MapServerMonitoring());
    private static readonly RuntimeFeature LocalJobs = new("jobs", (builder, _) => builder.AddLocalJobs(), app => app.MapLocalJobs());
    private static readonly RuntimeFeature Identity = new("identity", (builder, _) => builder.AddIdentity(), app => app.MapIdentity());
    private static readonly RuntimeFeature Watchdog = new("watchdog", (builder, _) => builder.AddWatchdog(), app => app.MapWatchdog());
    private static readonly RuntimeFeature SeriesExport = new("series-export", (builder, _) => builder.AddSeriesExport(), _ => { });
    private static readonly RuntimeFeature Ui = new("ui", (builder, _) => builder.AddUi(), app => app.MapUi());
    private static readonly RuntimeFeature CentralJobs = new("central-jobs", (builder, _) => builder.AddCentralJobs(), app => app.MapCentralJobs());

    /// <summary>A site: profiling ingest and queries, alerts, server monitoring, the site-local jobs API, its series for the watchdog, the web UI.</summary>
    public static IReadOnlyList<RuntimeFeature> Aggregator { get; } = [Storage, Health, Access, SeriesExport, Profiling, Alerts, Servers, LocalJobs, Ui];

    /// <summary>The centre: tenants and API keys (the authority for identity), the watchdog, the federation of the sites' jobs, the web UI.</summary>
    public static IReadOnlyList<RuntimeFeature> Central { get; } = [Storage, Health, Access, Identity, Watchdog, CentralJobs, Ui];

    public static IReadOnlyList<RuntimeFeature> Of(RuntimeOptions runtime) => runtime.IsAggregator ? Aggregator : Central;
}
