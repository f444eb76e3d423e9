using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>An alert rule of a Site's aggregator.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "AlertRule", PluralName = "alertrules")]
[ResourceNames("alertrules", "apalert")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Metric", "string", ".spec.metric")]
[PrinterColumn("Operator", "string", ".spec.operator")]
[PrinterColumn("Threshold", "number", ".spec.threshold")]
[PrinterColumn("Severity", "string", ".spec.severity")]
[PrinterColumn("Rule", "string", ".status.ruleId", Priority = 1)]
[Description("An alert rule, registered with the Site's runtime and rendered into its alert ConfigMap.")]
public sealed class AlertRule : ApertureResource<AlertRuleSpec, AlertRuleStatus>
{
    public AlertRule() => Kind = "AlertRule";
}

public sealed class AlertRuleSpec
{
    [JsonPropertyName("siteRef")]
    [RequiredField]
    public NamedReference SiteRef { get; set; } = new();

    [JsonPropertyName("name")]
    [Length(1, 200)]
    [Description("The rule's name in messages; the resource's name when empty.")]
    public string? Name { get; set; }

    [JsonPropertyName("metric")]
    [RequiredField]
    public AlertMetric Metric { get; set; }

    [JsonPropertyName("operator")]
    [RequiredField]
    public AlertOperator Operator { get; set; }

    [JsonPropertyName("threshold")]
    [RequiredField]
    public double Threshold { get; set; }

    [JsonPropertyName("severity")]
    [RequiredField]
    public AlertSeverity Severity { get; set; } = AlertSeverity.Warning;

    [JsonPropertyName("for")]
    [Pattern(Names.Duration)]
    [Description("How long the condition must hold before the alert fires (e.g. 5m); at once when empty.")]
    public string? For { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<AlertMetric>))]
public enum AlertMetric
{
    [JsonStringEnumMemberName("buffer_utilization")]
    BufferUtilization,
    [JsonStringEnumMemberName("push_error_rate")]
    PushErrorRate,
    [JsonStringEnumMemberName("push_errors_total")]
    PushErrorsTotal,
    [JsonStringEnumMemberName("clickhouse_flush_errors")]
    ClickHouseFlushErrors,
    [JsonStringEnumMemberName("clickhouse_pending_rows")]
    ClickHousePendingRows,
    [JsonStringEnumMemberName("event_throughput")]
    EventThroughput,
}

[JsonConverter(typeof(JsonStringEnumConverter<AlertOperator>))]
public enum AlertOperator
{
    [JsonStringEnumMemberName("gt")]
    Gt,
    [JsonStringEnumMemberName("gte")]
    Gte,
    [JsonStringEnumMemberName("lt")]
    Lt,
    [JsonStringEnumMemberName("lte")]
    Lte,
    [JsonStringEnumMemberName("eq")]
    Eq,
}

[JsonConverter(typeof(JsonStringEnumConverter<AlertSeverity>))]
public enum AlertSeverity
{
    [JsonStringEnumMemberName("info")]
    Info,
    [JsonStringEnumMemberName("warning")]
    Warning,
    [JsonStringEnumMemberName("critical")]
    Critical,
}

public sealed class AlertRuleStatus : ResourceStatus
{
    [JsonPropertyName("ruleId")]
    [Description("The rule's id in the Site's runtime (alert-N).")]
    public string? RuleId { get; set; }
}
