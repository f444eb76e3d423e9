using System.Globalization;
using System.Text.Json;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Watchdog.Ingest;

/// <summary>One alert of an Alertmanager webhook notification.</summary>
/// <param name="EndsAt">Null while Alertmanager does not know the end (it sends 0001-01-01T00:00:00Z).</param>
public sealed record AlertmanagerAlert(
    string Status,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyDictionary<string, string> Annotations,
    DateTimeOffset StartsAt,
    DateTimeOffset? EndsAt,
    string GeneratorUrl,
    string Fingerprint)
{
    public bool IsResolved => Status == AlertmanagerPayload.Resolved;
}

/// <summary>An Alertmanager webhook notification (payload version 4).</summary>
public sealed record AlertmanagerNotification(
    string Version,
    string GroupKey,
    int TruncatedAlerts,
    string Status,
    string Receiver,
    IReadOnlyDictionary<string, string> GroupLabels,
    IReadOnlyDictionary<string, string> CommonLabels,
    IReadOnlyDictionary<string, string> CommonAnnotations,
    string ExternalUrl,
    IReadOnlyList<AlertmanagerAlert> Alerts);

/// <summary>Parses and validates the JSON Alertmanager's webhook receiver posts.</summary>
public static class AlertmanagerPayload
{
    /// <summary>The largest body the webhook reads; Alertmanager's max_alerts keeps real ones far below.</summary>
    public const int MaxBodyBytes = 1024 * 1024;

    public const string SupportedVersion = "4";

    public const string Firing = "firing";

    public const string Resolved = "resolved";

    /// <exception cref="InvalidRequestException">Not JSON, or not a version 4 notification.</exception>
    public static AlertmanagerNotification Parse(ReadOnlySpan<byte> utf8Json)
    {
        if (utf8Json.Length > MaxBodyBytes)
        {
            throw new InvalidRequestException("body", $"the notification is {utf8Json.Length} bytes, over the {MaxBodyBytes}-byte limit");
        }

        JsonDocument document;
        try
        {
            var reader = new Utf8JsonReader(utf8Json, new JsonReaderOptions { MaxDepth = 16 });
            document = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("body", $"the notification is not JSON: {e.Message}");
        }

        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException("body", "the notification is not a JSON object");
            }

            var version = OptionalString(root, "version", "version") ?? SupportedVersion;
            if (version != SupportedVersion)
            {
                throw new InvalidRequestException("version", $"the notification is version '{version}'; this webhook reads Alertmanager's version {SupportedVersion}");
            }

            if (!root.TryGetProperty("alerts", out var alertsElement) || alertsElement.ValueKind != JsonValueKind.Array)
            {
                throw new InvalidRequestException("alerts", "the notification has no alerts array");
            }

            var alerts = new List<AlertmanagerAlert>(alertsElement.GetArrayLength());
            var index = 0;
            foreach (var alert in alertsElement.EnumerateArray())
            {
                alerts.Add(ParseAlert(alert, $"alerts[{index++}]"));
            }

            var truncated = 0;
            if (root.TryGetProperty("truncatedAlerts", out var truncatedElement) && truncatedElement.ValueKind != JsonValueKind.Null
                && (truncatedElement.ValueKind != JsonValueKind.Number || !truncatedElement.TryGetInt32(out truncated) || truncated < 0))
            {
                throw new InvalidRequestException("truncatedAlerts", "truncatedAlerts must be a non-negative integer");
            }

            return new AlertmanagerNotification(
                version,
                OptionalString(root, "groupKey", "groupKey") ?? string.Empty,
                truncated,
                Status(root, "status", fallback: alerts.Any(a => !a.IsResolved) || alerts.Count == 0 ? Firing : Resolved),
                OptionalString(root, "receiver", "receiver") ?? string.Empty,
                StringMap(root, "groupLabels", "groupLabels"),
                StringMap(root, "commonLabels", "commonLabels"),
                StringMap(root, "commonAnnotations", "commonAnnotations"),
                OptionalString(root, "externalURL", "externalURL") ?? string.Empty,
                alerts);
        }
    }

    private static AlertmanagerAlert ParseAlert(JsonElement alert, string path)
    {
        if (alert.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidRequestException(path, $"{path} is not an object");
        }

        var status = Status(alert, $"{path}.status", fallback: null);
        var startsAt = OptionalTime(alert, "startsAt", $"{path}.startsAt")
            ?? throw new InvalidRequestException($"{path}.startsAt", $"{path} has no startsAt");
        var endsAt = OptionalTime(alert, "endsAt", $"{path}.endsAt");
        if (endsAt is { } end && end < startsAt)
        {
            throw new InvalidRequestException($"{path}.endsAt", $"{path} ends before it starts");
        }

        // The fingerprint is what makes repeats idempotent: without it a repeat would look like a new alert.
        var fingerprint = OptionalString(alert, "fingerprint", $"{path}.fingerprint");
        if (string.IsNullOrEmpty(fingerprint))
        {
            throw new InvalidRequestException($"{path}.fingerprint", $"{path} has no fingerprint");
        }

        return new AlertmanagerAlert(
            status,
            StringMap(alert, "labels", $"{path}.labels"),
            StringMap(alert, "annotations", $"{path}.annotations"),
            startsAt,
            endsAt,
            OptionalString(alert, "generatorURL", $"{path}.generatorURL") ?? string.Empty,
            fingerprint);
    }

    private static string Status(JsonElement element, string path, string? fallback)
    {
        var status = OptionalString(element, "status", path) ?? fallback
            ?? throw new InvalidRequestException(path, $"{path} is missing");
        return status is Firing or Resolved
            ? status
            : throw new InvalidRequestException(path, $"{path} is '{status}', not {Firing} or {Resolved}");
    }

    private static string? OptionalString(JsonElement element, string name, string path)
    {
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : throw new InvalidRequestException(path, $"{path} must be a string");
    }

    private static Dictionary<string, string> StringMap(JsonElement element, string name, string path)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        if (!element.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return map;
        }

        if (value.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidRequestException(path, $"{path} must be an object of strings");
        }

        foreach (var property in value.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw new InvalidRequestException($"{path}.{property.Name}", $"{path}.{property.Name} must be a string");
            }

            map[property.Name] = property.Value.GetString()!;
        }

        return map;
    }

    private static DateTimeOffset? OptionalTime(JsonElement element, string name, string path)
    {
        var text = OptionalString(element, name, path);
        if (text is null)
        {
            return null;
        }

        var time = ParseRfc3339(text) ?? throw new InvalidRequestException(path, $"{path} is '{text}', not an RFC 3339 time");
        // Go's zero time.Time: Alertmanager's way of saying the end is not known yet.
        return time.Year <= 1 ? null : time;
    }

    /// <summary>RFC 3339 as Go writes it: up to nine fractional digits, where .NET reads seven.</summary>
    internal static DateTimeOffset? ParseRfc3339(string text)
    {
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot > 0)
        {
            var end = dot + 1;
            while (end < text.Length && char.IsAsciiDigit(text[end]))
            {
                end++;
            }

            if (end - dot - 1 > 7)
            {
                text = string.Concat(text.AsSpan(0, dot + 8), text.AsSpan(end));
            }
        }

        string[] formats = ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK", "yyyy-MM-dd'T'HH:mm:ssK"];
        return DateTimeOffset.TryParseExact(text, formats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time)
            && (text.EndsWith('Z') || text.EndsWith('z') || text.Length > 6 && text[^6] is '+' or '-')
            ? time
            : null;
    }
}
