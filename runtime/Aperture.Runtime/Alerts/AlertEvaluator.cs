using Aperture.Runtime.Profiling;

namespace Aperture.Runtime.Alerts;

/// <summary>Evaluates the enabled rules against a snapshot of this aggregator's metrics.</summary>
public sealed class AlertEvaluator(AlertRuleStore rules, ProfileBuffer buffer, AggregatorStats stats, TimeProvider time)
{
    public IReadOnlyDictionary<string, double> Snapshot() => new SortedDictionary<string, double>(StringComparer.Ordinal)
    {
        ["buffer_utilization"] = buffer.Utilization,
        ["push_error_rate"] = stats.PushErrorRate,
        ["push_errors_total"] = stats.PushError,
        ["clickhouse_flush_errors"] = stats.FlushError,
        ["clickhouse_pending_rows"] = stats.PendingRows,
        ["event_throughput"] = stats.EventThroughput,
    };

    /// <summary>The tenant's rules; the metrics are the aggregator's own, which every tenant's rules watch.</summary>
    public async Task<EvaluationJson> EvaluateAsync(string tenant)
    {
        var snapshot = Snapshot();
        var now = time.GetUtcNow().ToUnixTimeSeconds();
        var fired = new List<FiredAlert>();
        foreach (var rule in await rules.ListAsync(tenant))
        {
            if (!rule.Enabled || !snapshot.TryGetValue(rule.Metric, out var value) || !AlertVocabulary.Holds(rule.Operator, value, rule.Threshold))
            {
                continue;
            }

            var message = $"{rule.Name}: {AlertVocabulary.DisplayName(rule.Metric)} {AlertVocabulary.Symbol(rule.Operator)} " +
                $"{AlertVocabulary.Format(rule.Threshold)} (current: {AlertVocabulary.Format(value)})";
            fired.Add(new FiredAlert(rule.Id, rule.Name, rule.Severity, rule.Metric, value, rule.Threshold, rule.Operator, message, now));
        }

        return new EvaluationJson(fired, snapshot);
    }
}
