using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Runtime.Jobs;
using Aperture.Runtime.Profiling;
using Aperture.Runtime.Watchdog.Export;

namespace Aperture.Runtime.Watchdog;

/// <summary>The server's bottleneck class around a cause's onset, from the Site that monitors it.</summary>
public sealed record ServerBottleneckJson(
    [property: JsonPropertyName("site")] string Site,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("samples")] int Samples,
    [property: JsonPropertyName("of")] int Of,
    [property: JsonPropertyName("before")] string? Before);

/// <summary>A stack whose share of the workload's profile grew between before and during the onset.</summary>
public sealed record StackChangeJson(
    [property: JsonPropertyName("stack")] string Stack,
    [property: JsonPropertyName("share_before")] double ShareBefore,
    [property: JsonPropertyName("share_during")] double ShareDuring,
    [property: JsonPropertyName("samples_before")] ulong SamplesBefore,
    [property: JsonPropertyName("samples_during")] ulong SamplesDuring);

/// <summary>
/// What the Sites hold about a root-cause candidate, added to its evidence: for a server's series the bottleneck class
/// before and during the onset (the Site's snapshot history), for a profiled workload's series the stacks whose share
/// grew most (the Site's <c>/api/diff</c> of the window before against the window from the onset). The series name the
/// Site by their <c>site</c> label; the Site's main API comes from <see cref="CentralOptions.SiteApis"/>. Only the first
/// <see cref="MaxCauses"/> causes are asked about, concurrently, each call within the Site timeout.
/// </summary>
public sealed partial class RcaEvidence(SiteClient sites, TimeProvider time, ILogger<RcaEvidence> logger)
{
    public const int MaxCauses = 3;
    private const int MaxStackChanges = 5;
    private const int DiffStacks = 200;

    public async Task<IReadOnlyList<CauseJson>> EnrichAsync(string tenant, IReadOnlyList<CauseJson> causes, long atMs, int windowMinutes, CancellationToken cancellationToken)
    {
        if (sites.Options.SiteApis.Count == 0 || causes.Count == 0)
        {
            return causes;
        }

        var enriched = causes.ToArray();
        await Task.WhenAll(Enumerable.Range(0, Math.Min(MaxCauses, enriched.Length)).Select(async i =>
            enriched[i] = await EnrichAsync(tenant, enriched[i], atMs, windowMinutes, cancellationToken)));
        return enriched;
    }

    private async Task<CauseJson> EnrichAsync(string tenant, CauseJson cause, long atMs, int windowMinutes, CancellationToken cancellationToken)
    {
        var (metric, labels) = Split(cause.MetricName);
        if (!labels.TryGetValue("site", out var site) || !sites.Options.SiteApis.ContainsKey(site))
        {
            return cause;
        }

        var window = (From: atMs - (windowMinutes * 60_000L), At: atMs, To: atMs + (windowMinutes * 60_000L));
        try
        {
            if (SiteSeries.ServerMetricNames.Contains(metric))
            {
                return await BottleneckAsync(tenant, site, cause, window, cancellationToken);
            }

            if (SiteSeries.ProfileMetricKinds.TryGetValue(metric, out var kind))
            {
                return await ProfileDiffAsync(tenant, site, cause, kind, window, cancellationToken);
            }
        }
        catch (Exception e) when (e is SiteEvidenceException or KeyNotFoundException or InvalidOperationException or JsonException)
        {
            // A Site that is away or answers oddly costs the cause its extra evidence, never the RCA.
            var reason = e is SiteEvidenceException ? e.Message : "its answer is not of the expected shape";
            LogEvidenceFailed(site, cause.ServiceId, reason);
            return cause with { Evidence = [.. cause.Evidence, $"site {site} gave no evidence: {reason}"] };
        }

        return cause;
    }

    private async Task<CauseJson> BottleneckAsync(string tenant, string site, CauseJson cause, (long From, long At, long To) window, CancellationToken cancellationToken)
    {
        // The history is "the last N minutes": enough of them to reach back to the window before the onset.
        var minutes = (int)Math.Clamp(((time.GetUtcNow().ToUnixTimeMilliseconds() - window.From) / 60_000) + 1, 1, 7 * 1440);
        var path = $"/api/metrics/history/?server={Uri.EscapeDataString(cause.ServiceId)}&minutes={minutes.ToString(CultureInfo.InvariantCulture)}";
        using var body = await AskAsync(site, HttpMethod.Get, path, null, tenant, cancellationToken);
        var before = new List<string>();
        var during = new List<string>();
        foreach (var point in body.RootElement.GetProperty("points").EnumerateArray())
        {
            if (point.GetProperty("collected_at").GetString() is not { } collected || !DateTimeOffset.TryParse(collected, CultureInfo.InvariantCulture, out var at)
                || point.GetProperty("bottleneck").GetString() is not { Length: > 0 } pointLabel)
            {
                continue;
            }

            var ms = at.ToUnixTimeMilliseconds();
            if (ms >= window.From && ms < window.At)
            {
                before.Add(pointLabel);
            }
            else if (ms >= window.At && ms < window.To)
            {
                during.Add(pointLabel);
            }
        }

        if (during.Count == 0)
        {
            return cause with { Evidence = [.. cause.Evidence, $"site {site} holds no snapshot of server {cause.ServiceId} from the onset on"] };
        }

        var (label, samples) = Commonest(during);
        var was = before.Count == 0 ? null : Commonest(before).Label;
        var text = string.Create(CultureInfo.InvariantCulture, $"server bottleneck from the onset: {label} ({samples} of {during.Count} snapshots)") +
            (was is null ? string.Empty : was == label ? $", as before it" : $", before it: {was}");
        return cause with { Evidence = [.. cause.Evidence, text], Bottleneck = new ServerBottleneckJson(site, label, samples, during.Count, was) };
    }

    private async Task<CauseJson> ProfileDiffAsync(string tenant, string site, CauseJson cause, EventKind kind, (long From, long At, long To) window, CancellationToken cancellationToken)
    {
        const long NsPerMs = 1_000_000;
        var request = new DiffRequestJson(
            null, window.From * NsPerMs, window.At * NsPerMs, null, window.At * NsPerMs, window.To * NsPerMs, kind.Name(), DiffStacks, cause.ServiceId);
        using var answer = await AskAsync(site, HttpMethod.Post, "/api/diff", request, tenant, cancellationToken);
        if (answer.RootElement.GetProperty("error").GetString() is { Length: > 0 } error)
        {
            throw new SiteEvidenceException(error);
        }

        var result = JsonSerializer.Deserialize<DiffResultJson>(answer.RootElement.GetProperty("result_json").GetString() ?? "{}")
            ?? throw new SiteEvidenceException("the diff's result_json is empty");
        if (result.BaselineTotal == 0 || result.ComparisonTotal == 0)
        {
            return cause with
            {
                Evidence = [.. cause.Evidence, $"site {site} holds no {kind.Name()} profile of {cause.ServiceId} {(result.BaselineTotal == 0 ? "before" : "from")} the onset"],
            };
        }

        var grown = (result.Stacks ?? [])
            .Select(s => new StackChangeJson(
                s.Stack, Math.Round((double)s.Baseline / result.BaselineTotal, 4), Math.Round((double)s.Comparison / result.ComparisonTotal, 4), s.Baseline, s.Comparison))
            .Where(s => s.ShareDuring > s.ShareBefore)
            .OrderByDescending(s => s.ShareDuring - s.ShareBefore)
            .ThenBy(s => s.Stack, StringComparer.Ordinal)
            .Take(MaxStackChanges)
            .ToList();
        var evidence = grown.Count == 0
            ? $"{kind.Name()} profile of {cause.ServiceId}: no stack's share grew from the onset"
            : string.Create(CultureInfo.InvariantCulture, $"{kind.Name()} profile of {cause.ServiceId}, share grown most: {grown[0].Stack} {grown[0].ShareBefore:P1} → {grown[0].ShareDuring:P1}");
        return cause with { Evidence = [.. cause.Evidence, evidence], ProfileChanges = grown };
    }

    private async Task<JsonDocument> AskAsync(string site, HttpMethod method, string path, object? json, string tenant, CancellationToken cancellationToken)
    {
        var answer = await sites.CallApiAsync(site, method, path, json, tenant, cancellationToken);
        if (answer.Failure is { } failure)
        {
            throw new SiteEvidenceException(failure);
        }

        if (answer.Status != StatusCodes.Status200OK)
        {
            throw new SiteEvidenceException($"HTTP {answer.Status} from {path.Split('?')[0]}");
        }

        try
        {
            return JsonDocument.Parse(answer.Body);
        }
        catch (JsonException)
        {
            throw new SiteEvidenceException($"{path.Split('?')[0]} answered with something that is not JSON");
        }
    }

    private static (string Metric, Dictionary<string, string> Labels) Split(string seriesName)
    {
        var brace = seriesName.IndexOf('{', StringComparison.Ordinal);
        return brace < 0 || !seriesName.EndsWith('}')
            ? (seriesName, new Dictionary<string, string>(StringComparer.Ordinal))
            : (seriesName[..brace], SeriesLabels.Parse(seriesName[(brace + 1)..^1]));
    }

    private static (string Label, int Samples) Commonest(List<string> labels) =>
        labels.GroupBy(l => l, StringComparer.Ordinal).Select(g => (g.Key, g.Count())).OrderByDescending(g => g.Item2).ThenBy(g => g.Key, StringComparer.Ordinal).First();

    [LoggerMessage(Level = LogLevel.Information, Message = "Site {Site} gave no RCA evidence about {Service}: {Reason}")]
    private partial void LogEvidenceFailed(string site, string service, string reason);

    private sealed class SiteEvidenceException(string message) : Exception(message);
}
