using System.Text.Json.Serialization;

namespace Aperture.Runtime.Watchdog;

/// <summary>Where an anomaly came from.</summary>
public static class AnomalySources
{
    public const string Detector = "detector";
    public const string Alertmanager = "alertmanager";
}

/// <summary>An anomaly as stored: one version of it (a change is a new version).</summary>
public sealed record AnomalyRecord(
    string Tenant,
    string AnomalyId,
    string Source,
    string ServiceId,
    string MetricName,
    string Labels,
    double AnomalyScore,
    double ZScore,
    double Value,
    double Expected,
    long DetectedAtMs,
    long ObservedAtMs,
    bool Resolved,
    long? ResolvedAtMs,
    bool RcaTriggered,
    AnomalyDetails Details);

/// <summary>What the watchdog learnt of an anomaly after it opened; stored as JSON beside it.</summary>
public sealed record AnomalyDetails
{
    [JsonPropertyName("causes")]
    public IReadOnlyList<CauseJson>? Causes { get; init; }

    [JsonPropertyName("similar_incidents")]
    public IReadOnlyList<SimilarIncidentJson>? SimilarIncidents { get; init; }

    [JsonPropertyName("summary")]
    public string? Summary { get; init; }

    [JsonPropertyName("rca_error")]
    public string? RcaError { get; init; }

    [JsonPropertyName("alert")]
    public AlertJson? Alert { get; init; }
}

public sealed record CauseJson(
    [property: JsonPropertyName("service_id")] string ServiceId,
    [property: JsonPropertyName("metric_name")] string MetricName,
    [property: JsonPropertyName("score")] double Score,
    [property: JsonPropertyName("lag_minutes")] int LagMinutes,
    [property: JsonPropertyName("evidence")] IReadOnlyList<string> Evidence)
{
    /// <summary>For a server's series: its bottleneck class around the onset (from the Site).</summary>
    [JsonPropertyName("server_bottleneck")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public ServerBottleneckJson? Bottleneck { get; init; }

    /// <summary>For a profiled workload's series: the stacks whose share grew most from the onset (the Site's profile diff).</summary>
    [JsonPropertyName("profile_changes")]
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<StackChangeJson>? ProfileChanges { get; init; }
}

public sealed record SimilarIncidentJson(
    [property: JsonPropertyName("knowledge_base_id")] string KnowledgeBaseId,
    [property: JsonPropertyName("incident_id")] string IncidentId,
    [property: JsonPropertyName("service_id")] string ServiceId,
    [property: JsonPropertyName("resolution")] string Resolution,
    [property: JsonPropertyName("tags")] IReadOnlyList<string> Tags,
    [property: JsonPropertyName("score")] double Score);

/// <summary>The Alertmanager alert an anomaly stands for.</summary>
public sealed record AlertJson(
    [property: JsonPropertyName("fingerprint")] string Fingerprint,
    [property: JsonPropertyName("starts_at")] DateTimeOffset StartsAt,
    [property: JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: JsonPropertyName("annotations")] IReadOnlyDictionary<string, string> Annotations,
    [property: JsonPropertyName("group_key")] string? GroupKey);
