namespace Aperture.Operator.Controller;

/// <summary>
/// The controller's queue of keys (namespace/name), with client-go's guarantees: a key queued
/// twice is processed once; a key is never handed to two workers at once (one added while it is
/// being processed comes back after <see cref="Done"/>); failures back off per key, doubling up
/// to a cap, until <see cref="Forget"/>.
/// </summary>
public sealed class WorkQueue<TKey> : IDisposable
    where TKey : notnull
{
    private readonly LinkedList<TKey> _ready = new();
    private readonly HashSet<TKey> _dirty = [];
    private readonly HashSet<TKey> _processing = [];
    private readonly Dictionary<TKey, int> _failures = [];
    private readonly List<ITimer> _timers = [];
    private readonly SemaphoreSlim _signal = new(0);
    private readonly Lock _lock = new();
    private readonly TimeProvider _time;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private bool _shutDown;

    public WorkQueue(TimeProvider time, TimeSpan baseDelay, TimeSpan maxDelay)
    {
        _time = time;
        _baseDelay = baseDelay;
        _maxDelay = maxDelay;
    }

    /// <summary>Keys waiting to be taken (not those being processed or delayed).</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _ready.Count;
            }
        }
    }

    public void Add(TKey key)
    {
        lock (_lock)
        {
            if (_shutDown || !_dirty.Add(key))
            {
                return;
            }

            if (_processing.Contains(key))
            {
                return;
            }

            _ready.AddLast(key);
        }

        _signal.Release();
    }

    /// <summary>Adds the key once <paramref name="delay"/> has passed (polling, or a backoff).</summary>
    public void AddAfter(TKey key, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            Add(key);
            return;
        }

        lock (_lock)
        {
            if (_shutDown)
            {
                return;
            }

            ITimer? timer = null;
            timer = _time.CreateTimer(
                _ =>
                {
                    lock (_lock)
                    {
                        _timers.Remove(timer!);
                    }

                    timer!.Dispose();
                    Add(key);
                },
                null,
                delay,
                Timeout.InfiniteTimeSpan);
            _timers.Add(timer);
        }
    }

    /// <summary>Adds the key after its backoff: the base delay, doubled for each failure in a row, capped.</summary>
    public TimeSpan AddRateLimited(TKey key)
    {
        TimeSpan delay;
        lock (_lock)
        {
            var failures = _failures.GetValueOrDefault(key);
            _failures[key] = failures + 1;
            var factor = Math.Pow(2, Math.Min(failures, 30));
            delay = TimeSpan.FromTicks((long)Math.Min(_baseDelay.Ticks * factor, _maxDelay.Ticks));
        }

        AddAfter(key, delay);
        return delay;
    }

    /// <summary>The key succeeded: its next failure starts from the base delay again.</summary>
    public void Forget(TKey key)
    {
        lock (_lock)
        {
            _failures.Remove(key);
        }
    }

    public int Failures(TKey key)
    {
        lock (_lock)
        {
            return _failures.GetValueOrDefault(key);
        }
    }

    /// <summary>Waits for a key; the caller must call <see cref="Done"/> with it. Null once shut down.</summary>
    public async Task<TKey?> TakeAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            await _signal.WaitAsync(cancellationToken);
            lock (_lock)
            {
                if (_shutDown)
                {
                    return default;
                }

                if (_ready.First is { } first)
                {
                    _ready.RemoveFirst();
                    _dirty.Remove(first.Value);
                    _processing.Add(first.Value);
                    return first.Value;
                }
            }
        }
    }

    public void Done(TKey key)
    {
        var requeued = false;
        lock (_lock)
        {
            _processing.Remove(key);
            if (_dirty.Contains(key) && !_shutDown)
            {
                _ready.AddLast(key);
                requeued = true;
            }
        }

        if (requeued)
        {
            _signal.Release();
        }
    }

    /// <summary>Stops handing out keys; workers waiting in <see cref="TakeAsync"/> get null.</summary>
    public void ShutDown()
    {
        lock (_lock)
        {
            if (_shutDown)
            {
                return;
            }

            _shutDown = true;
            foreach (var timer in _timers)
            {
                timer.Dispose();
            }

            _timers.Clear();
        }

        _signal.Release(int.MaxValue / 2);
    }

    public void Dispose()
    {
        ShutDown();
        _signal.Dispose();
    }
}
