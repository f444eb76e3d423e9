using System.Text;
using System.Text.Json.Serialization;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>A resolution as stored in the incident memory: validated, trimmed, tags without repeats.</summary>
public sealed record ResolutionRecord(
    string IncidentId,
    string ServiceId,
    string Resolution,
    string ResolvedBy,
    double? TimeToRecoveryMinutes,
    IReadOnlyList<string> Tags)
{
    /// <summary>
    /// What is embedded: the resolution and its tags. The service id is left out on purpose: every incident of
    /// one service would share it and look alike (same-service preference is the store's boost instead).
    /// Tags are kept because they name the cause in the words an operator searches by ("memory-leak").
    /// </summary>
    public string EmbeddingText => Tags.Count == 0 ? Resolution : $"{Resolution} Tags: {string.Join(", ", Tags)}.";
}

/// <summary>
/// The body of <c>POST /api/v1/resolutions/webhook</c> as sent (aiops-api.md); <see cref="ToRecord"/> checks it.
/// </summary>
public sealed record ResolutionWebhookJson(
    [property: JsonPropertyName("incident_id")] string? IncidentId,
    [property: JsonPropertyName("service_id")] string? ServiceId,
    [property: JsonPropertyName("resolution")] string? Resolution,
    [property: JsonPropertyName("resolved_by")] string? ResolvedBy,
    [property: JsonPropertyName("time_to_recovery_minutes")] double? TimeToRecoveryMinutes,
    [property: JsonPropertyName("tags")] IReadOnlyList<string?>? Tags)
{
    /// <summary>A Kubernetes object name's limit (DNS subdomain), which service ids are.</summary>
    public const int MaxServiceIdLength = 253;

    public const int MaxIncidentIdLength = 253;

    /// <summary>Counted in UTF-8 bytes, as it is stored.</summary>
    public const int MaxResolutionBytes = 8 * 1024;

    /// <summary>An email address's limit (RFC 5321 path).</summary>
    public const int MaxResolvedByLength = 320;

    public const int MaxTags = 32;

    public const int MaxTagLength = 64;

    /// <summary>Checks every field, naming the first that is wrong.</summary>
    /// <exception cref="InvalidRequestException">A field is missing, too long or out of range.</exception>
    public ResolutionRecord ToRecord()
    {
        var serviceId = Text(ServiceId, "service_id", MaxServiceIdLength, required: true);
        var incidentId = Text(IncidentId, "incident_id", MaxIncidentIdLength, required: false);
        var resolvedBy = Text(ResolvedBy, "resolved_by", MaxResolvedByLength, required: false);

        var resolution = Resolution?.Trim() ?? string.Empty;
        if (resolution.Length == 0)
        {
            throw new InvalidRequestException("resolution", "resolution is required");
        }

        if (Encoding.UTF8.GetByteCount(resolution) > MaxResolutionBytes)
        {
            throw new InvalidRequestException("resolution", $"resolution is at most {MaxResolutionBytes} bytes (UTF-8)");
        }

        if (TimeToRecoveryMinutes is { } minutes && (!double.IsFinite(minutes) || minutes < 0))
        {
            throw new InvalidRequestException("time_to_recovery_minutes", "time_to_recovery_minutes must be a finite number of at least 0");
        }

        var tags = new List<string>();
        if (Tags is not null)
        {
            if (Tags.Count > MaxTags)
            {
                throw new InvalidRequestException("tags", $"tags holds at most {MaxTags} tags");
            }

            foreach (var tag in Tags)
            {
                var value = Text(tag, "tags", MaxTagLength, required: true, what: "each tag");
                if (!tags.Contains(value, StringComparer.Ordinal))
                {
                    tags.Add(value);
                }
            }
        }

        return new ResolutionRecord(incidentId, serviceId, resolution, resolvedBy, TimeToRecoveryMinutes, tags);
    }

    private static string Text(string? value, string field, int maxLength, bool required, string? what = null)
    {
        what ??= field;
        var trimmed = value?.Trim() ?? string.Empty;
        if (trimmed.Length == 0)
        {
            return required ? throw new InvalidRequestException(field, $"{what} is required and at most {maxLength} characters") : trimmed;
        }

        if (trimmed.Length > maxLength)
        {
            throw new InvalidRequestException(field, $"{what} is at most {maxLength} characters");
        }

        // Ids and tags are shown and matched as one line; a control character in one is a client's bug.
        if (trimmed.Any(char.IsControl))
        {
            throw new InvalidRequestException(field, $"{what} must not contain control characters");
        }

        return trimmed;
    }
}
