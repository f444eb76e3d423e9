using System.Globalization;
using StackExchange.Redis;

namespace Aperture.Runtime.Platform;

/// <summary>
/// Events ingested per tenant and month (profiling events, server snapshots, job events), counted in Redis as
/// the writers store them, so <c>events_this_month</c> never scans the data. A count that Redis does not take is
/// lost, never the data: counting must not hold up ingest.
/// </summary>
public sealed partial class TenantUsage(IConnectionMultiplexer redis, TimeProvider time, ILogger<TenantUsage> logger)
{
    private static RedisKey Month(DateTimeOffset at) => string.Create(CultureInfo.InvariantCulture, $"aperture:usage:{at:yyyy-MM}");

    /// <summary>Counts stored items, each under its tenant: one Redis call per tenant among them.</summary>
    public async Task AddAsync<T>(IEnumerable<T> stored, Func<T, string> tenantOf, Func<T, long> eventsOf)
    {
        foreach (var tenant in stored.GroupBy(tenantOf, StringComparer.Ordinal))
        {
            await AddAsync(tenant.Key, tenant.Sum(eventsOf));
        }
    }

    public async Task AddAsync(string tenant, long events)
    {
        if (events <= 0)
        {
            return;
        }

        try
        {
            var key = Month(time.GetUtcNow());
            var db = redis.GetDatabase();
            await db.HashIncrementAsync(key, tenant, events);
            // Kept a little over a year, for this month's and last year's comparisons.
            await db.KeyExpireAsync(key, TimeSpan.FromDays(400), ExpireWhen.HasNoExpiry);
        }
        // A refusal, a closed connection or a timeout (RedisTimeoutException is a TimeoutException): the writers
        // that count must go on storing whatever Redis does.
        catch (Exception e) when (e is RedisException or TimeoutException or ObjectDisposedException)
        {
            LogNotCounted(events, e.Message);
        }
    }

    public async Task<IReadOnlyDictionary<string, long>> ThisMonthAsync(IEnumerable<string> tenants)
    {
        var names = tenants.Select(t => (RedisValue)t).ToArray();
        var counts = await redis.GetDatabase().HashGetAsync(Month(time.GetUtcNow()), names);
        var result = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < names.Length; i++)
        {
            result[names[i].ToString()] = counts[i].IsNull ? 0 : (long)counts[i];
        }

        return result;
    }

    [LoggerMessage(EventId = 950, Level = LogLevel.Warning, Message = "{Events} ingested events not counted in the tenant's usage: {Reason}")]
    private partial void LogNotCounted(long events, string reason);
}
