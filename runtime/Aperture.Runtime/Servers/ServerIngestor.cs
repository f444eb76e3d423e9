using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Turns an authenticated sample into a snapshot of the server's tenant: rates (from that tenant's
/// counters), bottleneck, the registry's record, the write queue.
/// </summary>
public sealed class ServerIngestor(
    ServerRegistry registry,
    Channel<ServerSnapshot> queue,
    Watchdog.Export.SiteSeries series,
    IOptions<ServerMonitoringOptions> options,
    TimeProvider time)
{
    /// <returns>The snapshot, or null when the write queue is full (the agent should retry).</returns>
    public async Task<ServerSnapshot?> IngestAsync(MonitoredServer server, ServerSample sample, AgentInfo? agent)
    {
        var receivedAt = time.GetUtcNow();
        // Counters are kept a little longer than the longest interval rates are derived over.
        var previous = await registry.SwapCountersAsync(server.Tenant, server.Id, CounterState.Of(sample), options.Value.MaxRateInterval * 2);
        var rates = CounterRates.Derive(previous, sample, options.Value.MaxRateInterval, out var interval);
        var verdict = BottleneckClassifier.Classify(BottleneckInputs.Of(sample, rates));
        var snapshot = new ServerSnapshot(
            await registry.NextSnapshotIdAsync(server.Tenant), server.Id, receivedAt, interval, agent?.Version ?? string.Empty, sample, rates, verdict,
            server.Tenant);
        if (!queue.Writer.TryWrite(snapshot))
        {
            return null;
        }

        await registry.RecordSnapshotAsync(server, snapshot, agent);
        series.Server(server, snapshot);
        return snapshot;
    }
}
