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
    DetectorStateStore detectorStates,
    AnomalyLedger ledger,
    RcaQueue rca,
    WatchdogState state,
    IOptions<WatchdogOptions> options,
    IOptions<DetectorOptions> detectorOptions,
    TimeProvider time,
    ILogger<WatchdogEngine> logger) : BackgroundService
{
    private const int SaveChunk = 5_000;
    private static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(14);
    private static readonly TimeSpan FinalSaveTimeout = TimeSpan.FromSeconds(15);
    private readonly Dictionary<SeriesKey, SeriesWatch> _series = [];
    private long _lastCensusMs;
    private long _lastSaveMs;
    private bool _seriesAdded;

    private sealed class SeriesWatch(SeriesDetector detector)
    {
        public SeriesDetector Detector { get; } = detector;

        public string? OpenAnomaly { get; set; }

        public long LastSeenMs { get; set; }

        /// <summary>Observed since its state was last saved.</summary>
        public bool Dirty { get; set; }
    }

    /// <summary>Series whose detector was resumed from a save at start.</summary>
    public int Restored { get; private set; }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        var limits = new BatchLimits(settings.FlushPoints, settings.FlushInterval, TimeSpan.FromMilliseconds(20));
        var retry = new RetryBackoff(TimeSpan.FromMilliseconds(100), settings.MaxRetryDelay, time);
        var batches = new List<MetricBatch>();
        await RestoreAsync(stoppingToken);
        _lastSaveMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        state.Running = true;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                if (time.GetUtcNow().ToUnixTimeMilliseconds() - _lastSaveMs >= settings.StateSaveInterval.TotalMilliseconds)
                {
                    await SaveAsync(stoppingToken);
                }

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

            // On the way down, what was learnt since the last save: bounded, so that a ClickHouse away cannot hold the stop.
            using var final = new CancellationTokenSource(FinalSaveTimeout);
            try
            {
                await SaveAsync(final.Token);
            }
            catch (OperationCanceledException e)
            {
                LogSaveFailed(_series.Count(s => s.Value.Dirty), e);
            }
        }
    }

    /// <summary>Resumes each series' detector from its latest save (series seen within the last 14 days, up to MaxSeries).</summary>
    private async Task RestoreAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<SavedDetector> saved;
        try
        {
            var since = time.GetUtcNow().Subtract(ForgetAfter).ToUnixTimeMilliseconds();
            saved = await detectorStates.LoadAsync(since, options.Value.MaxSeries, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The detectors re-learn: slower to alarm for a while, never wrong.
            LogRestoreFailed(e);
            return;
        }

        foreach (var s in saved)
        {
            if (SeriesDetector.TryRestore(detectorOptions.Value, MetricDirections.Of(s.Key.MetricName), s.State) is { } detector)
            {
                _series[s.Key] = new SeriesWatch(detector) { OpenAnomaly = s.OpenAnomaly, LastSeenMs = s.LastSeenMs };
            }
        }

        Restored = _series.Count;
        _seriesAdded = true;
        LogRestored(Restored, saved.Count);
    }

    private async Task SaveAsync(CancellationToken cancellationToken)
    {
        _lastSaveMs = time.GetUtcNow().ToUnixTimeMilliseconds();
        var dirty = _series.Where(s => s.Value.Dirty).ToList();
        using var buffer = new MemoryStream();
        using var writer = new BinaryWriter(buffer);
        // In inserts of a few thousand, so that a save of a million series never holds gigabytes at once.
        foreach (var chunk in dirty.Chunk(SaveChunk))
        {
            var saves = new List<SavedDetector>(chunk.Length);
            foreach (var (key, watch) in chunk)
            {
                buffer.SetLength(0);
                watch.Detector.Save(writer);
                writer.Flush();
                saves.Add(new SavedDetector(key, watch.LastSeenMs, watch.OpenAnomaly, buffer.ToArray()));
            }

            try
            {
                await detectorStates.WriteAsync(saves, cancellationToken);
                foreach (var (_, watch) in chunk)
                {
                    watch.Dirty = false;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                // Kept dirty: the next round saves them.
                LogSaveFailed(chunk.Length, e);
                return;
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
        watch.Dirty = true;
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Watchdog resumed {Restored} series' detectors from {Saved} saved")]
    private partial void LogRestored(int restored, int saved);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the saved detectors failed; every series re-learns")]
    private partial void LogRestoreFailed(Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Saving {Series} series' detectors failed; they are saved with the next round")]
    private partial void LogSaveFailed(int series, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Watchdog write failed (attempt {Attempt}); retrying within {DelaySeconds} s")]
    private partial void LogWriteFailed(int attempt, double delaySeconds, Exception exception);
}
