using System.Collections.Immutable;

using Aperture.Runtime.Profiling;

namespace Aperture.Runtime.Tests.Profiling;

internal static class Samples
{
    public static CallStack Stack(params string[] functions) =>
        new([.. functions.Select((f, i) => new StackFrame((ulong)(0x1000 + i), f, "app"))]);

    public static ProfileBatch Batch(string agent, ulong sequence, long receivedAtNs, params (EventKind Kind, long Ts, ulong Count, ulong Value, CallStack Stack)[] events) =>
        new(agent, sequence, receivedAtNs, 10_000_000,
            [.. events.Select(e => new ProfileEvent(e.Kind, e.Ts, e.Stack.Id, e.Count, e.Value, 0, 0, 1, 1))],
            events.Select(e => e.Stack).DistinctBy(s => s.Id).ToDictionary(s => s.Id));

    public static ProfileBatch CpuBatch(string agent, ulong sequence, long ts, ulong count = 1) =>
        Batch(agent, sequence, ts, (EventKind.Cpu, ts, count, 0, Stack("main")));

    public static KindProfile Profile(EventKind kind, params (CallStack Stack, ulong Count)[] stacks)
    {
        var accumulator = new KindAccumulator(kind);
        foreach (var (stack, count) in stacks)
        {
            accumulator.Add(stack, count, 0, 1, 2, 10);
        }

        return accumulator.Build();
    }
}
