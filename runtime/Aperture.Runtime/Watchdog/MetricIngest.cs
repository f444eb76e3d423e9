using System.Collections.Concurrent;
using System.Text.Json.Serialization;
using System.Threading.Channels;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Rca;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>One series of <c>POST /api/v1/metrics/import</c>.</summary>
public sealed record ImportSeriesJson(
    [property: JsonPropertyName("tenant")] string? Tenant,
    [property: JsonPropertyName("service_id")] string? ServiceId,
    [property: JsonPropertyName("metric_name")] string? MetricName,
    [property: JsonPropertyName("labels")] Dictionary<string, string>? Labels,
    [property: JsonPropertyName("points")] double[][]? Points);

public sealed record ImportJson([property: JsonPropertyName("series")] IReadOnlyList<ImportSeriesJson>? Series);

/// <summary>A series as a receiver decoded it, before it is checked.</summary>
public sealed record IncomingSeries(string? Tenant, string ServiceId, string MetricName, IReadOnlyDictionary<string, string> Labels, IReadOnlyList<(long TimestampMs, double Value)> Points);

/// <summary>
/// The watchdog's intake: checks series from any receiver (the JSON import, remote write, the sites), orders each
/// series' points by time, learns call edges from caller/callee labels, and queues them for the detector. The
/// answer waits for the points to be stored and watched, so a client that was answered 200 lost nothing.
/// </summary>
public sealed class MetricIngest(
    Channel<MetricBatch> queue, TopologyStore topology, IOptions<WatchdogOptions> options)
{
    public const int MaxServiceIdLength = 253;
    private const int MaxKnownEdges = 100_000;
    private readonly ConcurrentDictionary<(string, TopologyEdge), bool> _knownEdges = new();

    /// <summary>Series from the JSON import, checked field by field (the error names the series).</summary>
    public static IReadOnlyList<IncomingSeries> FromImport(ImportJson body)
    {
        if (body.Series is not { } series)
        {
            throw new InvalidRequestException("series", "series is required: an array of {service_id, metric_name, labels, points}");
        }

        var incoming = new List<IncomingSeries>(series.Count);
        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i] ?? throw new InvalidRequestException($"series[{i}]", "a series must be an object");
            var points = s.Points ?? throw new InvalidRequestException($"series[{i}].points", "points is required: [[unix_seconds, value], …]");
            var parsed = new List<(long, double)>(points.Length);
            for (var j = 0; j < points.Length; j++)
            {
                if (points[j] is not [var seconds, var value])
                {
                    throw new InvalidRequestException($"series[{i}].points[{j}]", "a point is [unix_seconds, value]");
                }

                if (!double.IsFinite(seconds) || seconds < 0 || seconds > 253_402_300_799)
                {
                    throw new InvalidRequestException($"series[{i}].points[{j}]", "the timestamp must be unix seconds between 1970 and 9999");
                }

                parsed.Add(((long)Math.Round(seconds * 1000), value));
            }

            incoming.Add(new IncomingSeries(
                s.Tenant, s.ServiceId ?? throw new InvalidRequestException($"series[{i}].service_id", "service_id is required"),
                s.MetricName ?? throw new InvalidRequestException($"series[{i}].metric_name", "metric_name is required"),
                s.Labels ?? [], parsed));
        }

        return incoming;
    }

    /// <summary>Checks, orders and queues the series; waits until they are stored and watched.</summary>
    public async Task<BatchOutcome> AcceptAsync(Principal principal, IReadOnlyList<IncomingSeries> series, CancellationToken cancellationToken)
    {
        var settings = options.Value;
        var samples = new List<MetricSample>();
        var edges = new List<(string Tenant, TopologyEdge Edge)>();
        for (var i = 0; i < series.Count; i++)
        {
            var s = series[i];
            var tenant = s.Tenant ?? principal.Tenant;
            if (!principal.MayIngestInto(tenant))
            {
                throw new ForbiddenException($"this credential may not write metrics into tenant '{tenant}'");
            }

            Check(i, s);
            var labels = SeriesLabels.Canonical(s.Labels);
            // Time order within the series, as the detector must see it; a stable sort keeps equal timestamps as sent.
            foreach (var (at, value) in s.Points.OrderBy(p => p.TimestampMs))
            {
                samples.Add(new MetricSample(tenant, s.ServiceId, s.MetricName, labels, at, value));
            }

            if (samples.Count > settings.MaxPointsPerRequest)
            {
                throw new InvalidRequestException("series", $"a request may carry at most {settings.MaxPointsPerRequest} points");
            }

            if (TopologyEdges.FromLabels(s.Labels, settings.CallerLabel, settings.CalleeLabel) is { } edge && edge.Caller != edge.Callee)
            {
                edges.Add((tenant, new TopologyEdge(edge.Caller, edge.Callee)));
            }
        }

        await LearnEdgesAsync(edges, cancellationToken);
        if (samples.Count == 0)
        {
            return new BatchOutcome(0, 0, 0, [], []);
        }

        var batch = new MetricBatch(samples);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(settings.IngestTimeout);
        try
        {
            await queue.Writer.WriteAsync(batch, timeout.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServiceBusyException($"the watchdog's queue stayed full for {settings.IngestTimeout.TotalSeconds:0.###} s");
        }

        try
        {
            return await batch.Done.Task.WaitAsync(settings.StoreTimeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            // ClickHouse is not taking writes (the loop retries them): say so rather than hold the sender.
            throw new ServiceBusyException($"the points were not stored within {settings.StoreTimeout.TotalSeconds:0.###} s; storage is behind");
        }
    }

    private static void Check(int i, IncomingSeries s)
    {
        if (s.ServiceId.Length is 0 or > MaxServiceIdLength || s.ServiceId.Any(char.IsControl))
        {
            throw new InvalidRequestException($"series[{i}].service_id", $"service_id must be 1 to {MaxServiceIdLength} printable characters");
        }

        if (!SeriesLabels.IsValidName(s.MetricName, allowColon: true))
        {
            throw new InvalidRequestException($"series[{i}].metric_name", $"'{s.MetricName}' is not a metric name (letters, digits, '_' and ':', not starting with a digit, at most {SeriesLabels.MaxNameLength})");
        }

        if (s.Labels.Count > SeriesLabels.MaxLabels)
        {
            throw new InvalidRequestException($"series[{i}].labels", $"a series may have at most {SeriesLabels.MaxLabels} labels");
        }

        foreach (var (name, value) in s.Labels)
        {
            if (!SeriesLabels.IsValidName(name, allowColon: false) || value.Length > SeriesLabels.MaxValueLength)
            {
                throw new InvalidRequestException($"series[{i}].labels", $"label '{name}' is not a label name or its value is longer than {SeriesLabels.MaxValueLength}");
            }
        }
    }

    private async Task LearnEdgesAsync(List<(string Tenant, TopologyEdge Edge)> edges, CancellationToken cancellationToken)
    {
        var fresh = edges.Where(e => !_knownEdges.ContainsKey(e)).Distinct().ToList();
        foreach (var group in fresh.GroupBy(e => e.Tenant))
        {
            await topology.AddMetricEdgesAsync(group.Key, [.. group.Select(e => e.Edge)], cancellationToken);
        }

        if (_knownEdges.Count > MaxKnownEdges)
        {
            _knownEdges.Clear();
        }

        foreach (var edge in fresh)
        {
            _knownEdges[edge] = true;
        }
    }
}
