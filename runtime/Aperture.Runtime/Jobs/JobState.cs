using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Aperture.Runtime.Jobs;

/// <summary>
/// A job's or subjob's state, folded from its events in the order of <c>event.at</c> (ties: arrival
/// order), so that the same events give the same state whatever order they arrive in:
/// <list type="bullet">
/// <item><c>started</c>: status <c>running</c>; <c>started_at</c> is the earliest started event.</item>
/// <item><c>progress</c>, <c>metric</c>: update metrics and metadata; the status stays as it is.</item>
/// <item><c>finished</c>: the event's status (succeeded, failed or canceled), <c>succeeded</c> when it gives none.</item>
/// <item><c>error</c>: <c>failed</c>, unless the event says <c>status: running</c> (an error the job survived;
/// its metrics and metadata are recorded and the job keeps running).</item>
/// <item><c>canceled</c>: <c>canceled</c>.</item>
/// </list>
/// The first terminal event in time ends the job (<c>ended_at</c>); an event timestamped after it is
/// ignored (counted as late), so a terminal job is never reopened. An event timestamped before it
/// that arrives late is still folded in (its metrics count when no later value exists). A metric
/// keeps the value of the latest event carrying it, except <c>mem_max_mb</c>, which keeps the peak;
/// metadata merges key by key, later events winning. <c>duration_s</c> is the reported value, or
/// <c>ended_at - started_at</c> once the job ended.
/// </summary>
public sealed class JobState
{
    /// <summary>Absent from states stored before jobs had tenants: those are the default tenant's.</summary>
    [JsonPropertyName("tenant")]
    public string Tenant { get; set; } = Platform.Tenants.Default;

    [JsonPropertyName("site")]
    public string SiteId { get; set; } = string.Empty;

    [JsonPropertyName("type")]
    public string EntityType { get; set; } = JobEvent.Job;

    [JsonPropertyName("id")]
    public string JobId { get; set; } = string.Empty;

    [JsonPropertyName("parent")]
    public string? ParentId { get; set; }

    [JsonPropertyName("app_id")]
    public string AppId { get; set; } = string.Empty;

    [JsonPropertyName("app_name")]
    public string AppName { get; set; } = string.Empty;

    [JsonPropertyName("app_version")]
    public string AppVersion { get; set; } = string.Empty;

    [JsonPropertyName("key")]
    public string? JobKey { get; set; }

    [JsonPropertyName("sub_key")]
    public string? SubKey { get; set; }

    /// <summary>When the identifying fields above were last taken, so an older event does not overwrite them.</summary>
    [JsonPropertyName("ident_at")]
    public long IdentityAtMs { get; set; } = long.MinValue;

    [JsonPropertyName("status")]
    public string Status { get; set; } = JobStatuses.Running;

    [JsonPropertyName("started")]
    public long? StartedAtMs { get; set; }

    [JsonPropertyName("first")]
    public long FirstAtMs { get; set; } = long.MaxValue;

    [JsonPropertyName("ended")]
    public long? EndedAtMs { get; set; }

    [JsonPropertyName("metrics")]
    public Dictionary<string, StampedValue> Metrics { get; set; } = new(StringComparer.Ordinal);

    [JsonPropertyName("metadata")]
    public Dictionary<string, StampedJson> Metadata { get; set; } = new(StringComparer.Ordinal);

    [JsonPropertyName("inserted")]
    public long InsertedAtMs { get; set; }

    /// <summary>Grows with every change; the ReplacingMergeTree keeps the row with the highest.</summary>
    [JsonPropertyName("version")]
    public ulong Version { get; set; }

    public sealed record StampedValue(double Value, long AtMs);

    public sealed record StampedJson(string Json, long AtMs);

    [JsonIgnore]
    public bool IsTerminal => EndedAtMs is not null;

    public static JobState Create(JobEvent e, long receivedAtMs) => new()
    {
        Tenant = e.Tenant,
        SiteId = e.SiteId,
        EntityType = e.EntityType,
        JobId = e.EntityId,
        InsertedAtMs = receivedAtMs,
    };

    /// <summary>The status an event of this kind leads to, or null when it leaves the status alone.</summary>
    public static string? ResultingStatus(JobEvent e) => e.Kind switch
    {
        JobEventKinds.Started => JobStatuses.Running,
        JobEventKinds.Finished => e.Status ?? JobStatuses.Succeeded,
        JobEventKinds.Error => e.Status ?? JobStatuses.Failed,
        JobEventKinds.Canceled => JobStatuses.Canceled,
        _ => null,
    };

    /// <returns>False when the event came after the job's end and was ignored.</returns>
    public bool Apply(JobEvent e)
    {
        var at = e.At.ToUnixTimeMilliseconds();
        if (EndedAtMs is { } ended && at > ended)
        {
            return false;
        }

        FirstAtMs = Math.Min(FirstAtMs, at);
        if (at >= IdentityAtMs)
        {
            IdentityAtMs = at;
            AppId = e.AppId.Length > 0 ? e.AppId : AppId;
            AppName = e.AppName;
            AppVersion = e.AppVersion.Length > 0 ? e.AppVersion : AppVersion;
            ParentId = e.ParentId ?? ParentId;
            JobKey = e.BusinessKey ?? JobKey;
            SubKey = e.SubKey ?? SubKey;
        }

        if (e.Kind == JobEventKinds.Started)
        {
            StartedAtMs = StartedAtMs is { } started ? Math.Min(started, at) : at;
        }

        if (ResultingStatus(e) is { } status && JobStatuses.IsTerminal(status) && (EndedAtMs is null || at < EndedAtMs))
        {
            Status = status;
            EndedAtMs = at;
        }

        foreach (var (name, value) in e.Metrics)
        {
            if (!Metrics.TryGetValue(name, out var current))
            {
                Metrics[name] = new StampedValue(value, at);
            }
            else if (name == JobMetricNames.MemMaxMb ? value > current.Value : at >= current.AtMs)
            {
                Metrics[name] = new StampedValue(value, Math.Max(at, current.AtMs));
            }
        }

        if (e.MetadataJson.Length > 2)
        {
            using var metadata = JsonDocument.Parse(e.MetadataJson);
            foreach (var property in metadata.RootElement.EnumerateObject())
            {
                if (!Metadata.TryGetValue(property.Name, out var current) || at >= current.AtMs)
                {
                    Metadata[property.Name] = new StampedJson(property.Value.GetRawText(), at);
                }
            }
        }

        Version++;
        return true;
    }

    public long? EffectiveStartedAtMs => StartedAtMs ?? (FirstAtMs == long.MaxValue ? null : FirstAtMs);

    public double? Metric(string name) => Metrics.TryGetValue(name, out var value) ? value.Value : null;

    public double? DurationS =>
        Metric(JobMetricNames.DurationS)
        ?? (EndedAtMs is { } ended && EffectiveStartedAtMs is { } started ? Math.Max(0, ended - started) / 1000.0 : null);

    /// <summary>The merged metadata as one JSON object.</summary>
    public string MetadataJson()
    {
        if (Metadata.Count == 0)
        {
            return "{}";
        }

        var json = new StringBuilder("{");
        foreach (var (name, value) in Metadata.OrderBy(m => m.Key, StringComparer.Ordinal))
        {
            if (json.Length > 1)
            {
                json.Append(',');
            }

            json.Append(JsonSerializer.Serialize(name)).Append(':').Append(value.Json);
        }

        return json.Append('}').ToString();
    }
}

/// <summary>Source-generated JSON for the hot paths: the fold record written with every state change, and ingest bodies.</summary>
[JsonSerializable(typeof(JobState))]
[JsonSerializable(typeof(JobEventJson))]
[JsonSerializable(typeof(List<JobEventJson?>))]
internal sealed partial class JobsJsonContext : JsonSerializerContext;
