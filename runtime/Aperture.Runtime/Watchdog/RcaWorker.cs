namespace Aperture.Runtime.Watchdog;

/// <summary>
/// Runs the RCA of each new anomaly after it was recorded (and its request answered): the ranked causes, the
/// similar past incidents, the summary where an LLM is configured; written as the anomaly's next version.
/// </summary>
public sealed partial class RcaWorker(
    RcaQueue queue, AnomalyStore store, AnomalyLedger ledger, RcaService rca, IncidentRecall recall, RcaSummarizer summarizer,
    Microsoft.Extensions.Options.IOptions<WatchdogOptions> options, ILogger<RcaWorker> logger) : BackgroundService
{
    private long _completed;

    public long Completed => Interlocked.Read(ref _completed);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var (tenant, anomalyId) in queue.Reader.ReadAllAsync(stoppingToken))
            {
                queue.Taken();
                try
                {
                    await RunAsync(tenant, anomalyId, stoppingToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    LogRcaFailed(anomalyId, e);
                    await RecordFailureAsync(tenant, anomalyId, e, stoppingToken);
                }

                Interlocked.Increment(ref _completed);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task RunAsync(string tenant, string anomalyId, CancellationToken cancellationToken)
    {
        if (await store.FindAsync(tenant, anomalyId, cancellationToken) is not { } anomaly)
        {
            return;
        }

        var causes = await rca.AnalyzeAsync(
            tenant, anomaly.ServiceId, RcaService.SeriesName(anomaly.MetricName, anomaly.Labels), anomaly.DetectedAtMs, options.Value.RcaWindowMinutes, cancellationToken);
        var similar = await recall.RecallAsync(tenant, anomaly.ServiceId, IncidentRecall.Describe(anomaly, causes), cancellationToken);
        var summary = await summarizer.SummarizeAsync(anomaly, causes, similar, cancellationToken);
        await ledger.UpdateAsync(tenant, anomalyId, current => current is null ? null : current with
        {
            RcaTriggered = true,
            Details = current.Details with { Causes = causes, SimilarIncidents = similar, Summary = summary ?? current.Details.Summary, RcaError = null },
        }, cancellationToken);
    }

    private async Task RecordFailureAsync(string tenant, string anomalyId, Exception error, CancellationToken cancellationToken)
    {
        try
        {
            await ledger.UpdateAsync(tenant, anomalyId, current => current is null ? null : current with
            {
                Details = current.Details with { RcaError = $"the RCA failed: {error.GetType().Name}" },
            }, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRcaFailed(anomalyId, e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "The RCA of anomaly {AnomalyId} failed")]
    private partial void LogRcaFailed(string anomalyId, Exception exception);
}
