using System.Buffers.Binary;
using System.Collections.Immutable;
using System.IO.Hashing;
using System.Text;

namespace Aperture.Profiling;

/// <summary>The three kinds of profiling event.</summary>
public enum EventKind
{
    Cpu = 1,
    Lock = 2,
    Syscall = 3,
}

public static class EventKinds
{
    public static readonly EventKind[] All = [EventKind.Cpu, EventKind.Lock, EventKind.Syscall];

    public static string Name(this EventKind kind) => kind switch
    {
        EventKind.Cpu => "cpu",
        EventKind.Lock => "lock",
        EventKind.Syscall => "syscall",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    public static bool TryParse(string? text, out EventKind kind)
    {
        switch (text)
        {
            case "cpu": kind = EventKind.Cpu; return true;
            case "lock": kind = EventKind.Lock; return true;
            case "syscall": kind = EventKind.Syscall; return true;
            default: kind = default; return false;
        }
    }
}

public readonly record struct StackFrame(ulong Ip, string Function, string Module);

/// <summary>
/// A call stack, root first. Its id is a 64-bit hash of its frames, so the same stack from any
/// agent gets the same id and is stored once.
/// </summary>
public sealed class CallStack : IEquatable<CallStack>
{
    public CallStack(ImmutableArray<StackFrame> frames)
    {
        Frames = frames;
        Id = ComputeId(frames);
    }

    public ImmutableArray<StackFrame> Frames { get; }

    public ulong Id { get; }

    /// <summary>The frames' names joined root first with ';' (the collapsed-stack form).</summary>
    public string Collapsed => string.Join(';', Frames.Select(f => f.Function.Length > 0 ? f.Function : $"0x{f.Ip:x}"));

    public static ulong ComputeId(ImmutableArray<StackFrame> frames)
    {
        var hash = new XxHash64();
        Span<byte> ip = stackalloc byte[8];
        foreach (var frame in frames)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(ip, frame.Ip);
            hash.Append(ip);
            hash.Append(Encoding.UTF8.GetBytes(frame.Function));
            hash.Append([0]);
            hash.Append(Encoding.UTF8.GetBytes(frame.Module));
            hash.Append([0]);
        }

        return hash.GetCurrentHashAsUInt64();
    }

    public bool Equals(CallStack? other) => other is not null && other.Id == Id && other.Frames.SequenceEqual(Frames);

    public override bool Equals(object? obj) => Equals(obj as CallStack);

    public override int GetHashCode() => Id.GetHashCode();
}

/// <summary>One event of a batch: a stack and how many samples or occurrences it stands for.</summary>
public readonly record struct ProfileEvent(
    EventKind Kind,
    long TimestampNs,
    ulong StackId,
    ulong Count,
    ulong Value,
    string Detail,
    uint Pid,
    uint Tid);

/// <summary>A batch as the aggregator holds it: its events and the stacks they refer to.</summary>
public sealed class ProfileBatch
{
    public ProfileBatch(
        string agentId,
        ulong sequence,
        long receivedAtNs,
        long samplePeriodNs,
        ImmutableArray<ProfileEvent> events,
        IReadOnlyDictionary<ulong, CallStack> stacks)
    {
        AgentId = agentId;
        Sequence = sequence;
        ReceivedAtNs = receivedAtNs;
        SamplePeriodNs = samplePeriodNs;
        Events = events;
        Stacks = stacks;
        MinTimestampNs = events.IsEmpty ? 0 : events.Min(e => e.TimestampNs);
        MaxTimestampNs = events.IsEmpty ? 0 : events.Max(e => e.TimestampNs);
        SampleCount = events.Aggregate(0UL, (sum, e) => sum + e.Count);
    }

    public string AgentId { get; }

    public ulong Sequence { get; }

    public long ReceivedAtNs { get; }

    public long SamplePeriodNs { get; }

    public ImmutableArray<ProfileEvent> Events { get; }

    public IReadOnlyDictionary<ulong, CallStack> Stacks { get; }

    public long MinTimestampNs { get; }

    public long MaxTimestampNs { get; }

    public ulong SampleCount { get; }

    /// <summary>The batch has an event in [start, end) (open where null).</summary>
    public bool Overlaps(long? startNs, long? endNs) =>
        !Events.IsEmpty && (startNs is null || MaxTimestampNs >= startNs) && (endNs is null || MinTimestampNs < endNs);
}

/// <summary>What an aggregation reads: filters, and at most <see cref="Limit"/> of the most recent batches.</summary>
public sealed record ProfileQuery(string? AgentId, long? StartNs, long? EndNs, EventKind? Kind, int Limit)
{
    public const int MaxLimit = 100;

    public bool Includes(in ProfileEvent e) =>
        (Kind is null || e.Kind == Kind) && (StartNs is null || e.TimestampNs >= StartNs) && (EndNs is null || e.TimestampNs < EndNs);

    public bool Selects(ProfileBatch batch) =>
        (AgentId is null || batch.AgentId == AgentId) && batch.Overlaps(StartNs, EndNs)
        && (Kind is null || batch.Events.Any(e => e.Kind == Kind));
}
