namespace Aperture.Runtime.Profiling;

/// <summary>
/// This aggregator's own counters, for /api/health and the alert snapshot (the Prometheus
/// metrics are process-wide; these belong to one aggregator instance).
/// </summary>
public sealed class AggregatorStats(TimeProvider time)
{
    private const int WindowSeconds = 60;
    private readonly long[] _eventsPerSecond = new long[WindowSeconds];
    private readonly long[] _bucketSecond = new long[WindowSeconds];
    private readonly Lock _lock = new();
    private long _pushOk;
    private long _pushError;
    private long _events;
    private long _flushOk;
    private long _flushError;
    private long _pendingRows;
    private long _drops;

    public long PushOk => Interlocked.Read(ref _pushOk);

    public long PushError => Interlocked.Read(ref _pushError);

    public long EventsTotal => Interlocked.Read(ref _events);

    public long FlushOk => Interlocked.Read(ref _flushOk);

    public long FlushError => Interlocked.Read(ref _flushError);

    public long PendingRows => Interlocked.Read(ref _pendingRows);

    public long Drops => Interlocked.Read(ref _drops);

    public void PushSucceeded(long events)
    {
        Interlocked.Increment(ref _pushOk);
        Interlocked.Add(ref _events, events);
        AggregatorMetrics.PushTotal.WithLabels(AggregatorMetrics.Ok).Inc();
        AggregatorMetrics.PushEventsTotal.Inc(events);
        var second = time.GetUtcNow().ToUnixTimeSeconds();
        lock (_lock)
        {
            var slot = (int)(second % WindowSeconds);
            if (_bucketSecond[slot] != second)
            {
                _bucketSecond[slot] = second;
                _eventsPerSecond[slot] = 0;
            }

            _eventsPerSecond[slot] += events;
        }
    }

    public void PushFailed()
    {
        Interlocked.Increment(ref _pushError);
        AggregatorMetrics.PushTotal.WithLabels(AggregatorMetrics.Error).Inc();
    }

    public void Dropped()
    {
        Interlocked.Increment(ref _drops);
        AggregatorMetrics.BufferDropsTotal.Inc();
    }

    public void RowsPending(long rows)
    {
        AggregatorMetrics.PendingRows.Set(Interlocked.Add(ref _pendingRows, rows));
    }

    public void FlushSucceeded(long rows, TimeSpan duration)
    {
        Interlocked.Increment(ref _flushOk);
        AggregatorMetrics.FlushTotal.WithLabels(AggregatorMetrics.Ok).Inc();
        AggregatorMetrics.FlushRowsTotal.Inc(rows);
        AggregatorMetrics.FlushDuration.Observe(duration.TotalSeconds);
        RowsPending(-rows);
    }

    public void FlushFailed(TimeSpan duration)
    {
        Interlocked.Increment(ref _flushError);
        AggregatorMetrics.FlushTotal.WithLabels(AggregatorMetrics.Error).Inc();
        AggregatorMetrics.FlushDuration.Observe(duration.TotalSeconds);
    }

    /// <summary>Errors over all pushes, 0 when there were none.</summary>
    public double PushErrorRate
    {
        get
        {
            var total = PushOk + PushError;
            return total == 0 ? 0 : (double)PushError / total;
        }
    }

    /// <summary>Events per second over the last minute.</summary>
    public double EventThroughput
    {
        get
        {
            var now = time.GetUtcNow().ToUnixTimeSeconds();
            long sum = 0;
            lock (_lock)
            {
                for (var i = 0; i < WindowSeconds; i++)
                {
                    if (now - _bucketSecond[i] < WindowSeconds)
                    {
                        sum += _eventsPerSecond[i];
                    }
                }
            }

            return sum / (double)WindowSeconds;
        }
    }
}
