using System.Diagnostics;
using System.Threading.Channels;
using Aperture.Runtime.Platform;
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
    TenantUsage usage,
    IOptions<ProfilingOptions> options,
    TimeProvider time,
    ILogger<ClickHouseBatchWriter> logger) : BackgroundService
{
    /// <summary>The deduplication token of the flush under way; null between flushes.</summary>
    private string? _flushToken;

    private readonly RetryBackoff _retry = new(TimeSpan.FromMilliseconds(100), options.Value.MaxRetryDelay, time);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new List<ProfileBatch>();
        var limits = new BatchLimits(options.Value.FlushRows, options.Value.FlushInterval, options.Value.FlushIdle);
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await ChannelBatches.CollectAsync(queue.Reader, pending, limits, b => b.Events.Length, time, stoppingToken);
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
            var queued = ChannelBatches.Drain(queue.Reader);
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

    private async Task FlushWithRetriesAsync(List<ProfileBatch> pending, CancellationToken stoppingToken)
    {
        var token = Guid.NewGuid().ToString("N");
        _flushToken = token;
        var rows = pending.Sum(b => (long)b.Events.Length);
        var started = 0L;
        await _retry.RunAsync(
            async cancellationToken =>
            {
                started = Stopwatch.GetTimestamp();
                await store.WriteAsync(pending, token, cancellationToken);
            },
            (attempt, delay, e) =>
            {
                stats.FlushFailed(Stopwatch.GetElapsedTime(started));
                LogFlushFailed(pending.Count, rows, attempt, delay, e.Message);
            },
            stoppingToken);
        stats.FlushSucceeded(rows, Stopwatch.GetElapsedTime(started));
        buffer.MarkFlushed(pending);
        await MarkStoredAsync(pending);
        await usage.AddAsync(pending, b => b.Tenant, b => b.Events.Length);

        AggregatorMetrics.BufferBatches.Set(buffer.Count);
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
