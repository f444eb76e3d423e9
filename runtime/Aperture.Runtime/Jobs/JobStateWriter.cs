using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>
/// The one reader of the ingest queue: takes accepted events in batches, folds them into their jobs'
/// states (loading states it does not hold from ClickHouse, one query per batch), and writes the
/// events and the changed states to ClickHouse; the write of one batch overlaps the fold of the next,
/// and writes stay in order. A failed write is retried with backoff under the same
/// deduplication token until ClickHouse takes it, so an acknowledged event is not lost to a hiccup.
/// Reads wait on <see cref="WaitStoredAsync"/> for what was acknowledged before them. Each stored
/// event is counted in its tenant's usage.
/// </summary>
public sealed partial class JobStateWriter(
    Channel<QueuedEvent> queue,
    JobStore store,
    JobIngest ingest,
    TenantUsage usage,
    IOptions<JobsOptions> options,
    TimeProvider time,
    ILogger<JobStateWriter> logger) : BackgroundService
{
    private readonly RetryBackoff _retry = new(TimeSpan.FromMilliseconds(100), options.Value.MaxRetryDelay, time);
    private readonly Dictionary<JobIdentity, JobState> _states = [];
    private readonly Lock _signalLock = new();
    private TaskCompletionSource _stored = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private TaskCompletionSource _flushRequested = new(TaskCreationOptions.RunContinuationsAsynchronously);
    // Starts at the ingest's stream base: a read (or a stream resumed) before this process accepted anything has
    // nothing of this process to wait for.
    private ulong _storedThrough = ingest.StreamBase;

    // Hashes of every stored job's key, so that a key not in it is a new job that needs no read;
    // null until read from ClickHouse, or when there are more jobs than KnownJobsLimit.
    private HashSet<ulong>? _storedKeys;
    private bool _storedKeysRead;

    /// <summary>The stream id through which every accepted event is stored.</summary>
    public ulong StoredThrough => Volatile.Read(ref _storedThrough);

    /// <summary>Waits until every event up to <paramref name="streamId"/> is stored, asking for a flush now.</summary>
    /// <exception cref="TimeoutException">Storage did not take them within the read timeout.</exception>
    public async Task WaitStoredAsync(ulong streamId, CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.Value.ReadTimeout;
        while (StoredThrough < streamId)
        {
            Task stored;
            lock (_signalLock)
            {
                stored = _stored.Task;
                _flushRequested.TrySetResult();
            }

            if (StoredThrough >= streamId)
            {
                return;
            }

            var remaining = deadline - time.GetUtcNow();
            if (remaining <= TimeSpan.Zero)
            {
                throw new TimeoutException($"events accepted before this read were not stored within {options.Value.ReadTimeout.TotalSeconds:0.#} s");
            }

            try
            {
                await stored.WaitAsync(remaining, time, cancellationToken);
            }
            catch (TimeoutException)
            {
                // Checked at the top of the loop.
            }
        }
    }

    /// <summary>A folded batch: the rows to write and the last stream id it covers.</summary>
    private sealed record FoldedBatch(List<JobEventRow> Events, List<JobStateRow> States, HashSet<JobIdentity> Keys, ulong LastStreamId, int Late);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<QueuedEvent>();
        // The write of one batch runs while the next is collected and folded; writes stay in order.
        Task writing = Task.CompletedTask;
        FoldedBatch? inFlight = null;
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await CollectAsync(batch, stoppingToken);
                var folded = await FoldWithRetriesAsync(batch, inFlight, stoppingToken);
                batch.Clear();
                await writing;
                inFlight = folded;
                writing = WriteWithRetriesAsync(folded, stoppingToken);
            }

            await writing;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: one last bounded attempt for what is in flight and what is waiting.
            try
            {
                await writing;
            }
            catch (OperationCanceledException)
            {
                // Written again below.
            }

            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            var lost = 0;
            if (inFlight is not null && StoredThrough < inFlight.LastStreamId)
            {
                lost += await WriteOnceAtShutdownAsync(inFlight, last.Token);
            }

            batch.Clear();
            batch.AddRange(ChannelBatches.Drain(queue.Reader));

            if (batch.Count > 0)
            {
                try
                {
                    lost += await WriteOnceAtShutdownAsync(await FoldAsync(batch, null, last.Token), last.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    lost += batch.Count;
                    LogLostAtShutdown(lost, e.Message);
                }
            }
        }
    }

    private async Task<int> WriteOnceAtShutdownAsync(FoldedBatch folded, CancellationToken cancellationToken)
    {
        try
        {
            await store.WriteAsync(folded.Events, folded.States, Guid.NewGuid().ToString("N"), cancellationToken);
            await usage.AddAsync(folded.Events, e => e.Tenant, _ => 1);
            return 0;
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogLostAtShutdown(folded.Events.Count, e.Message);
            return folded.Events.Count;
        }
    }

    /// <summary>Takes events until enough wait, the flush interval since the first has passed, or a read asks for a flush.</summary>
    private Task CollectAsync(List<QueuedEvent> batch, CancellationToken stoppingToken) =>
        ChannelBatches.CollectAsync(
            queue.Reader,
            batch,
            new BatchLimits(options.Value.FlushEvents, options.Value.FlushInterval, TimeSpan.MaxValue),
            _ => 1,
            time,
            stoppingToken,
            () =>
            {
                lock (_signalLock)
                {
                    return _flushRequested.Task;
                }
            });

    private Task<FoldedBatch> FoldWithRetriesAsync(List<QueuedEvent> batch, FoldedBatch? inFlight, CancellationToken stoppingToken) =>
        _retry.RunAsync(
            cancellationToken => FoldAsync(batch, inFlight, cancellationToken),
            (attempt, delay, e) => LogWriteFailed(batch.Count, attempt, delay, e.Message),
            stoppingToken);

    /// <summary>
    /// Writes a folded batch until ClickHouse takes it, under one deduplication token, so a retry
    /// after an unknown outcome stores the rows once; then tells the waiting reads.
    /// </summary>
    private async Task WriteWithRetriesAsync(FoldedBatch folded, CancellationToken stoppingToken)
    {
        var token = Guid.NewGuid().ToString("N");
        var started = 0L;
        await _retry.RunAsync(
            cancellationToken =>
            {
                started = Stopwatch.GetTimestamp();
                return store.WriteAsync(folded.Events, folded.States, token, cancellationToken);
            },
            (attempt, delay, e) =>
            {
                JobsMetrics.Writes.WithLabels("error").Inc();
                LogWriteFailed(folded.Events.Count, attempt, delay, e.Message);
            },
            stoppingToken);
        JobsMetrics.Writes.WithLabels("ok").Inc();
        JobsMetrics.WriteDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        JobsMetrics.LateEvents.Inc(folded.Late);
        JobsMetrics.PendingEvents.Set(queue.Reader.Count);
        lock (_signalLock)
        {
            Volatile.Write(ref _storedThrough, folded.LastStreamId);
            _stored.TrySetResult();
            _stored = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (_flushRequested.Task.IsCompleted)
            {
                _flushRequested = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        // After the reads were told: a slow Redis delays the next write a little, never a read.
        await usage.AddAsync(folded.Events, e => e.Tenant, _ => 1);
    }

    /// <summary>
    /// Folds the batch into the held states (reading back, in one query, those stored but not held)
    /// and builds its rows. Nothing is changed before the read succeeded, so a failed fold is simply
    /// tried again. The states of the batch still being written are never evicted.
    /// </summary>
    private async Task<FoldedBatch> FoldAsync(List<QueuedEvent> batch, FoldedBatch? inFlight, CancellationToken cancellationToken)
    {
        await ReadStoredKeysAsync(cancellationToken);
        Evict(inFlight?.Keys);
        var missing = batch.Select(q => Key(q.Event)).Where(k => !_states.ContainsKey(k) && (_storedKeys is null || _storedKeys.Contains(Hash(k)))).ToHashSet();
        var loaded = await store.LoadStatesAsync(missing, cancellationToken);
        var changed = new Dictionary<JobIdentity, JobState>();
        var events = new List<JobEventRow>(batch.Count);
        var late = 0;
        foreach (var q in batch)
        {
            var e = q.Event;
            var key = Key(e);
            if (!changed.TryGetValue(key, out var state))
            {
                if (!_states.TryGetValue(key, out state))
                {
                    state = loaded.TryGetValue(key, out var stored)
                        ? JsonSerializer.Deserialize(stored, JobsJsonContext.Default.JobState)!
                        : JobState.Create(e, q.ReceivedAtMs);
                    // A state stored before jobs had tenants does not name one; the row it came from does.
                    state.Tenant = key.Tenant;
                    _states[key] = state;
                    _storedKeys?.Add(Hash(key));
                }

                changed[key] = state;
            }

            if (!state.Apply(e))
            {
                late++;
            }

            events.Add(new JobEventRow(e.Tenant, e.SiteId, e.EntityType, e.EntityId, e.ParentId ?? string.Empty, e.Kind, e.At.ToUnixTimeMilliseconds(),
                e.Status ?? string.Empty, q.StreamId, e.IdempotencyKey ?? string.Empty, q.ReceivedAtMs, q.Payload));
        }

        if (_storedKeys is not null && _storedKeys.Count > options.Value.KnownJobsLimit)
        {
            _storedKeys = null;
        }

        return new FoldedBatch(events, changed.Values.Select(Row).ToList(), [.. changed.Keys], batch[^1].StreamId, late);
    }

    private async Task ReadStoredKeysAsync(CancellationToken cancellationToken)
    {
        if (_storedKeysRead)
        {
            return;
        }

        var keys = new HashSet<ulong>();
        var complete = await store.ReadKeysAsync(options.Value.KnownJobsLimit, key => keys.Add(Hash(key)), cancellationToken);
        _storedKeys = complete ? keys : null;
        _storedKeysRead = true;
    }

    private static ulong Hash(JobIdentity key) =>
        System.IO.Hashing.XxHash3.HashToUInt64(System.Text.Encoding.UTF8.GetBytes(string.Join('\n', key.Tenant, key.Site, key.Type, key.Id)));

    /// <summary>Drops held states past the cache limit, ended jobs first; they are read back when an event comes.</summary>
    private void Evict(HashSet<JobIdentity>? writing)
    {
        var limit = options.Value.StateCacheLimit;
        if (_states.Count <= limit)
        {
            return;
        }

        var target = limit * 9 / 10;
        foreach (var key in _states.Where(s => s.Value.IsTerminal && writing?.Contains(s.Key) != true).Select(s => s.Key).ToList())
        {
            if (_states.Count <= target)
            {
                return;
            }

            _states.Remove(key);
        }

        foreach (var key in _states.Keys.Where(k => writing?.Contains(k) != true).Take(_states.Count - target).ToList())
        {
            _states.Remove(key);
        }
    }

    private static JobIdentity Key(JobEvent e) => new(e.Tenant, e.SiteId, e.EntityType, e.EntityId);

    private static JobStateRow Row(JobState s) => new(
        s.Tenant, s.SiteId, s.EntityType, s.JobId, s.ParentId ?? string.Empty, s.AppId, s.AppName, s.AppVersion, s.JobKey ?? string.Empty,
        s.SubKey ?? string.Empty, s.Status, s.EffectiveStartedAtMs, s.EndedAtMs, s.DurationS, s.Metric(JobMetricNames.CpuUserS),
        s.Metric(JobMetricNames.CpuSystemS), s.Metric(JobMetricNames.MemMaxMb), s.MetadataJson(), s.InsertedAtMs, s.Version,
        JsonSerializer.Serialize(s, JobsJsonContext.Default.JobState));

    [LoggerMessage(EventId = 510, Level = LogLevel.Warning, Message = "Write of {Events} job events failed (attempt {Attempt}); retrying within {Delay}: {Reason}")]
    private partial void LogWriteFailed(int events, int attempt, TimeSpan delay, string reason);

    [LoggerMessage(EventId = 511, Level = LogLevel.Error, Message = "Shutting down with {Events} job events not written to ClickHouse: {Reason}")]
    private partial void LogLostAtShutdown(int events, string reason);
}
