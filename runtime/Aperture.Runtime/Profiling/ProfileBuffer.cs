namespace Aperture.Runtime.Profiling;

public enum BufferAddResult
{
    Added,
    Full,
}

/// <summary>
/// The aggregator's in-memory window of recent batches, bounded by a batch count. A batch stays
/// until it has been written to storage and is older than the retention; a batch not yet written
/// is never evicted, so when storage falls behind the buffer fills and new batches are refused
/// (and counted) rather than old ones silently lost.
/// </summary>
public sealed class ProfileBuffer
{
    private readonly LinkedList<Entry> _entries = new();
    private readonly Dictionary<ProfileBatch, LinkedListNode<Entry>> _nodes = new(ReferenceEqualityComparer.Instance);
    private readonly TimeSpan _retention;
    private readonly TimeProvider _time;
    private readonly bool _writesToStorage;
    private readonly Lock _lock = new();
    private long _coverageStartNs;
    private int _unflushed;

    /// <param name="writesToStorage">False when no storage is configured: batches count as written at once.</param>
    public ProfileBuffer(int capacity, TimeSpan retention, TimeProvider time, bool writesToStorage)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _retention = retention;
        _time = time;
        _writesToStorage = writesToStorage;
        // With storage, what happened before this process started is only in storage.
        _coverageStartNs = writesToStorage ? NowNs() : long.MinValue;
    }

    private sealed class Entry(ProfileBatch batch, bool flushed)
    {
        public ProfileBatch Batch { get; } = batch;

        public bool Flushed { get; set; } = flushed;
    }

    public int Capacity { get; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Batches not yet written to storage.</summary>
    public int Unflushed
    {
        get
        {
            lock (_lock)
            {
                return _unflushed;
            }
        }
    }

    public double Utilization => (double)Count / Capacity;

    /// <summary>Events at or after this time are all in the buffer, if they arrived at all.</summary>
    public long CoverageStartNs
    {
        get
        {
            lock (_lock)
            {
                return _coverageStartNs;
            }
        }
    }

    public BufferAddResult TryAdd(ProfileBatch batch)
    {
        lock (_lock)
        {
            EvictExpired();
            if (_entries.Count >= Capacity && !EvictOldestFlushed())
            {
                return BufferAddResult.Full;
            }

            var flushed = !_writesToStorage;
            _nodes[batch] = _entries.AddLast(new Entry(batch, flushed));
            if (!flushed)
            {
                _unflushed++;
            }

            return BufferAddResult.Added;
        }
    }

    /// <summary>Storage has the batches now; they may be evicted once past the retention.</summary>
    public void MarkFlushed(IEnumerable<ProfileBatch> batches)
    {
        lock (_lock)
        {
            foreach (var batch in batches)
            {
                if (_nodes.TryGetValue(batch, out var node) && !node.Value.Flushed)
                {
                    node.Value.Flushed = true;
                    _unflushed--;
                }
            }

            EvictExpired();
        }
    }

    /// <summary>A snapshot of the batches, newest first.</summary>
    public IReadOnlyList<ProfileBatch> NewestFirst()
    {
        lock (_lock)
        {
            EvictExpired();
            var list = new List<ProfileBatch>(_entries.Count);
            for (var node = _entries.Last; node is not null; node = node.Previous)
            {
                list.Add(node.Value.Batch);
            }

            return list;
        }
    }

    private long NowNs() => (_time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;

    private void EvictExpired()
    {
        var cutoff = NowNs() - (_retention.Ticks * 100);
        while (_entries.First is { } first && first.Value.Flushed && first.Value.Batch.ReceivedAtNs < cutoff)
        {
            Remove(first);
        }
    }

    private bool EvictOldestFlushed()
    {
        for (var node = _entries.First; node is not null; node = node.Next)
        {
            if (node.Value.Flushed)
            {
                Remove(node);
                return true;
            }
        }

        return false;
    }

    private void Remove(LinkedListNode<Entry> node)
    {
        _entries.Remove(node);
        _nodes.Remove(node.Value.Batch);
        if (node.Value.Batch.MaxTimestampNs >= _coverageStartNs)
        {
            _coverageStartNs = node.Value.Batch.MaxTimestampNs + 1;
        }
    }
}
