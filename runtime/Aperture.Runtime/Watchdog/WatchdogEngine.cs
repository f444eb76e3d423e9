using System.Threading.Channels;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Detection;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>Points taken in by one request, and the signal that they are stored and went through the detector.</summary>
public sealed class MetricBatch(IReadOnlyList<MetricSample> samples)
{
    public IReadOnlyList<MetricSample> Samples { get; } = samples;

    public TaskCompletionSource<BatchOutcome> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <param name="Watched">Points that went through a series' detector (not out of order, not past the series limit).</param>
public sealed record BatchOutcome(int Stored, int Watched, int OutOfOrder, IReadOnlyList<string> AnomaliesOpened, IReadOnlyList<string> AnomaliesResolved);

/// <summary>What the watchdog shows of itself in <c>GET /api/v1/status</c>.</summary>
public sealed class WatchdogState
{
    private volatile IReadOnlyDictionary<string, int> _liveSeries = new Dictionary<string, int>();

    public bool Running { get; set; }

    public DateTimeOffset? LastRun { get; set; }

    private long _pointsProcessed;

    public long PointsProcessed => Interlocked.Read(ref _pointsProcessed);

    public void Processed(int points) => Interlocked.Add(ref _pointsProcessed, points);

    public IReadOnlyDictionary<string, int> LiveSeries { get => _liveSeries; set => _liveSeries = value; }
}

/// <summary>
/// The detector loop: the one reader of the ingest queue. Each point goes through its series' detector in the order
/// it arrived (an import sorts each series by time first); points are stored, and what opened or resolved is written
/// to the ledger, before the requests that brought them are answered. One loop, so series state needs no lock.
/// </summary>
public sealed partial class WatchdogEngine(
    Channel<MetricBatch> queue,
    MetricPointStore points,
    AnomalyLedger ledger,
    RcaQueue rca,
    WatchdogState state,
    IOptions<WatchdogOptions> options,
    IOptions<DetectorOptions> detectorOptions,
    TimeProvider time,
    ILogger<WatchdogEngine> logger) : BackgroundService
{
    private static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(14);
    private readonly Dictionary<SeriesKey, SeriesWatch> _series = [];
    private long _lastCensusMs;
    private bool _seriesAdded;

    private sealed class SeriesWatch(SeriesDetector detector)
    {
        public SeriesDetector Detector { get; } = detector;

        public string? OpenAnomaly { get; set; }

        public long LastSeenMs { get; set; }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var limits = new BatchLimits(settings.FlushPoints, settings.FlushInterval, TimeSpan.FromMilliseconds(20));
        var retry = new RetryBackoff(TimeSpan.FromMilliseconds(100), settings.MaxRetryDelay, time);
        var batches = new List<MetricBatch>();
        state.Running = true;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                batches.Clear();
                await ChannelBatches.CollectAsync(queue.Reader, batches, limits, b => b.Samples.Count, time, stoppingToken);
                if (batches.Count == 0)
                {
                    if (queue.Reader.Completion.IsCompleted)
                    {
                        return;
                    }

                    Census();
                    continue;
                }

                await ProcessAsync(batches, retry, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
        finally
        {
            state.Running = false;
            foreach (var left in batches.Concat(ChannelBatches.Drain(queue.Reader)))
            {
                left.Done.TrySetCanceled(CancellationToken.None);
            }
        }
    }

    private async Task ProcessAsync(List<MetricBatch> batches, RetryBackoff retry, CancellationToken stoppingToken)
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var samples = new List<MetricSample>(batches.Sum(b => b.Samples.Count));
        var changes = new List<AnomalyLedger.Change>();
        var outcomes = new List<(int Watched, int OutOfOrder, List<string> Opened, List<string> Resolved)>();
        foreach (var batch in batches)
        {
            var (watched, outOfOrder, opened, resolved) = (0, 0, new List<string>(), new List<string>());
            foreach (var sample in batch.Samples)
            {
                samples.Add(sample);
                var verdict = Observe(sample, now, out var watch);
                if (watch is null)
                {
                    continue;
                }

                switch (verdict.Event)
                {
                    case DetectorEvent.OutOfOrder:
                        outOfOrder++;
                        continue;
                    case DetectorEvent.Ignored:
                        continue;
                    case DetectorEvent.Opened:
                        var id = Open(sample, verdict, watch, now, changes);
                        opened.Add(id);
                        break;
                    case DetectorEvent.Resolved when watch.OpenAnomaly is { } open:
                        Resolve(sample, open, changes);
                        resolved.Add(open);
                        watch.OpenAnomaly = null;
                        break;
                }

                watched++;
            }

            outcomes.Add((watched, outOfOrder, opened, resolved));
        }

        var token = $"points:{Guid.NewGuid():N}";
        await retry.RunAsync(t => points.WriteAsync(samples, token, t), (n, delay, e) => LogWriteFailed(n, delay.TotalSeconds, e), stoppingToken);
        var written = await retry.RunAsync(t => ledger.ApplyAsync(changes, t), (n, delay, e) => LogWriteFailed(n, delay.TotalSeconds, e), stoppingToken);
        foreach (var anomaly in written.Where(a => !a.Resolved && a.RcaTriggered))
        {
            await rca.RequestOrDeclineAsync(ledger, anomaly, stoppingToken);
        }

        state.Processed(samples.Count);
        state.LastRun = time.GetUtcNow();
        for (var i = 0; i < batches.Count; i++)
        {
            var (watched, outOfOrder, opened, resolved) = outcomes[i];
            batches[i].Done.TrySetResult(new BatchOutcome(batches[i].Samples.Count, watched, outOfOrder, opened, resolved));
        }

        Census();
    }

    private DetectorVerdict Observe(in MetricSample sample, long now, out SeriesWatch? watch)
    {
        var key = SeriesKey.Of(sample);
        if (!_series.TryGetValue(key, out watch))
        {
            if (_series.Count >= options.Value.MaxSeries)
            {
                return default;
            }

            watch = new SeriesWatch(new SeriesDetector(detectorOptions.Value, MetricDirections.Of(sample.MetricName)));
            _series[key] = watch;
            _seriesAdded = true;
        }

        watch.LastSeenMs = now;
        // The detector works in seconds; a point within the same second as the last is a duplicate to it.
        return watch.Detector.Observe(sample.TimestampMs / 1000, sample.Value);
    }

    private string Open(in MetricSample sample, DetectorVerdict verdict, SeriesWatch watch, long now, List<AnomalyLedger.Change> changes)
    {
        var id = WatchdogIds.Anomaly(sample.Tenant, $"{sample.ServiceId}\n{sample.MetricName}\n{sample.Labels}", sample.TimestampMs);
        var record = new AnomalyRecord(
            sample.Tenant, id, AnomalySources.Detector, sample.ServiceId, sample.MetricName, sample.Labels, verdict.AnomalyScore, verdict.ZScore,
            sample.Value, verdict.Expected, sample.TimestampMs, now, Resolved: false, ResolvedAtMs: null, RcaTriggered: rca.HasRoom, new AnomalyDetails());
        // A replay of a history already seen finds the anomaly stored: it keeps what it learnt then (its RCA).
        changes.Add(new AnomalyLedger.Change(sample.Tenant, id, current => current is null ? record : current with { Resolved = false, ResolvedAtMs = null }));
        watch.OpenAnomaly = id;
        return id;
    }

    private static void Resolve(in MetricSample sample, string anomalyId, List<AnomalyLedger.Change> changes)
    {
        var at = sample.TimestampMs;
        changes.Add(new AnomalyLedger.Change(sample.Tenant, anomalyId, current => current is null ? null : current with { Resolved = true, ResolvedAtMs = at }));
    }

    /// <summary>Counts each tenant's live series for the status, at most every few seconds.</summary>
    private void Census()
    {
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        if (now - _lastCensusMs < 2000 && !_seriesAdded)
        {
            return;
        }

        _lastCensusMs = now;
        _seriesAdded = false;
        var since = now - (long)options.Value.LiveWindow.TotalMilliseconds;
        var forgotten = now - (long)ForgetAfter.TotalMilliseconds;
        var live = new Dictionary<string, int>(StringComparer.Ordinal);
        List<SeriesKey>? stale = null;
        foreach (var (key, watch) in _series)
        {
            if (watch.LastSeenMs >= since)
            {
                live[key.Tenant] = live.GetValueOrDefault(key.Tenant) + 1;
            }
            else if (watch.LastSeenMs < forgotten && watch.OpenAnomaly is null)
            {
                (stale ??= []).Add(key);
            }
        }

        // A series silent for weeks is gone (a deleted pod, a renamed metric): its state would only hold memory.
        foreach (var key in stale ?? [])
        {
            _series.Remove(key);
        }

        state.LiveSeries = live;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watchdog write failed (attempt {Attempt}); retrying within {DelaySeconds} s")]
    private partial void LogWriteFailed(int attempt, double delaySeconds, Exception exception);
}
