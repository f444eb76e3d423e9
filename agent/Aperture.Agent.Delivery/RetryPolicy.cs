namespace Aperture.Agent.Delivery;

/// <summary>Exponential backoff with jitter: the n-th failure in a row waits a random time in [d/2, d], d = min(max, initial·2ⁿ).</summary>
public sealed record RetryPolicy(TimeSpan Initial, TimeSpan Max)
{
    public static readonly RetryPolicy Default = new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(30));

    public TimeSpan Delay(int failures, TimeSpan? retryAfter = null)
    {
        var exponent = Math.Min(Math.Max(failures - 1, 0), 30);
        var ceiling = Math.Min(Max.TotalMilliseconds, Initial.TotalMilliseconds * Math.Pow(2, exponent));
        var jittered = TimeSpan.FromMilliseconds(ceiling / 2 + (Random.Shared.NextDouble() * ceiling / 2));
        return retryAfter is { } asked && asked > jittered ? (asked < Max ? asked : Max) : jittered;
    }
}
