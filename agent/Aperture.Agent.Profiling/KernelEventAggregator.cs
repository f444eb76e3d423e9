namespace Aperture.Agent.Profiling;

/// <summary>Syscalls of one stack of one thread between two collections: how many, and their summed latency.</summary>
/// <param name="FramesRootFirst">The stack at syscall entry, outermost caller first.</param>
public sealed record SyscallAggregate(int Pid, int Tid, IReadOnlyList<SampledFrame> FramesRootFirst, string Syscall, long Count, long TotalLatencyNs, long FirstTimestampNs);

/// <summary>Futex waits of one stack of one thread on one lock word between two collections.</summary>
public sealed record LockAggregate(int Pid, int Tid, IReadOnlyList<SampledFrame> FramesRootFirst, ulong LockAddress, long Count, long TotalWaitNs, long FirstTimestampNs);

/// <summary>What one <see cref="KernelEventCollector.Collect"/> gives.</summary>
public sealed record KernelEventBatch(IReadOnlyList<SyscallAggregate> Syscalls, IReadOnlyList<LockAggregate> Locks, long DroppedEvents);

/// <summary>
/// Pairs syscall (and futex) entries with their exits per thread and aggregates the completed ones by stack.
/// Pure, so the pairing is tested without the kernel. Not thread-safe: the collector guards it.
/// </summary>
internal sealed class KernelEventAggregator(long minLatencyNs, int maxPending, int maxAggregates)
{
    private readonly Dictionary<int, Pending> _syscalls = [];
    private readonly Dictionary<int, Pending> _futexes = [];
    private Dictionary<Key, Totals> _syscallTotals = [];
    private Dictionary<Key, Totals> _lockTotals = [];

    /// <summary>Events dropped because a map was full, since construction.</summary>
    public long Dropped { get; private set; }

    /// <summary>How long an entry waits for its exit before a full map may evict it (a thread that died mid-call never exits).</summary>
    internal const long StalePendingNs = 600_000_000_000;

    public void OnSyscallEnter(int pid, int tid, long timeNs, long nr, ulong[] stack, bool[] kernel)
    {
        // exit and exit_group (x86_64) never return, so an entry would only wait for an exit that cannot come.
        if (nr is not (60 or 231))
        {
            Begin(_syscalls, tid, new Pending(pid, timeNs, nr, stack, kernel));
        }
    }

    public void OnSyscallExit(int tid, long timeNs, long nr) => End(_syscalls, _syscallTotals, tid, timeNs, nr, matchValue: true);

    /// <summary>Only waiting futex ops count as lock waits; wakes and requeues are not contention.</summary>
    public void OnFutexEnter(int pid, int tid, long timeNs, ulong uaddr, long op, ulong[] stack, bool[] kernel)
    {
        if (IsWait(op))
        {
            Begin(_futexes, tid, new Pending(pid, timeNs, (long)uaddr, stack, kernel));
        }
    }

    public void OnFutexExit(int tid, long timeNs) => End(_futexes, _lockTotals, tid, timeNs, 0, matchValue: false);

    /// <summary>FUTEX_WAIT (0), FUTEX_LOCK_PI (6), FUTEX_WAIT_BITSET (9), FUTEX_WAIT_REQUEUE_PI (11), FUTEX_LOCK_PI2 (13), with the private/clock flags masked off.</summary>
    internal static bool IsWait(long op) => (op & 0x7f) is 0 or 6 or 9 or 11 or 13;

    public (Dictionary<Key, Totals> Syscalls, Dictionary<Key, Totals> Locks) Take()
    {
        var taken = (_syscallTotals, _lockTotals);
        _syscallTotals = [];
        _lockTotals = [];
        return taken;
    }

    private void Begin(Dictionary<int, Pending> pending, int tid, Pending entry)
    {
        if (pending.Count >= maxPending && !pending.ContainsKey(tid))
        {
            foreach (var stale in pending.Where(p => entry.TimeNs - p.Value.TimeNs > StalePendingNs).Select(p => p.Key).ToList())
            {
                pending.Remove(stale);
            }

            if (pending.Count >= maxPending)
            {
                Dropped++;
                return;
            }
        }

        // A new entry without an exit (a lost record, or a thread that died mid-call) replaces the old one.
        pending[tid] = entry;
    }

    private void End(Dictionary<int, Pending> pending, Dictionary<Key, Totals> totals, int tid, long timeNs, long nr, bool matchValue)
    {
        if (!pending.Remove(tid, out var entry) || (matchValue && entry.Value != nr))
        {
            return;
        }

        var latency = Math.Max(0, timeNs - entry.TimeNs);
        if (latency < minLatencyNs)
        {
            return;
        }

        var key = new Key(entry.Pid, tid, entry.Value, entry.Stack, entry.Kernel);
        if (totals.TryGetValue(key, out var total))
        {
            total.Count++;
            total.TotalNs += latency;
            total.First = Math.Min(total.First, entry.TimeNs);
        }
        else if (totals.Count >= maxAggregates)
        {
            Dropped++;
        }
        else
        {
            totals[key] = new Totals { Count = 1, TotalNs = latency, First = entry.TimeNs };
        }
    }

    private sealed record Pending(int Pid, long TimeNs, long Value, ulong[] Stack, bool[] Kernel);

    /// <param name="Value">The syscall number, or the futex address.</param>
    internal sealed class Key(int pid, int tid, long value, ulong[] stack, bool[] kernel) : IEquatable<Key>
    {
        private readonly int _hash = HashCode.Combine(pid, tid, value, stack.Length, stack.Length > 0 ? stack[0] : 0, stack.Length > 1 ? stack[^1] : 0);

        public int Pid { get; } = pid;

        public int Tid { get; } = tid;

        public long Value { get; } = value;

        public ulong[] Stack { get; } = stack;

        public bool[] Kernel { get; } = kernel;

        public bool Equals(Key? other) => other != null && other._hash == _hash && other.Pid == Pid && other.Tid == Tid && other.Value == Value
            && other.Stack.AsSpan().SequenceEqual(Stack) && other.Kernel.AsSpan().SequenceEqual(Kernel);

        public override bool Equals(object? obj) => Equals(obj as Key);

        public override int GetHashCode() => _hash;
    }

    internal sealed class Totals
    {
        public long Count { get; set; }

        public long TotalNs { get; set; }

        public long First { get; set; }
    }
}
