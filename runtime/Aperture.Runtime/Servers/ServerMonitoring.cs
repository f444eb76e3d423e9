using System.Threading.Channels;
using Aperture.Runtime.Hosting;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>Composes server monitoring (servers-api.md) into the aggregator role.</summary>
public static class ServerMonitoring
{
    public static void AddServerMonitoring(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ServerMonitoringOptions>().Bind(builder.Configuration.GetSection(ServerMonitoringOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ServerMonitoringOptions>>(new SectionAnnotationsValidator<ServerMonitoringOptions>(ServerMonitoringOptions.Section));
        services.AddOptions<DashboardOptions>().Bind(builder.Configuration.GetSection(DashboardOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DashboardOptions>, DashboardOptionsValidator>();

        var monitoring = builder.Configuration.GetSection(ServerMonitoringOptions.Section).Get<ServerMonitoringOptions>() ?? new ServerMonitoringOptions();
        services.AddSingleton(Channel.CreateBounded<ServerSnapshot>(new BoundedChannelOptions(Math.Max(1, monitoring.QueueCapacity))
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        }));
        services.AddSingleton<ServerRegistry>();
        services.AddSingleton<DashboardApiKeys>();
        services.AddSingleton<DashboardAccess>();
        services.AddSingleton<ServerIngestor>();
        services.AddSingleton(provider => new ServerSnapshotStore(
            provider.GetRequiredService<ClickHouseClient>(), provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database));
        services.AddHostedService<ServerSnapshotWriter>();

        var dashboard = builder.Configuration.GetSection(DashboardOptions.Section).Get<DashboardOptions>() ?? new DashboardOptions();
        DashboardAccess.AddDashboardAuthentication(builder, dashboard);
    }

    /// <summary>The authentication middleware completes OpenID Connect logins at /auth/callback.</summary>
    public static void UseServerMonitoring(this WebApplication app) => app.UseAuthentication();
}
