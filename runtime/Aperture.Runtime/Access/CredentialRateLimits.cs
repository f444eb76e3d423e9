using System.Collections.Concurrent;

namespace Aperture.Runtime.Access;

/// <summary>
/// Per-credential token buckets: an API key may make its <c>rate_limit_rps</c> requests per second, with a burst
/// of one second's worth. Held in this process: each replica enforces the limit on what it serves.
/// </summary>
public sealed class CredentialRateLimits(TimeProvider time)
{
    private const int MaxBuckets = 100_000;
    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.Ordinal);

    /// <returns>Null when the request may go on, else how long until a token is there.</returns>
    public TimeSpan? TryAcquire(string credential, int ratePerSecond)
    {
        if (!_buckets.TryGetValue(credential, out var bucket))
        {
            // ConcurrentDictionary.Count takes every lock of the dictionary: asked only when a bucket is added.
            if (_buckets.Count >= MaxBuckets)
            {
                _buckets.Clear();
            }

            bucket = _buckets.GetOrAdd(credential, _ => new Bucket(ratePerSecond, time.GetTimestamp()));
        }

        return bucket.TryTake(ratePerSecond, time.GetTimestamp(), time.TimestampFrequency);
    }

    private sealed class Bucket(double tokens, long stamp)
    {
        private readonly Lock _lock = new();
        private double _tokens = tokens;
        private long _stamp = stamp;

        public TimeSpan? TryTake(int rate, long now, long frequency)
        {
            lock (_lock)
            {
                _tokens = Math.Min(rate, _tokens + ((now - _stamp) * (double)rate / frequency));
                _stamp = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return null;
                }

                return TimeSpan.FromSeconds((1 - _tokens) / rate);
            }
        }
    }
}
