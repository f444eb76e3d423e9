using System.Threading.Channels;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>Composes server monitoring (servers-api.md) into the aggregator role.</summary>
public static class ServersFeature
{
    public static void AddServerMonitoring(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        var monitoring = builder.AddValidatedOptions<ServerMonitoringOptions>(ServerMonitoringOptions.Section);
        var dashboard = builder.AddValidatedOptions(DashboardOptions.Section, new DashboardOptionsValidator());
        services.AddSingleton(Channel.CreateBounded<ServerSnapshot>(new BoundedChannelOptions(monitoring.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        }));
        services.AddSingleton<ServerRegistry>();
        services.AddSingleton<DashboardApiKeys>();
        services.AddSingleton<ICredentialSource, DashboardKeySource>();
        services.AddSingleton<ICredentialSource, DashboardLoginSource>();
        services.AddSingleton<ServerIngestor>();
        services.AddSingleton(provider => new ServerSnapshotStore(
            provider.GetRequiredService<ClickHouseClient>(), provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database));
        services.AddHostedService<ServerSnapshotWriter>();
        DashboardAccess.AddDashboardAuthentication(builder, dashboard);
    }

    /// <summary>The authentication middleware completes OpenID Connect logins at /auth/callback.</summary>
    public static void MapServerMonitoring(this WebApplication app)
    {
        app.UseAuthentication();
        app.MapServersApi();
    }
}
