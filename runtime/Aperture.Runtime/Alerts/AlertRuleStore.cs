using Aperture.Runtime.Platform;
using System.Globalization;
using System.Text.Json;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Alerts;

/// <summary>
/// Alert rules and fired-alert history in Redis, so they survive restarts and are shared by an
/// aggregator's replicas. Ids are <c>alert-N</c> from a Redis counter.
/// </summary>
public sealed class AlertRuleStore(IConnectionMultiplexer redis, TimeProvider time)
{
    private const int HistoryLimit = 1000;
    private static readonly string Prefix = $"aperture:{Tenants.Default}:alerts";
    private static readonly RedisKey Rules = $"{Prefix}:rules";
    private static readonly RedisKey NextId = $"{Prefix}:next_id";
    private static readonly RedisKey History = $"{Prefix}:history";
    private static readonly RedisKey Firing = $"{Prefix}:firing";

    private IDatabase Db => redis.GetDatabase();

    public async Task<AlertRule> CreateAsync(CreateAlertJson request)
    {
        var id = $"alert-{(await Db.StringIncrementAsync(NextId)).ToString(CultureInfo.InvariantCulture)}";
        var rule = new AlertRule(id, request.Name!, request.Metric!, request.Operator!, request.Threshold!.Value, request.Severity!, true,
            time.GetUtcNow().ToUnixTimeSeconds());
        await Db.HashSetAsync(Rules, id, JsonSerializer.Serialize(rule));
        return rule;
    }

    public async Task<IReadOnlyList<AlertRule>> ListAsync()
    {
        var entries = await Db.HashGetAllAsync(Rules);
        return entries
            .Select(e => JsonSerializer.Deserialize<AlertRule>(e.Value.ToString())!)
            .OrderBy(r => int.Parse(r.Id.AsSpan("alert-".Length), CultureInfo.InvariantCulture))
            .ToList();
    }

    public async Task<bool> DeleteAsync(string id)
    {
        await Db.SetRemoveAsync(Firing, id);
        return await Db.HashDeleteAsync(Rules, id);
    }

    /// <returns>The rule after the toggle, or null when there is none with that id.</returns>
    public async Task<AlertRule?> ToggleAsync(string id)
    {
        var json = await Db.HashGetAsync(Rules, id);
        if (json.IsNull)
        {
            return null;
        }

        var rule = JsonSerializer.Deserialize<AlertRule>(json.ToString())!;
        var toggled = rule with { Enabled = !rule.Enabled };
        await Db.HashSetAsync(Rules, id, JsonSerializer.Serialize(toggled));
        return toggled;
    }

    public async Task RecordAsync(IEnumerable<FiredAlert> fired)
    {
        var values = fired.Select(f => (RedisValue)JsonSerializer.Serialize(f)).ToArray();
        if (values.Length == 0)
        {
            return;
        }

        await Db.ListLeftPushAsync(History, values);
        await Db.ListTrimAsync(History, 0, HistoryLimit - 1);
    }

    /// <summary>Fired alerts, newest first.</summary>
    public async Task<IReadOnlyList<FiredAlert>> HistoryAsync(int limit)
    {
        var values = await Db.ListRangeAsync(History, 0, limit - 1);
        return values.Select(v => JsonSerializer.Deserialize<FiredAlert>(v.ToString())!).ToList();
    }

    /// <summary>Records which rules fire now; returns those that were not firing at the last evaluation.</summary>
    public async Task<IReadOnlyList<FiredAlert>> TransitionsAsync(IReadOnlyList<FiredAlert> firingNow)
    {
        var before = (await Db.SetMembersAsync(Firing)).Select(v => v.ToString()).ToHashSet(StringComparer.Ordinal);
        var transaction = Db.CreateTransaction();
        _ = transaction.KeyDeleteAsync(Firing);
        if (firingNow.Count > 0)
        {
            _ = transaction.SetAddAsync(Firing, firingNow.Select(f => (RedisValue)f.RuleId).ToArray());
        }

        await transaction.ExecuteAsync();
        return firingNow.Where(f => !before.Contains(f.RuleId)).ToList();
    }
}
