using Aperture.Contracts;
using Prometheus;

namespace Aperture.Runtime.Health;

/// <summary>Runs every readiness check at once, each under its own timeout, and reports them all.</summary>
public sealed partial class ReadinessProbe(IEnumerable<IReadinessCheck> checks, ILogger<ReadinessProbe> logger)
{
    private static readonly Gauge CheckUp = Metrics.CreateGauge(
        "aperture_readiness_check_up", "1 when the readiness check passed at its last run, 0 when it failed", "check");

    public async Task<ReadinessReport> RunAsync(CancellationToken cancellationToken)
    {
        var list = checks.ToList();
        var outcomes = await Task.WhenAll(list.Select(check => RunOneAsync(check, cancellationToken)));
        var results = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < list.Count; i++)
        {
            results[list[i].Name] = outcomes[i];
            CheckUp.WithLabels(list[i].Name).Set(outcomes[i] == ReadinessReport.Ok ? 1 : 0);
        }

        var ready = outcomes.All(o => o == ReadinessReport.Ok);
        return new ReadinessReport(ready ? ReadinessReport.Ready : ReadinessReport.NotReady, results);
    }

    private async Task<string> RunOneAsync(IReadinessCheck check, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(check.Timeout);
        try
        {
            await check.CheckAsync(timeout.Token).WaitAsync(timeout.Token);
            return ReadinessReport.Ok;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogCheckFailed(check.Name, "timed out");
            return $"failed: no answer within {check.Timeout.TotalMilliseconds:0} ms";
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogCheckFailed(check.Name, e.Message);
            return $"failed: {OneLine(e.Message)}";
        }
    }

    private static string OneLine(string message)
    {
        var line = message.ReplaceLineEndings(" ").Trim();
        return line.Length <= 300 ? line : line[..300];
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Readiness check {Check} failed: {Reason}")]
    private partial void LogCheckFailed(string check, string reason);
}
