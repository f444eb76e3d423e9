namespace Aperture.Runtime.Profiling;

/// <summary>One stack's total in a profile.</summary>
public sealed record StackTotal(CallStack Stack, ulong Count, ulong Value);

/// <summary>The aggregated profile of one event kind.</summary>
public sealed record KindProfile(
    EventKind Kind,
    long StartTime,
    long EndTime,
    ulong TotalSamples,
    long SamplePeriodNs,
    IReadOnlyList<StackTotal> Stacks)
{
    public static KindProfile Empty(EventKind kind) => new(kind, 0, 0, 0, 0, []);
}

/// <summary>An aggregation's answer: a profile per kind, and how many matching batches the limit left out.</summary>
public sealed record ProfileAggregate(
    KindProfile Cpu,
    KindProfile Lock,
    KindProfile Syscall,
    int SkippedBatches,
    string Source)
{
    /// <summary>Samples (cpu) and occurrences (lock, syscall) across all three kinds.</summary>
    public ulong TotalEvents => Cpu.TotalSamples + Lock.TotalSamples + Syscall.TotalSamples;

    public KindProfile For(EventKind kind) => kind switch
    {
        EventKind.Cpu => Cpu,
        EventKind.Lock => Lock,
        _ => Syscall,
    };
}

/// <summary>Accumulates per-stack totals of one kind; the stacks come out largest first.</summary>
public sealed class KindAccumulator(EventKind kind)
{
    private readonly Dictionary<ulong, (CallStack Stack, ulong Count, ulong Value)> _stacks = [];
    private long _start = long.MaxValue;
    private long _end = long.MinValue;
    private ulong _total;
    private long _period;

    public void Add(CallStack stack, ulong count, ulong value, long minTimestampNs, long maxTimestampNs, long samplePeriodNs)
    {
        ref var slot = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_stacks, stack.Id, out var exists);
        slot = exists ? (slot.Stack, slot.Count + count, slot.Value + value) : (stack, count, value);
        _total += count;
        _start = Math.Min(_start, minTimestampNs);
        _end = Math.Max(_end, maxTimestampNs);
        // The largest period seen: an order-free choice, so buffer and storage agree.
        _period = Math.Max(_period, samplePeriodNs);
    }

    public KindProfile Build()
    {
        if (_stacks.Count == 0)
        {
            return KindProfile.Empty(kind);
        }

        var stacks = _stacks.Values
            .Select(s => new StackTotal(s.Stack, s.Count, s.Value))
            .OrderByDescending(s => s.Count)
            .ThenBy(s => s.Stack.Collapsed, StringComparer.Ordinal)
            .ToList();
        return new KindProfile(kind, _start, _end, _total, kind == EventKind.Cpu ? _period : 0, stacks);
    }
}

/// <summary>Aggregates batches held in memory, with the same selection rules as the storage query.</summary>
public static class BufferAggregation
{
    /// <param name="newestFirst">Batches in the order they were received, newest first.</param>
    public static ProfileAggregate Aggregate(IEnumerable<ProfileBatch> newestFirst, ProfileQuery query)
    {
        var accumulators = EventKinds.All.ToDictionary(k => k, k => new KindAccumulator(k));
        var taken = 0;
        var skipped = 0;
        foreach (var batch in newestFirst)
        {
            if (!query.Selects(batch))
            {
                continue;
            }

            if (taken == query.Limit)
            {
                skipped++;
                continue;
            }

            taken++;
            foreach (var e in batch.Events)
            {
                if (query.Includes(e))
                {
                    accumulators[e.Kind].Add(batch.Stacks[e.StackId], e.Count, e.Value, e.TimestampNs, e.TimestampNs, batch.SamplePeriodNs);
                }
            }
        }

        return new ProfileAggregate(
            accumulators[EventKind.Cpu].Build(),
            accumulators[EventKind.Lock].Build(),
            accumulators[EventKind.Syscall].Build(),
            skipped,
            "buffer");
    }
}
