using Aperture.Runtime.Access;
using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Storage;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Identity;

/// <summary>The central runtime as the authority for tenants and API keys (aiops-api.md).</summary>
public static class IdentityFeature
{
    public static void AddIdentity(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton(provider => new TenantStore(
            provider.GetRequiredService<IConnectionMultiplexer>(), provider.GetRequiredService<ClickHouseClient>(),
            provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton(provider => new ApiKeyStore(
            provider.GetRequiredService<IConnectionMultiplexer>(), provider.GetRequiredService<ClickHouseClient>(),
            provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database, provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<ICredentialSource, ApiKeySource>();
        services.AddSingleton<ISchemaFollowUp, DefaultTenantBootstrap>();
    }

    public static void MapIdentity(this WebApplication app)
    {
        // The authority's keys are read now, so a bad key file stops the start (exit 2) instead of the first login.
        app.Services.GetRequiredService<RuntimeSigningKeys>().Reload();
        app.MapIdentityApi();
    }
}

/// <summary>Registers the tenant <c>default</c> once the schema is current: rows written before tenants existed are its.</summary>
public sealed class DefaultTenantBootstrap(TenantStore tenants) : ISchemaFollowUp
{
    public Task ApplyAsync(CancellationToken cancellationToken) => tenants.EnsureDefaultAsync(cancellationToken);
}
