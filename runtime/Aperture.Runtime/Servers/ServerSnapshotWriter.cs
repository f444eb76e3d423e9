using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Moves accepted snapshots to ClickHouse in batches (every <c>FlushInterval</c> or <c>FlushRows</c>),
/// so thousands of agents sampling every few seconds make few, large inserts. A failed flush is
/// retried with backoff and jitter under the same deduplication token.
/// </summary>
public sealed partial class ServerSnapshotWriter(
    Channel<ServerSnapshot> queue,
    ServerSnapshotStore store,
    IOptions<ServerMonitoringOptions> options,
    TimeProvider time,
    ILogger<ServerSnapshotWriter> logger) : BackgroundService
{
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new List<ServerSnapshot>();
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                var deadline = time.GetUtcNow() + options.Value.FlushInterval;
                while (pending.Count < options.Value.FlushRows)
                {
                    while (pending.Count < options.Value.FlushRows && queue.Reader.TryRead(out var snapshot))
                    {
                        pending.Add(snapshot);
                    }

                    var remaining = deadline - time.GetUtcNow();
                    if (pending.Count >= options.Value.FlushRows || remaining <= TimeSpan.Zero)
                    {
                        break;
                    }

                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                    wait.CancelAfter(remaining);
                    try
                    {
                        await queue.Reader.WaitToReadAsync(wait.Token);
                    }
                    catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested)
                    {
                        break;
                    }
                }

                await FlushAsync(pending, stoppingToken);
                pending.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            while (queue.Reader.TryRead(out var snapshot))
            {
                pending.Add(snapshot);
            }

            if (pending.Count > 0)
            {
                using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await store.WriteAsync(pending, Guid.NewGuid().ToString("N"), last.Token);
                }
                catch (Exception e) when (e is not OutOfMemoryException)
                {
                    LogLostAtShutdown(pending.Count, e.Message);
                }
            }
        }
    }

    private async Task FlushAsync(List<ServerSnapshot> pending, CancellationToken stoppingToken)
    {
        var token = Guid.NewGuid().ToString("N");
        var delay = TimeSpan.FromMilliseconds(100);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await store.WriteAsync(pending, token, stoppingToken);
                ServerMetrics.FlushTotal.WithLabels("ok").Inc();
                ServerMetrics.FlushedTotal.Inc(pending.Count);
                ServerMetrics.Queued.Set(queue.Reader.Count);
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                ServerMetrics.FlushTotal.WithLabels("error").Inc();
                LogFlushFailed(pending.Count, attempt, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * delay.TotalMilliseconds), time, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
            }
        }
    }

    [LoggerMessage(EventId = 510, Level = LogLevel.Warning, Message = "Flush of {Snapshots} server snapshots failed (attempt {Attempt}); retrying: {Reason}")]
    private partial void LogFlushFailed(int snapshots, int attempt, string reason);

    [LoggerMessage(EventId = 511, Level = LogLevel.Error, Message = "Shutting down with {Snapshots} server snapshots not written to ClickHouse: {Reason}")]
    private partial void LogLostAtShutdown(int snapshots, string reason);
}
