using System.Globalization;
using System.Text.Json;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Alerts;

/// <summary>
/// Alert rules and fired-alert history in Redis, per tenant, so they survive restarts and are shared by an
/// aggregator's replicas. Ids are <c>alert-N</c> from a tenant's Redis counter.
/// </summary>
public sealed class AlertRuleStore(IConnectionMultiplexer redis, TimeProvider time)
{
    private const int HistoryLimit = 1000;

    /// <summary>The tenants that have rules, for the background evaluation.</summary>
    private static readonly RedisKey TenantsWithRules = "aperture:alerts:tenants";

    private IDatabase Db => redis.GetDatabase();

    private static string Prefix(string tenant) => $"aperture:{tenant}:alerts";

    private static RedisKey Rules(string tenant) => $"{Prefix(tenant)}:rules";

    private static RedisKey NextId(string tenant) => $"{Prefix(tenant)}:next_id";

    private static RedisKey History(string tenant) => $"{Prefix(tenant)}:history";

    private static RedisKey Firing(string tenant) => $"{Prefix(tenant)}:firing";

    /// <summary>Every tenant with rules; the rules written before tenants existed are default's, which is always looked at.</summary>
    public async Task<IReadOnlyList<string>> TenantsAsync() =>
        [.. (await Db.SetMembersAsync(TenantsWithRules)).Select(v => v.ToString()).Append(Tenants.Default).Distinct(StringComparer.Ordinal)];

    public async Task<AlertRule> CreateAsync(string tenant, CreateAlertJson request)
    {
        await Db.SetAddAsync(TenantsWithRules, tenant);
        var id = $"alert-{(await Db.StringIncrementAsync(NextId(tenant))).ToString(CultureInfo.InvariantCulture)}";
        var rule = new AlertRule(id, request.Name!, request.Metric!, request.Operator!, request.Threshold!.Value, request.Severity!, true,
            time.GetUtcNow().ToUnixTimeSeconds());
        await Db.HashSetAsync(Rules(tenant), id, JsonSerializer.Serialize(rule));
        return rule;
    }

    public async Task<IReadOnlyList<AlertRule>> ListAsync(string tenant)
    {
        var entries = await Db.HashGetAllAsync(Rules(tenant));
        return entries
            .Select(e => JsonSerializer.Deserialize<AlertRule>(e.Value.ToString())!)
            .OrderBy(r => int.Parse(r.Id.AsSpan("alert-".Length), CultureInfo.InvariantCulture))
            .ToList();
    }

    public async Task<bool> DeleteAsync(string tenant, string id)
    {
        await Db.SetRemoveAsync(Firing(tenant), id);
        return await Db.HashDeleteAsync(Rules(tenant), id);
    }

    /// <returns>The rule after the toggle, or null when there is none with that id.</returns>
    public async Task<AlertRule?> ToggleAsync(string tenant, string id)
    {
        var json = await Db.HashGetAsync(Rules(tenant), id);
        if (json.IsNull)
        {
            return null;
        }

        var rule = JsonSerializer.Deserialize<AlertRule>(json.ToString())!;
        var toggled = rule with { Enabled = !rule.Enabled };
        await Db.HashSetAsync(Rules(tenant), id, JsonSerializer.Serialize(toggled));
        return toggled;
    }

    public async Task RecordAsync(string tenant, IEnumerable<FiredAlert> fired)
    {
        var values = fired.Select(f => (RedisValue)JsonSerializer.Serialize(f)).ToArray();
        if (values.Length == 0)
        {
            return;
        }

        await Db.ListLeftPushAsync(History(tenant), values);
        await Db.ListTrimAsync(History(tenant), 0, HistoryLimit - 1);
    }

    /// <summary>Fired alerts, newest first.</summary>
    public async Task<IReadOnlyList<FiredAlert>> HistoryAsync(string tenant, int limit)
    {
        var values = await Db.ListRangeAsync(History(tenant), 0, limit - 1);
        return values.Select(v => JsonSerializer.Deserialize<FiredAlert>(v.ToString())!).ToList();
    }

    /// <summary>Records which rules fire now; returns those that were not firing at the last evaluation.</summary>
    public async Task<IReadOnlyList<FiredAlert>> TransitionsAsync(string tenant, IReadOnlyList<FiredAlert> firingNow)
    {
        var before = (await Db.SetMembersAsync(Firing(tenant))).Select(v => v.ToString()).ToHashSet(StringComparer.Ordinal);
        var transaction = Db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(Firing(tenant));
        if (firingNow.Count > 0)
        {
            _ = transaction.SetAddAsync(Firing(tenant), firingNow.Select(f => (RedisValue)f.RuleId).ToArray());
        }

        await transaction.ExecuteAsync();
        return firingNow.Where(f => !before.Contains(f.RuleId)).ToList();
    }
}
