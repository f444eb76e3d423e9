using Aperture.Runtime.Health;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Storage;

/// <summary>Work a feature does on its own tables once the schema is current (its retention, say).</summary>
public interface ISchemaFollowUp
{
    Task ApplyAsync(CancellationToken cancellationToken);
}

/// <summary>ClickHouse and Redis for every feature: the clients, the schema migrations and their readiness checks.</summary>
public static class StorageFeature
{
    public static void AddStorage(this WebApplicationBuilder builder)
    {
        builder.AddValidatedOptions<ClickHouseOptions>(ClickHouseOptions.Section);
        builder.AddValidatedOptions<RedisOptions>(RedisOptions.Section);
        var services = builder.Services;
        services.AddSingleton(provider => new ClickHouseClient(provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.ConnectionString));
        services.AddSingleton<IConnectionMultiplexer>(provider => ConnectRedis(provider.GetRequiredService<IOptions<RedisOptions>>().Value));
        services.AddSingleton<SchemaState>();
        services.AddHostedService<SchemaMigrationService>();
        services.AddSingleton<IReadinessCheck, ClickHouseReadinessCheck>();
        services.AddSingleton<IReadinessCheck, RedisReadinessCheck>();
        services.AddSingleton<IReadinessCheck, SchemaReadinessCheck>();
    }

    /// <summary>
    /// Connects without failing when Redis is down: the multiplexer keeps reconnecting in the
    /// background and readiness reports Redis until it answers.
    /// </summary>
    private static ConnectionMultiplexer ConnectRedis(RedisOptions options)
    {
        var configuration = ConfigurationOptions.Parse(options.ConnectionString);
        configuration.AbortOnConnectFail = false;
        configuration.ConnectTimeout = (int)options.ProbeTimeout.TotalMilliseconds * 2;
        configuration.AsyncTimeout = (int)options.ProbeTimeout.TotalMilliseconds;
        configuration.SyncTimeout = (int)options.ProbeTimeout.TotalMilliseconds;
        configuration.ReconnectRetryPolicy = new ExponentialRetry(250, 5000);
        return ConnectionMultiplexer.Connect(configuration);
    }
}
