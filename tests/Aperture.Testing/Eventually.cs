using System.Diagnostics;

namespace Aperture.Testing;

/// <summary>Polls a condition that other processes or threads make true, with a deadline.</summary>
public static class Eventually
{
    /// <returns>How long it took.</returns>
    /// <exception cref="TimeoutException">The condition did not hold within <paramref name="timeout"/>.</exception>
    public static async Task<TimeSpan> HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < timeout)
        {
            if (await condition())
            {
                return waited.Elapsed;
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new TimeoutException($"{what} did not happen within {timeout}");
    }

    public static Task<TimeSpan> HoldsAsync(Func<bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken = default) =>
        HoldsAsync(() => Task.FromResult(condition()), timeout, what, cancellationToken);
}
