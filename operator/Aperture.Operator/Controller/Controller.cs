using System.Diagnostics;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace Aperture.Operator.Controller;

/// <summary>What a reconcile asks of the machinery next.</summary>
public abstract record ReconcileResult
{
    public sealed record Success(TimeSpan? RequeueAfter = null) : ReconcileResult;

    /// <summary>Retried with the key's backoff, unless terminal (an error a retry cannot mend).</summary>
    public sealed record Failure(string Reason, bool Terminal = false) : ReconcileResult;
}

/// <summary>Brings the world in line with one object; level-triggered: it reads what is, never trusts the event.</summary>
public interface IReconciler<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    /// <param name="current">The cached object, or null when it is gone.</param>
    Task<ReconcileResult> ReconcileAsync(string key, T? current, CancellationToken cancellationToken);
}

/// <summary>
/// Runs one kind's reconciler: a watcher fills the cache and the queue, workers take keys (never
/// the same key twice at once), failures back off per key, and a periodic resync revisits every
/// object. Knows no kind.
/// </summary>
public sealed partial class Controller<T>(
    string kind,
    ResourceWatcher<T> watcher,
    ResourceCache<T> cache,
    WorkQueue<string> queue,
    IReconciler<T> reconciler,
    ControllerOptions options,
    TimeProvider time,
    ILogger logger)
    where T : IKubernetesObject<V1ObjectMeta>
{
    private static readonly Counter Reconciles = Metrics.CreateCounter(
        "aperture_operator_reconcile_total", "Reconciles by kind and result", "kind", "result");

    private static readonly Histogram Durations = Metrics.CreateHistogram(
        "aperture_operator_reconcile_duration_seconds", "Reconcile latency", new HistogramConfiguration
        {
            LabelNames = ["kind"],
            Buckets = Histogram.ExponentialBuckets(0.001, 2, 14),
        });

    private static readonly Gauge Depth = Metrics.CreateGauge("aperture_operator_queue_depth", "Keys waiting in the work queue", "kind");

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var watching = watcher.RunAsync(cancellationToken);
        await watcher.Synced.WaitAsync(cancellationToken);
        var workers = Enumerable.Range(0, options.Workers).Select(_ => WorkAsync(cancellationToken)).ToList();
        var resync = ResyncAsync(cancellationToken);
        try
        {
            await Task.WhenAll([watching, resync, .. workers]);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
        finally
        {
            queue.ShutDown();
        }
    }

    private async Task ResyncAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(options.ResyncPeriod, time);
        while (await timer.WaitForNextTickAsync(cancellationToken))
        {
            foreach (var obj in cache.All())
            {
                queue.Add(ResourceKeys.Of(obj));
            }
        }
    }

    private async Task WorkAsync(CancellationToken cancellationToken)
    {
        while (await queue.TakeAsync(cancellationToken) is { } key)
        {
            Depth.WithLabels(kind).Set(queue.Count);
            var started = Stopwatch.GetTimestamp();
            try
            {
                cache.TryGet(key, out var current);
                var result = await reconciler.ReconcileAsync(key, current, cancellationToken);
                switch (result)
                {
                    case ReconcileResult.Success success:
                        Reconciles.WithLabels(kind, "success").Inc();
                        queue.Forget(key);
                        if (success.RequeueAfter is { } after)
                        {
                            queue.AddAfter(key, after);
                        }

                        break;
                    case ReconcileResult.Failure { Terminal: true } terminal:
                        Reconciles.WithLabels(kind, "terminal").Inc();
                        queue.Forget(key);
                        LogTerminal(kind, key, terminal.Reason);
                        break;
                    case ReconcileResult.Failure failure:
                        Reconciles.WithLabels(kind, "error").Inc();
                        LogRetry(kind, key, failure.Reason, queue.AddRateLimited(key));
                        break;
                }
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Reconciles.WithLabels(kind, "error").Inc();
                LogRetry(kind, key, e.Message, queue.AddRateLimited(key));
            }
            finally
            {
                Durations.WithLabels(kind).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
                queue.Done(key);
            }
        }
    }

    [LoggerMessage(EventId = 710, Level = LogLevel.Warning, Message = "Reconcile of {Kind} {Key} failed, retrying in {Delay}: {Reason}")]
    private partial void LogRetry(string kind, string key, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 711, Level = LogLevel.Error, Message = "Reconcile of {Kind} {Key} failed and will not be retried: {Reason}")]
    private partial void LogTerminal(string kind, string key, string reason);
}

public sealed record ControllerOptions
{
    public int Workers { get; init; } = 4;

    public TimeSpan ResyncPeriod { get; init; } = TimeSpan.FromMinutes(10);
}
