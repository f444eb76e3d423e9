using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Jobs;

/// <summary>The event kinds of jobs-api.md.</summary>
public static class JobEventKinds
{
    public const string Started = "started";
    public const string Progress = "progress";
    public const string Metric = "metric";
    public const string Finished = "finished";
    public const string Error = "error";
    public const string Canceled = "canceled";

    public static readonly string[] All = [Started, Progress, Metric, Finished, Error, Canceled];
}

/// <summary>The status values of jobs-api.md.</summary>
public static class JobStatuses
{
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Canceled = "canceled";

    public static readonly string[] All = [Running, Succeeded, Failed, Canceled];

    public static bool IsTerminal(string status) => status is Succeeded or Failed or Canceled;
}

/// <summary>The metrics every job and subjob collects.</summary>
public static class JobMetricNames
{
    public const string DurationS = "duration_s";
    public const string CpuUserS = "cpu_user_s";
    public const string CpuSystemS = "cpu_system_s";
    public const string MemMaxMb = "mem_max_mb";
}

/// <summary>
/// One validated event, as the state machine and storage take it. <see cref="Tenant"/> is the tenant of the
/// credential that posted it, never a field of the body; a job is known by (tenant, site, type, id).
/// </summary>
public sealed record JobEvent(
    string? IdempotencyKey,
    string SiteId,
    string AppId,
    string AppName,
    string AppVersion,
    string EntityType,
    string EntityId,
    string? ParentId,
    string? BusinessKey,
    string? SubKey,
    string Kind,
    DateTimeOffset At,
    string? Status,
    IReadOnlyDictionary<string, double> Metrics,
    string MetadataJson,
    string Tenant = Tenants.Default)
{
    public const string Job = "job";
    public const string Subjob = "subjob";
}

/// <summary>The wire form of an event (jobs-api.md, POST /v1/ingest/events), before validation.</summary>
public sealed class JobEventJson
{
    [JsonPropertyName("idempotency_key")]
    public string? IdempotencyKey { get; set; }

    [JsonPropertyName("site_id")]
    public string? SiteId { get; set; }

    [JsonPropertyName("app")]
    public AppJson? App { get; set; }

    [JsonPropertyName("entity")]
    public EntityJson? Entity { get; set; }

    [JsonPropertyName("event")]
    public EventJson? Event { get; set; }

    public sealed class AppJson
    {
        [JsonPropertyName("app_id")]
        public string? AppId { get; set; }

        [JsonPropertyName("name")]
        public string? Name { get; set; }

        [JsonPropertyName("version")]
        public string? Version { get; set; }
    }

    public sealed class EntityJson
    {
        [JsonPropertyName("type")]
        public string? Type { get; set; }

        [JsonPropertyName("id")]
        public string? Id { get; set; }

        [JsonPropertyName("parent_id")]
        public string? ParentId { get; set; }

        [JsonPropertyName("business_key")]
        public string? BusinessKey { get; set; }

        [JsonPropertyName("sub_key")]
        public string? SubKey { get; set; }
    }

    public sealed class EventJson
    {
        [JsonPropertyName("kind")]
        public string? Kind { get; set; }

        [JsonPropertyName("at")]
        public string? At { get; set; }

        [JsonPropertyName("status")]
        public string? Status { get; set; }

        [JsonPropertyName("metrics")]
        public Dictionary<string, JsonElement>? Metrics { get; set; }

        [JsonPropertyName("metadata")]
        public JsonElement? Metadata { get; set; }
    }
}

/// <summary>Parses and validates ingest bodies: one event object, or an array of them.</summary>
public static class JobEventParser
{
    public const int MaxIdLength = 256;
    public const int MaxNameLength = 256;
    public const int MaxMetadataBytes = 64 * 1024;
    public const int MaxMetrics = 64;

    /// <summary>The events of <paramref name="body"/>, in <paramref name="tenant"/>; <paramref name="isArray"/> tells which form it had.</summary>
    public static List<JobEvent> Parse(ReadOnlySpan<byte> body, int maxEvents, string tenant, out bool isArray)
    {
        var first = body.TrimStart(" \t\r\n"u8);
        if (first.IsEmpty)
        {
            throw new InvalidRequestException("body", "the body is empty; send one event object or an array of events");
        }

        isArray = first[0] == (byte)'[';
        try
        {
            if (!isArray)
            {
                var single = JsonSerializer.Deserialize(body, JobsJsonContext.Default.JobEventJson) ?? throw new InvalidRequestException("body", "the body must be an event object");
                return [Validate(single, string.Empty, tenant)];
            }

            var many = JsonSerializer.Deserialize(body, JobsJsonContext.Default.ListJobEventJson) ?? [];
            if (many.Count == 0)
            {
                throw new InvalidRequestException("body", "the array holds no events");
            }

            if (many.Count > maxEvents)
            {
                throw new InvalidRequestException("body", $"the array holds {many.Count} events; at most {maxEvents} are taken per request");
            }

            var events = new List<JobEvent>(many.Count);
            for (var i = 0; i < many.Count; i++)
            {
                var prefix = string.Create(CultureInfo.InvariantCulture, $"[{i}].");
                events.Add(Validate(many[i] ?? throw new InvalidRequestException($"[{i}]", $"event {i} is null"), prefix, tenant));
            }

            return events;
        }
        catch (JsonException e)
        {
            var field = e.Path is { Length: > 1 } path ? path.TrimStart('$').TrimStart('.') : "body";
            throw new InvalidRequestException(field.Length > 0 ? field : "body", $"the body is not a valid event or array of events: {e.Message}");
        }
    }

    private static JobEvent Validate(JobEventJson json, string prefix, string tenant)
    {
        var siteId = Required(json.SiteId, prefix + "site_id", MaxIdLength);
        var idempotencyKey = Optional(json.IdempotencyKey, prefix + "idempotency_key", MaxIdLength);
        var app = json.App ?? throw Missing(prefix + "app");
        var appName = Required(app.Name, prefix + "app.name", MaxNameLength);
        var appId = Optional(app.AppId, prefix + "app.app_id", MaxIdLength) ?? string.Empty;
        var appVersion = Optional(app.Version, prefix + "app.version", MaxNameLength) ?? string.Empty;
        var entity = json.Entity ?? throw Missing(prefix + "entity");
        var type = Required(entity.Type, prefix + "entity.type", MaxIdLength);
        if (type is not (JobEvent.Job or JobEvent.Subjob))
        {
            throw new InvalidRequestException(prefix + "entity.type", $"entity.type must be 'job' or 'subjob', not '{type}'");
        }

        var id = Required(entity.Id, prefix + "entity.id", MaxIdLength);
        var parentId = Optional(entity.ParentId, prefix + "entity.parent_id", MaxIdLength);
        if (type == JobEvent.Subjob && parentId is null)
        {
            throw new InvalidRequestException(prefix + "entity.parent_id", "a subjob needs entity.parent_id (its job's id)");
        }

        var businessKey = Optional(entity.BusinessKey, prefix + "entity.business_key", MaxNameLength);
        var subKey = Optional(entity.SubKey, prefix + "entity.sub_key", MaxNameLength);
        var e = json.Event ?? throw Missing(prefix + "event");
        var kind = Required(e.Kind, prefix + "event.kind", MaxIdLength);
        if (Array.IndexOf(JobEventKinds.All, kind) < 0)
        {
            throw new InvalidRequestException(prefix + "event.kind", $"event.kind must be one of {string.Join(", ", JobEventKinds.All)}, not '{kind}'");
        }

        var atText = Required(e.At, prefix + "event.at", 64);
        if (!DateTimeOffset.TryParse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            || at.Year is < 1970 or > 2262)
        {
            throw new InvalidRequestException(prefix + "event.at", $"event.at must be an ISO 8601 timestamp between 1970 and 2262, not '{atText}'");
        }

        var status = Optional(e.Status, prefix + "event.status", MaxIdLength);
        ValidateStatus(kind, status, prefix + "event.status");
        var metrics = ValidateMetrics(e.Metrics, prefix + "event.metrics");
        var metadata = "{}";
        if (e.Metadata is { ValueKind: not JsonValueKind.Null } meta)
        {
            if (meta.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException(prefix + "event.metadata", "event.metadata must be an object");
            }

            metadata = meta.GetRawText();
            if (metadata.Length > MaxMetadataBytes)
            {
                throw new InvalidRequestException(prefix + "event.metadata", $"event.metadata is larger than {MaxMetadataBytes} bytes");
            }
        }

        return new JobEvent(idempotencyKey, siteId, appId, appName, appVersion, type, id, parentId, businessKey, subKey,
            kind, at.ToUniversalTime(), status, metrics, metadata, tenant);
    }

    /// <summary>A status that contradicts the kind is refused rather than guessed at.</summary>
    private static void ValidateStatus(string kind, string? status, string field)
    {
        if (status is null)
        {
            return;
        }

        if (Array.IndexOf(JobStatuses.All, status) < 0)
        {
            throw new InvalidRequestException(field, $"event.status must be one of {string.Join(", ", JobStatuses.All)}, not '{status}'");
        }

        var allowed = kind switch
        {
            JobEventKinds.Finished => status is JobStatuses.Succeeded or JobStatuses.Failed or JobStatuses.Canceled,
            JobEventKinds.Error => status is JobStatuses.Failed or JobStatuses.Running,
            JobEventKinds.Canceled => status is JobStatuses.Canceled,
            _ => status is JobStatuses.Running,
        };
        if (!allowed)
        {
            throw new InvalidRequestException(field, $"event.status '{status}' does not go with event.kind '{kind}'");
        }
    }

    private static Dictionary<string, double> ValidateMetrics(Dictionary<string, JsonElement>? metrics, string field)
    {
        var result = new Dictionary<string, double>(StringComparer.Ordinal);
        if (metrics is null)
        {
            return result;
        }

        if (metrics.Count > MaxMetrics)
        {
            throw new InvalidRequestException(field, $"event.metrics holds more than {MaxMetrics} values");
        }

        foreach (var (name, value) in metrics)
        {
            if (name.Length is 0 or > MaxIdLength)
            {
                throw new InvalidRequestException(field, $"metric names must be 1 to {MaxIdLength} characters");
            }

            if (value.ValueKind == JsonValueKind.Null)
            {
                continue;
            }

            if (value.ValueKind != JsonValueKind.Number || !value.TryGetDouble(out var number) || !double.IsFinite(number) || number < 0)
            {
                throw new InvalidRequestException($"{field}.{name}", $"metric {name} must be a non-negative number");
            }

            result[name] = number;
        }

        return result;
    }

    private static string Required(string? value, string field, int maxLength) =>
        Optional(value, field, maxLength) ?? throw Missing(field);

    private static string? Optional(string? value, string field, int maxLength)
    {
        if (value is null)
        {
            return null;
        }

        if (value.Length == 0)
        {
            throw new InvalidRequestException(field, $"{field} must not be empty");
        }

        return value.Length <= maxLength ? value : throw new InvalidRequestException(field, $"{field} is longer than {maxLength} characters");
    }

    private static InvalidRequestException Missing(string field) => new(field, $"{field} is required");
}
