namespace Aperture.Runtime.Platform;

/// <summary>
/// Runs a storage write until it succeeds, waiting between attempts with exponential backoff and full
/// jitter (so many runtimes do not retry against one ClickHouse in step). The caller keeps whatever
/// makes a retry safe (the same deduplication token); only cancellation ends the attempts.
/// </summary>
public sealed class RetryBackoff(TimeSpan first, TimeSpan max, TimeProvider time)
{
    /// <param name="failed">Told of each failed attempt: its number, the delay it waits within, the error.</param>
    public async Task<T> RunAsync<T>(Func<CancellationToken, Task<T>> attempt, Action<int, TimeSpan, Exception> failed, CancellationToken cancellationToken)
    {
        var delay = first;
        for (var number = 1; ; number++)
        {
            try
            {
                return await attempt(cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException && e is not OutOfMemoryException)
            {
                failed(number, delay, e);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * delay.TotalMilliseconds), time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, max.Ticks));
            }
        }
    }

    public Task RunAsync(Func<CancellationToken, Task> attempt, Action<int, TimeSpan, Exception> failed, CancellationToken cancellationToken) =>
        RunAsync(
            async token =>
            {
                await attempt(token);
                return true;
            },
            failed,
            cancellationToken);
}
