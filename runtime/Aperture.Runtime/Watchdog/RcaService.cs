using System.Threading.Channels;
using Aperture.Runtime.Watchdog.Rca;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>Root-cause analysis over the stored per-minute series and the tenant's service graph.</summary>
public sealed class RcaService(
    MetricPointStore points, TopologyStore topology, RcaEvidence evidence, IOptions<WatchdogOptions> options, IOptions<CorrelationOptions> correlation)
{
    // The widest window one analysis reads: bounded so that one request cannot make ClickHouse read a year.
    private const int MaxSeries = 20_000;

    public CorrelationOptions Correlation => correlation.Value;

    /// <summary>Candidates for the cause of <paramref name="metricName"/> of <paramref name="serviceId"/> moving at <paramref name="atMs"/>.</summary>
    public async Task<IReadOnlyList<CauseJson>> AnalyzeAsync(
        string tenant, string serviceId, string metricName, long atMs, int windowMinutes, CancellationToken cancellationToken)
    {
        var atMinute = Math.DivRem(atMs, 60_000).Quotient;
        var history = options.Value.RcaHistoryMinutes;
        // A few minutes past the onset, so that lags after it (the symptom's downstream) are seen too.
        var after = Math.Max(correlation.Value.MaxLagMinutes, 5);
        var series = await points.MinutesAsync(tenant, null, atMinute - windowMinutes - history, atMinute + after + 1, MaxSeries, cancellationToken);
        var graph = await topology.GraphAsync(tenant, cancellationToken);
        var causes = ServiceCorrelator.Analyze(serviceId, metricName, atMinute, windowMinutes, series, graph, correlation.Value);
        var ranked = causes.Select(c => new CauseJson(c.ServiceId, c.MetricName, Math.Round(c.Score, 4), c.LagMinutes, c.Evidence)).ToList();
        return await evidence.EnrichAsync(tenant, ranked, atMs, windowMinutes, cancellationToken);
    }

    public async Task<IReadOnlyList<ServiceCorrelation>> CorrelateAsync(string tenant, string serviceId, int depth, long nowMs, CancellationToken cancellationToken)
    {
        var toMinute = Math.DivRem(nowMs, 60_000).Quotient + 1;
        var series = await points.MinutesAsync(tenant, null, toMinute - options.Value.RcaHistoryMinutes, toMinute, MaxSeries, cancellationToken);
        var graph = await topology.GraphAsync(tenant, cancellationToken);
        return ServiceCorrelator.Correlate(serviceId, series, graph, depth, correlation.Value);
    }

    /// <summary>The name the RCA knows a stored series by (<see cref="MetricPointStore.MinutesAsync"/>).</summary>
    public static string SeriesName(string metricName, string labels) => labels.Length == 0 ? metricName : $"{metricName}{{{labels}}}";
}

/// <summary>Anomalies waiting for their RCA; bounded, so a storm of anomalies cannot queue unbounded work.</summary>
public sealed class RcaQueue(IOptions<WatchdogOptions> options)
{
    private readonly Channel<(string Tenant, string AnomalyId)> _queue = Channel.CreateBounded<(string, string)>(
        new BoundedChannelOptions(options.Value.RcaQueue) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    private int _pending;

    public ChannelReader<(string Tenant, string AnomalyId)> Reader => _queue.Reader;

    /// <summary>Whether a new anomaly can expect an RCA: the queue has room now.</summary>
    public bool HasRoom => Volatile.Read(ref _pending) < options.Value.RcaQueue;

    public bool Request(string tenant, string anomalyId)
    {
        if (!_queue.Writer.TryWrite((tenant, anomalyId)))
        {
            return false;
        }

        Interlocked.Increment(ref _pending);
        return true;
    }

    public void Taken() => Interlocked.Decrement(ref _pending);

    /// <summary>
    /// Queues the RCA of an anomaly recorded with <c>rca_triggered</c> (from <see cref="HasRoom"/>); where the queue filled
    /// in between, the anomaly's next version says that no RCA will come. Returns the anomaly as it stands.
    /// </summary>
    public async Task<AnomalyRecord> RequestOrDeclineAsync(AnomalyLedger ledger, AnomalyRecord anomaly, CancellationToken cancellationToken)
    {
        if (Request(anomaly.Tenant, anomaly.AnomalyId))
        {
            return anomaly;
        }

        return await ledger.UpdateAsync(anomaly.Tenant, anomaly.AnomalyId, current => current is null ? null : current with
        {
            RcaTriggered = false,
            Details = current.Details with { RcaError = "not analysed: the RCA queue was full" },
        }, cancellationToken) ?? anomaly with { RcaTriggered = false };
    }
}
