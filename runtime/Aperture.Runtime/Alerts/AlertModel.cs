using System.Globalization;
using System.Text.Json.Serialization;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Alerts;

/// <summary>The aggregator metrics a rule can watch, operators and severities (aggregator-api.md).</summary>
public static class AlertVocabulary
{
    public static readonly string[] Metrics =
        ["buffer_utilization", "push_error_rate", "push_errors_total", "clickhouse_flush_errors", "clickhouse_pending_rows", "event_throughput"];

    public static readonly string[] Operators = ["gt", "gte", "lt", "lte", "eq"];

    public static readonly string[] Severities = ["info", "warning", "critical"];

    public static string Symbol(string op) => op switch
    {
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        _ => "==",
    };

    public static bool Holds(string op, double value, double threshold) => op switch
    {
        "gt" => value > threshold,
        "gte" => value >= threshold,
        "lt" => value < threshold,
        "lte" => value <= threshold,
        // Metrics are floating point: equality within a relative 1e-9 (an exact 0 stays exact).
        _ => Math.Abs(value - threshold) <= 1e-9 * Math.Max(Math.Abs(value), Math.Abs(threshold)),
    };

    /// <summary>"buffer_utilization" reads "Buffer Utilization" in messages.</summary>
    public static string DisplayName(string metric) =>
        string.Join(' ', metric.Split('_').Select(w => w.Length == 0 ? w : char.ToUpperInvariant(w[0]) + w[1..]));

    public static string Format(double value) => value.ToString("0.############", CultureInfo.InvariantCulture);
}

public sealed record AlertRule(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("operator")] string Operator,
    [property: JsonPropertyName("threshold")] double Threshold,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("enabled")] bool Enabled,
    [property: JsonPropertyName("created_at")] long CreatedAt);

public sealed record CreateAlertJson(
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("metric")] string? Metric,
    [property: JsonPropertyName("operator")] string? Operator,
    [property: JsonPropertyName("threshold")] double? Threshold,
    [property: JsonPropertyName("severity")] string? Severity)
{
    private const int MaxNameLength = 200;

    /// <summary>Checks every field, naming the first that is wrong.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(Name) || Name.Length > MaxNameLength)
        {
            throw new InvalidRequestException("name", $"name is required and at most {MaxNameLength} characters");
        }

        if (Metric is null || !AlertVocabulary.Metrics.Contains(Metric))
        {
            throw new InvalidRequestException("metric", $"metric must be one of {string.Join(", ", AlertVocabulary.Metrics)}");
        }

        if (Operator is null || !AlertVocabulary.Operators.Contains(Operator))
        {
            throw new InvalidRequestException("operator", $"operator must be one of {string.Join(", ", AlertVocabulary.Operators)}");
        }

        if (Threshold is null || !double.IsFinite(Threshold.Value))
        {
            throw new InvalidRequestException("threshold", "threshold must be a finite number");
        }

        if (Severity is null || !AlertVocabulary.Severities.Contains(Severity))
        {
            throw new InvalidRequestException("severity", $"severity must be one of {string.Join(", ", AlertVocabulary.Severities)}");
        }
    }
}

public sealed record FiredAlert(
    [property: JsonPropertyName("rule_id")] string RuleId,
    [property: JsonPropertyName("rule_name")] string RuleName,
    [property: JsonPropertyName("severity")] string Severity,
    [property: JsonPropertyName("metric")] string Metric,
    [property: JsonPropertyName("value")] double Value,
    [property: JsonPropertyName("threshold")] double Threshold,
    [property: JsonPropertyName("operator")] string Operator,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("fired_at")] long FiredAt);

public sealed record EvaluationJson(
    [property: JsonPropertyName("fired")] IReadOnlyList<FiredAlert> Fired,
    [property: JsonPropertyName("snapshot")] IReadOnlyDictionary<string, double> Snapshot);
