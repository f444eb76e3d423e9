using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Health;

/// <summary>ClickHouse answers a query.</summary>
public sealed class ClickHouseReadinessCheck(ClickHouseClient client, IOptions<ClickHouseOptions> options) : IReadinessCheck
{
    public string Name => "clickhouse";

    public TimeSpan Timeout => options.Value.ProbeTimeout;

    public Task CheckAsync(CancellationToken cancellationToken) =>
        client.ExecuteScalarAsync("SELECT 1", cancellationToken: cancellationToken);
}

/// <summary>Redis answers PING.</summary>
public sealed class RedisReadinessCheck(IConnectionMultiplexer redis, IOptions<RedisOptions> options) : IReadinessCheck
{
    public string Name => "redis";

    public TimeSpan Timeout => options.Value.ProbeTimeout;

    public Task CheckAsync(CancellationToken cancellationToken) => redis.GetDatabase().PingAsync();
}
