using System.Buffers.Binary;
using System.Collections.Immutable;
using System.IO.Hashing;
using System.Text;

namespace Aperture.Runtime.Profiling;

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
        var id = new StackIdBuilder();
        foreach (var frame in frames)
        {
            id.Add(frame.Ip, frame.Function, frame.Module);
        }

        return id.Complete();
    }

    public bool Equals(CallStack? other) => other is not null && other.Id == Id && other.Frames.SequenceEqual(Frames);

    public override bool Equals(object? obj) => Equals(obj as CallStack);

    public override int GetHashCode() => Id.GetHashCode();
}

/// <summary>
/// Computes a stack's id frame by frame, so a caller holding frames in another shape (a protobuf
/// message) gets the id without building a <see cref="CallStack"/> first.
/// </summary>
public sealed class StackIdBuilder
{
    private readonly XxHash64 _hash = new();
    private readonly byte[] _scratch = new byte[512];

    public void Add(ulong ip, string function, string module)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_scratch, ip);
        _hash.Append(_scratch.AsSpan(0, 8));
        AppendText(function);
        AppendText(module);
    }

    /// <summary>The bytes one frame adds to a stack's key: its ip and its two names, each 0-terminated.</summary>
    public static int FrameKeyLength(int functionUtf8Length, int moduleUtf8Length) => 8 + functionUtf8Length + 1 + moduleUtf8Length + 1;

    /// <summary>
    /// Writes one frame's part of the key <see cref="Add"/> hashes, for callers that lay out a whole
    /// stack and hash it with <see cref="Hash"/> in one call; returns the bytes written.
    /// </summary>
    public static int WriteFrameKey(Span<byte> destination, ulong ip, ReadOnlySpan<byte> functionUtf8, ReadOnlySpan<byte> moduleUtf8)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, ip);
        var at = 8;
        functionUtf8.CopyTo(destination[at..]);
        at += functionUtf8.Length;
        destination[at++] = 0;
        moduleUtf8.CopyTo(destination[at..]);
        at += moduleUtf8.Length;
        destination[at++] = 0;
        return at;
    }

    /// <summary>The id of a stack whose frames' keys were laid out with <see cref="WriteFrameKey"/>.</summary>
    public static ulong Hash(ReadOnlySpan<byte> stackKey) => XxHash64.HashToUInt64(stackKey);

    /// <summary>The id of the frames added so far; the builder starts over.</summary>
    public ulong Complete()
    {
        var id = _hash.GetCurrentHashAsUInt64();
        _hash.Reset();
        return id;
    }

    /// <summary>The text's UTF-8 bytes and a 0 terminator, without allocating for names that fit the scratch space.</summary>
    private void AppendText(string text)
    {
        if (Encoding.UTF8.GetMaxByteCount(text.Length) < _scratch.Length)
        {
            var length = Encoding.UTF8.GetBytes(text, _scratch);
            _scratch[length] = 0;
            _hash.Append(_scratch.AsSpan(0, length + 1));
            return;
        }

        _hash.Append(Encoding.UTF8.GetBytes(text));
        _hash.Append([0]);
    }
}

/// <summary>
/// The stacks the aggregator holds, one object per distinct stack: batches refer to the shared
/// instance, so a stack that recurs in every batch is kept in memory once. Bounded; when full it
/// starts over (batches keep the instances they already refer to).
/// </summary>
public sealed class StackInterner(int capacity = 200_000)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, CallStack> _stacks = new();

    public int Count => _stacks.Count;

    public bool TryGet(ulong id, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CallStack? stack) => _stacks.TryGetValue(id, out stack);

    public CallStack Add(CallStack stack)
    {
        if (_stacks.Count >= capacity)
        {
            _stacks.Clear();
        }

        return _stacks.GetOrAdd(stack.Id, stack);
    }
}

/// <summary>
/// One event of a batch: a stack and how many samples or occurrences it stands for. It holds no
/// reference (the syscall name is an id), so the buffer's event arrays cost the GC nothing to mark.
/// </summary>
public readonly record struct ProfileEvent(
    EventKind Kind,
    long TimestampNs,
    ulong StackId,
    ulong Count,
    ulong Value,
    ulong LockAddress,
    int SyscallId,
    uint Pid,
    uint Tid)
{
    /// <summary>The lock's address (lock events) or the syscall's name (syscall events), as stored.</summary>
    public string Detail => Kind switch
    {
        EventKind.Lock => LockAddress == 0 ? string.Empty : $"0x{LockAddress:x}",
        EventKind.Syscall => SyscallNames.Name(SyscallId),
        _ => string.Empty,
    };
}

/// <summary>
/// Syscall names by small id. The set is closed (a few hundred on Linux); past the bound, further
/// names share one id rather than grow the table without limit.
/// </summary>
public static class SyscallNames
{
    private const int MaxNames = 4096;
    private const string Other = "[other]";
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, int> Ids = new(StringComparer.Ordinal);
    private static readonly List<string> Names = [string.Empty];
    private static readonly Lock Gate = new();

    public static int Id(string name)
    {
        if (name.Length == 0)
        {
            return 0;
        }

        if (Ids.TryGetValue(name, out var id))
        {
            return id;
        }

        lock (Gate)
        {
            if (Ids.TryGetValue(name, out id))
            {
                return id;
            }

            if (Names.Count >= MaxNames)
            {
                return Id(Other);
            }

            Names.Add(name);
            s_snapshot = [.. Names];
            Ids[name] = Names.Count - 1;
            return Names.Count - 1;
        }
    }

    // Readers take the array published after each addition, without the lock.
    private static volatile string[] s_snapshot = [string.Empty];

    public static string Name(int id)
    {
        var names = s_snapshot;
        return id >= 0 && id < names.Length ? names[id] : string.Empty;
    }
}

/// <summary>A batch as the aggregator holds it: its events and the stacks they refer to.</summary>
public sealed class ProfileBatch
{
    public ProfileBatch(
        string agentId,
        ulong sequence,
        long receivedAtNs,
        long samplePeriodNs,
        ImmutableArray<ProfileEvent> events,
        IReadOnlyDictionary<ulong, CallStack> stacks,
        string tenant = Platform.Tenants.Default)
    {
        Tenant = tenant;
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

    /// <summary>The tenant of the credential that pushed it.</summary>
    public string Tenant { get; }

    /// <summary>The profiling target (the workload) whose processes the events came from; empty when the agent did not know.</summary>
    public string Target { get; init; } = string.Empty;

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

/// <summary>
/// What an aggregation reads: one tenant's batches, filters, and at most <see cref="Limit"/> of the most recent.
/// <see cref="Target"/> null: every target's batches (and those without one).
/// </summary>
public sealed record ProfileQuery(string? AgentId, long? StartNs, long? EndNs, EventKind? Kind, int Limit, string Tenant = Platform.Tenants.Default, string? Target = null)
{
    public const int MaxLimit = 100;

    /// <summary>The longest target name a push or a query may carry (a Kubernetes object name's limit).</summary>
    public const int MaxTargetLength = 253;

    public bool Includes(in ProfileEvent e) =>
        (Kind is null || e.Kind == Kind) && (StartNs is null || e.TimestampNs >= StartNs) && (EndNs is null || e.TimestampNs < EndNs);

    public bool Selects(ProfileBatch batch) =>
        batch.Tenant == Tenant && (AgentId is null || batch.AgentId == AgentId) && (Target is null || batch.Target == Target) && batch.Overlaps(StartNs, EndNs)
        && (Kind is null || batch.Events.Any(e => e.Kind == Kind));
}
