namespace Aperture.Agent.Profiling;

/// <summary>
/// Empties a sampler's ring buffers on a timer between two collections, so they do not overflow; the CPU profiler
/// and the kernel-event collector each run one. A failed drain is reported and the next tick tries again. Disposing
/// stops the timer and waits for a drain in progress, so the caller may close the buffers afterwards.
/// </summary>
internal sealed class PeriodicDrain : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    public PeriodicDrain(TimeSpan interval, Action drain, Action<Exception> failed)
    {
        _loop = Task.Run(() => LoopAsync(interval, drain, failed, _stop.Token));
    }

    public void Dispose()
    {
        _stop.Cancel();
        try
        {
            _loop.GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            // The loop ends by cancellation.
        }

        _stop.Dispose();
    }

    private static async Task LoopAsync(TimeSpan interval, Action drain, Action<Exception> failed, CancellationToken cancellation)
    {
        using var timer = new PeriodicTimer(interval);
        while (await timer.WaitForNextTickAsync(cancellation).ConfigureAwait(false))
        {
            try
            {
                drain();
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed(e);
            }
        }
    }
}
