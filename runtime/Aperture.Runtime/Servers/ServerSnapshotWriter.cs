using System.Threading.Channels;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Moves accepted snapshots to ClickHouse in batches (every <c>FlushInterval</c> or <c>FlushRows</c>),
/// so thousands of agents sampling every few seconds make few, large inserts. A failed flush is
/// retried with backoff and jitter under the same deduplication token. What is written counts in each
/// snapshot's tenant's usage.
/// </summary>
public sealed partial class ServerSnapshotWriter(
    Channel<ServerSnapshot> queue,
    ServerSnapshotStore store,
    TenantUsage usage,
    IOptions<ServerMonitoringOptions> options,
    TimeProvider time,
    ILogger<ServerSnapshotWriter> logger) : BackgroundService
{
    private readonly RetryBackoff _retry = new(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(30), time);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var pending = new List<ServerSnapshot>();
        var limits = new BatchLimits(options.Value.FlushRows, options.Value.FlushInterval, TimeSpan.MaxValue);
        try
        {
            while (await queue.Reader.WaitToReadAsync(stoppingToken))
            {
                await ChannelBatches.CollectAsync(queue.Reader, pending, limits, _ => 1, time, stoppingToken);
                await FlushAsync(pending, stoppingToken);
                pending.Clear();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            pending.AddRange(ChannelBatches.Drain(queue.Reader));
            if (pending.Count > 0)
            {
                using var last = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await store.WriteAsync(pending, Guid.NewGuid().ToString("N"), last.Token);
                    await usage.AddAsync(pending, s => s.Tenant, _ => 1);
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
        await _retry.RunAsync(
            cancellationToken => store.WriteAsync(pending, token, cancellationToken),
            (attempt, _, e) =>
            {
                ServerMetrics.FlushTotal.WithLabels("error").Inc();
                LogFlushFailed(pending.Count, attempt, e.Message);
            },
            stoppingToken);
        ServerMetrics.FlushTotal.WithLabels("ok").Inc();
        ServerMetrics.FlushedTotal.Inc(pending.Count);
        ServerMetrics.Queued.Set(queue.Reader.Count);
        await usage.AddAsync(pending, s => s.Tenant, _ => 1);
    }

    [LoggerMessage(EventId = 510, Level = LogLevel.Warning, Message = "Flush of {Snapshots} server snapshots failed (attempt {Attempt}); retrying: {Reason}")]
    private partial void LogFlushFailed(int snapshots, int attempt, string reason);

    [LoggerMessage(EventId = 511, Level = LogLevel.Error, Message = "Shutting down with {Snapshots} server snapshots not written to ClickHouse: {Reason}")]
    private partial void LogLostAtShutdown(int snapshots, string reason);
}
