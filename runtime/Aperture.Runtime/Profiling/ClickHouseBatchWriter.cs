using System.Diagnostics;
using System.Threading.Channels;
using Aperture.Profiling;
using Aperture.Storage;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Moves batches from the buffer to ClickHouse: a flush starts when enough rows wait or the
/// oldest has waited long enough; a failed flush is retried with backoff and jitter under the same
/// deduplication token, so a retry after an unknown outcome stores the rows once. Batches leave
/// the buffer's "unflushed" set only after ClickHouse took them.
/// </summary>
public sealed partial class ClickHouseBatchWriter(
    Channel<ProfileBatch> queue,
    ProfileStore store,
    ProfileBuffer buffer,
    PushClaims claims,
    AggregatorStats stats,
    IOptions<ProfilingOptions> options,
    TimeProvider time,
    ILogger<ClickHouseBatchWriter> logger) : BackgroundService
{
    /// <summary>The deduplication token of the flush under way; null between flushes.</summary>
    private string? _flushToken;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new List<ProfileBatch>();
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await CollectAsync(pending, stoppingToken);
                await FlushWithRetriesAsync(pending, stoppingToken);
                _flushToken = null;
                pending.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: one last attempt for what is waiting, bounded by the host's shutdown timeout.
            // A flush that the stop interrupted may have reached ClickHouse already: it is written again
            // under its own token, so ClickHouse drops the repeat; what was still queued gets a new one.
            var queued = new List<ProfileBatch>();
            while (queue.Reader.TryRead(out var batch))
            {
                queued.Add(batch);
            }

            using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await WriteAtShutdownAsync(pending, _flushToken ?? Guid.NewGuid().ToString("N"), last.Token);
            await WriteAtShutdownAsync(queued, Guid.NewGuid().ToString("N"), last.Token);
        }
    }

    private async Task WriteAtShutdownAsync(List<ProfileBatch> batches, string token, CancellationToken cancellationToken)
    {
        if (batches.Count == 0)
        {
            return;
        }

        try
        {
            await store.WriteAsync(batches, token, cancellationToken);
            stats.FlushSucceeded(batches.Sum(b => (long)b.Events.Length), TimeSpan.Zero);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            LogLostAtShutdown(batches.Count, e.Message);
        }
    }

    /// <summary>Takes batches until enough rows wait, the flush interval since the first has passed, or none came for the idle time.</summary>
    private async Task CollectAsync(List<ProfileBatch> pending, CancellationToken stoppingToken)
    {
        var rows = 0;
        var deadline = time.GetUtcNow() + options.Value.FlushInterval;
        while (rows < options.Value.FlushRows)
        {
            while (rows < options.Value.FlushRows && queue.Reader.TryRead(out var batch))
            {
                pending.Add(batch);
                rows += batch.Events.Length;
            }

            var remaining = deadline - time.GetUtcNow();
            if (rows >= options.Value.FlushRows || remaining <= TimeSpan.Zero)
            {
                return;
            }

            using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            wait.CancelAfter(remaining < options.Value.FlushIdle ? remaining : options.Value.FlushIdle);
            try
            {
                if (!await queue.Reader.WaitToReadAsync(wait.Token))
                {
                    return;
                }
            }
            catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
            {
                return;
            }
        }
    }

    private async Task FlushWithRetriesAsync(List<ProfileBatch> pending, CancellationToken stoppingToken)
    {
        var token = Guid.NewGuid().ToString("N");
        _flushToken = token;
        var rows = pending.Sum(b => (long)b.Events.Length);
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                await store.WriteAsync(pending, token, stoppingToken);
                stats.FlushSucceeded(rows, Stopwatch.GetElapsedTime(started));
                buffer.MarkFlushed(pending);
                await MarkStoredAsync(pending);
                AggregatorMetrics.BufferBatches.Set(buffer.Count);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                stats.FlushFailed(Stopwatch.GetElapsedTime(started));
                LogFlushFailed(pending.Count, rows, attempt, delay, e.Message);
                // Full jitter keeps many aggregators from retrying against ClickHouse in step.
                var wait = TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * delay.TotalMilliseconds);
                await Task.Delay(wait, time, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.Value.MaxRetryDelay.Ticks));
            }
        }
    }

    /// <summary>
    /// Records in Redis that the batches are stored. If Redis does not answer, their claims stay
    /// "pending" under this live instance, which still refuses replays; only a crash before the
    /// next successful mark could let a replay be stored twice.
    /// </summary>
    private async Task MarkStoredAsync(List<ProfileBatch> stored)
    {
        try
        {
            await claims.MarkStoredAsync(stored);
        }
        catch (StackExchange.Redis.RedisException e)
        {
            LogMarkFailed(stored.Count, e.Message);
        }
    }

    [LoggerMessage(EventId = 412, Level = LogLevel.Warning, Message = "{Batches} stored batches not marked stored in Redis: {Reason}")]
    private partial void LogMarkFailed(int batches, string reason);

    [LoggerMessage(EventId = 410, Level = LogLevel.Warning, Message = "Flush of {Batches} batches ({Rows} rows) failed (attempt {Attempt}); retrying within {Delay}: {Reason}")]
    private partial void LogFlushFailed(int batches, long rows, int attempt, TimeSpan delay, string reason);

    [LoggerMessage(EventId = 411, Level = LogLevel.Error, Message = "Shutting down with {Batches} batches not written to ClickHouse: {Reason}")]
    private partial void LogLostAtShutdown(int batches, string reason);
}
