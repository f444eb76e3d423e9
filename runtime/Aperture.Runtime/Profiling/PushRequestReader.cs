using System.Collections.Immutable;
using System.Text;
using Aperture.Runtime.Platform;
using StackFrame = Aperture.Runtime.Profiling.StackFrame;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Reads a <c>PushRequest</c>'s protobuf bytes straight into a <see cref="ProfileBatch"/>, checking
/// it against the limits. The generated message would be some 4,400 objects for a batch of 1,000
/// events over 200 stacks, nearly all garbage at once: parsing them was most of the aggregator's CPU
/// per pushed sample. Here names stay UTF-8 slices of the payload, a stack is hashed from them, and
/// only a stack not held yet is decoded into strings.
/// </summary>
public static class PushRequestReader
{
    private const int MaxAgentIdLength = 256;
    private const int MaxTextLength = 4096;
    private const int MaxSyscallNameLength = 64;

    // Field tags: (field number << 3) | wire type (0 varint, 2 length-delimited).
    private const uint AgentIdTag = (1 << 3) | 2;
    private const uint SequenceTag = 2 << 3;
    private const uint EventsTag = (3 << 3) | 2;
    private const uint SamplePeriodTag = 4 << 3;
    private const uint StacksTag = (6 << 3) | 2;
    private const uint StringsTag = (7 << 3) | 2;
    private const uint TenantTag = (8 << 3) | 2;
    private const uint TargetTag = (9 << 3) | 2;

    private const uint FramesTag = (1 << 3) | 2;

    private const uint FrameIpTag = 1 << 3;
    private const uint FrameFunctionTag = (2 << 3) | 2;
    private const uint FrameModuleTag = (3 << 3) | 2;
    private const uint FrameFunctionIndexTag = 4 << 3;
    private const uint FrameModuleIndexTag = 5 << 3;

    private const uint EventTypeTag = 1 << 3;
    private const uint EventTimestampTag = 2 << 3;
    private const uint EventStackTag = (3 << 3) | 2;
    private const uint EventCountTag = 4 << 3;
    private const uint EventPidTag = 5 << 3;
    private const uint EventTidTag = 6 << 3;
    private const uint EventWaitTag = 7 << 3;
    private const uint EventLockAddressTag = 8 << 3;
    private const uint EventLatencyTag = 9 << 3;
    private const uint EventSyscallTag = (10 << 3) | 2;
    private const uint EventStackIndexTag = 11 << 3;

    /// <param name="tenant">The credential's tenant: the batch's, unless the batch names another.</param>
    public static ProfileBatch Read(ReadOnlySpan<byte> payload, ProfilingOptions limits, long receivedAtNs, StackInterner stacksHeld, string tenant = Tenants.Default)
    {
        var agentId = default(Slice);
        var namedTenant = default(Slice);
        var target = default(Slice);
        ulong sequence = 0;
        ulong samplePeriodNs = 0;
        var events = new List<Slice>(Math.Min(limits.MaxEventsPerBatch, 1024));
        var stackSlices = new List<Slice>();
        var strings = new List<Slice>();
        var reader = new WireReader(payload, 0, payload.Length);
        while (reader.TryReadTag(out var tag))
        {
            switch (tag)
            {
                case AgentIdTag: agentId = reader.ReadSlice(); break;
                case SequenceTag: sequence = reader.ReadVarint(); break;
                case EventsTag: events.Add(reader.ReadSlice()); break;
                case SamplePeriodTag: samplePeriodNs = reader.ReadVarint(); break;
                case StacksTag: stackSlices.Add(reader.ReadSlice()); break;
                case StringsTag: strings.Add(reader.ReadSlice()); break;
                case TenantTag: namedTenant = reader.ReadSlice(); break;
                case TargetTag: target = reader.ReadSlice(); break;
                default: reader.Skip(tag); break;
            }
        }

        if (namedTenant.Length > 0)
        {
            tenant = Decode(payload, namedTenant, "tenant");
            if (!Access.TenantIds.IsValid(tenant))
            {
                throw new InvalidRequestException("tenant", "tenant must be a tenant id (lower-case letters, digits and '-', at most 63)");
            }
        }

        // A run of bytes longer than four per character is too long whatever it decodes to. The target becomes a
        // series' service id at the central watchdog, which takes printable names only.
        var targetName = target.Length == 0 ? string.Empty
            : target.Length > ProfileQuery.MaxTargetLength * 4 ? throw TargetTooLong()
            : Decode(payload, target, "target");
        if (targetName.Length > ProfileQuery.MaxTargetLength || targetName.Any(char.IsControl))
        {
            throw TargetTooLong();
        }

        if (agentId.Length == 0 || agentId.Length > MaxAgentIdLength * 4)
        {
            throw new InvalidRequestException("agent_id", $"agent_id is required and at most {MaxAgentIdLength} characters");
        }

        var agent = Decode(payload, agentId, "agent_id");
        if (string.IsNullOrWhiteSpace(agent) || agent.Length > MaxAgentIdLength)
        {
            throw new InvalidRequestException("agent_id", $"agent_id is required and at most {MaxAgentIdLength} characters");
        }

        if (events.Count > limits.MaxEventsPerBatch)
        {
            throw new InvalidRequestException("events", $"a batch holds at most {limits.MaxEventsPerBatch} events, this one {events.Count}");
        }

        if (samplePeriodNs > long.MaxValue)
        {
            throw new InvalidRequestException("sample_period_ns", "sample_period_ns is out of range");
        }

        if (stackSlices.Count > limits.MaxEventsPerBatch)
        {
            throw new InvalidRequestException("stacks", $"a batch holds at most {limits.MaxEventsPerBatch} stacks, this one {stackSlices.Count}");
        }

        if (strings.Count > limits.MaxEventsPerBatch * 4)
        {
            throw new InvalidRequestException("strings", $"a batch holds at most {limits.MaxEventsPerBatch * 4} strings, this one {strings.Count}");
        }

        if (strings.Count > 0 && strings[0].Length != 0)
        {
            throw new InvalidRequestException("strings", "strings[0] must be the empty string");
        }

        var context = new StackReader(payload, strings, limits.MaxFramesPerStack, stacksHeld);

        // Each distinct stack of the batch is hashed once.
        var table = new CallStack[stackSlices.Count];
        for (var s = 0; s < table.Length; s++)
        {
            table[s] = context.Read(stackSlices[s], "stacks", s);
        }

        var stacks = new Dictionary<ulong, CallStack>(table.Length);
        var built = ImmutableArray.CreateBuilder<ProfileEvent>(events.Count);
        for (var i = 0; i < events.Count; i++)
        {
            built.Add(ReadEvent(payload, events[i], i, table, ref context, stacks));
        }

        return new ProfileBatch(agent, sequence, receivedAtNs, (long)samplePeriodNs, built.MoveToImmutable(), stacks, tenant) { Target = targetName };
    }

    private static ProfileEvent ReadEvent(
        ReadOnlySpan<byte> payload, Slice slice, int index, CallStack[] table, ref StackReader stackReader, Dictionary<ulong, CallStack> stacks)
    {
        ulong type = 0, timestamp = 0, count = 0, wait = 0, lockAddress = 0, latency = 0;
        uint pid = 0, tid = 0;
        ulong? stackIndex = null;
        var inlineStack = default(Slice);
        var hasInlineStack = false;
        var syscall = default(Slice);
        var reader = new WireReader(payload, slice.Start, slice.End);
        while (reader.TryReadTag(out var tag))
        {
            switch (tag)
            {
                case EventTypeTag: type = reader.ReadVarint(); break;
                case EventTimestampTag: timestamp = reader.ReadVarint(); break;
                case EventStackTag: inlineStack = reader.ReadSlice(); hasInlineStack = true; break;
                case EventCountTag: count = reader.ReadVarint(); break;
                case EventPidTag: pid = (uint)reader.ReadVarint(); break;
                case EventTidTag: tid = (uint)reader.ReadVarint(); break;
                case EventWaitTag: wait = reader.ReadVarint(); break;
                case EventLockAddressTag: lockAddress = reader.ReadVarint(); break;
                case EventLatencyTag: latency = reader.ReadVarint(); break;
                case EventSyscallTag: syscall = reader.ReadSlice(); break;
                case EventStackIndexTag: stackIndex = (uint)reader.ReadVarint(); break;
                default: reader.Skip(tag); break;
            }
        }

        // Enum values arrive as int32 varints: a negative one is ten bytes of 0xff.., out of range either way.
        var kind = type switch
        {
            1 => EventKind.Cpu,
            2 => EventKind.Lock,
            3 => EventKind.Syscall,
            _ => throw new InvalidRequestException($"events[{index}].type", $"events[{index}] has unknown event type {(int)type}; expected cpu, lock or syscall"),
        };
        if (timestamp > long.MaxValue)
        {
            throw new InvalidRequestException($"events[{index}].timestamp_ns", $"events[{index}].timestamp_ns is out of range");
        }

        var stack = hasInlineStack ? stackReader.Read(inlineStack, "events", index)
            : stackIndex is { } at && at < (ulong)table.Length ? table[at]
            : throw new InvalidRequestException($"events[{index}].stack", $"events[{index}] has neither a stack nor a stack_index into the batch's {table.Length} stacks");
        stacks.TryAdd(stack.Id, stack);
        var samples = Math.Max(1UL, count);
        switch (kind)
        {
            case EventKind.Lock:
                return new ProfileEvent(kind, (long)timestamp, stack.Id, samples, wait, lockAddress, 0, pid, tid);
            case EventKind.Syscall:
                if (syscall.Length > MaxSyscallNameLength * 4)
                {
                    throw new InvalidRequestException($"events[{index}].syscall", $"events[{index}].syscall is longer than {MaxSyscallNameLength} characters");
                }

                var name = Decode(payload, syscall, $"events[{index}].syscall");
                if (name.Length > MaxSyscallNameLength)
                {
                    throw new InvalidRequestException($"events[{index}].syscall", $"events[{index}].syscall is longer than {MaxSyscallNameLength} characters");
                }

                return new ProfileEvent(kind, (long)timestamp, stack.Id, samples, latency, 0, SyscallNames.Id(name), pid, tid);
            default:
                return new ProfileEvent(kind, (long)timestamp, stack.Id, samples, 0, 0, 0, pid, tid);
        }
    }

    private static InvalidRequestException TargetTooLong() =>
        new("target", $"target must be at most {ProfileQuery.MaxTargetLength} printable characters");

    private static string Decode(ReadOnlySpan<byte> payload, Slice slice, string field)
    {
        var bytes = payload.Slice(slice.Start, slice.Length);
        return System.Text.Unicode.Utf8.IsValid(bytes)
            ? Encoding.UTF8.GetString(bytes)
            : throw new InvalidRequestException(field, $"{field} is not valid UTF-8");
    }

    /// <summary>A byte range of the payload.</summary>
    private readonly record struct Slice(int Start, int Length)
    {
        public int End => Start + Length;
    }

    /// <summary>Stacks of one batch: hashed from the payload's bytes, decoded only when new to the aggregator.</summary>
    private ref struct StackReader(ReadOnlySpan<byte> payload, List<Slice> strings, int maxFrames, StackInterner stacksHeld)
    {
        private readonly ReadOnlySpan<byte> _payload = payload;
        private byte[] _key = new byte[4096];
        private string?[]? _decoded;

        public CallStack Read(Slice stack, string list, int index)
        {
            var frameCount = 0;
            var keyLength = 0;
            var reader = new WireReader(_payload, stack.Start, stack.End);
            while (reader.TryReadTag(out var tag))
            {
                if (tag != FramesTag)
                {
                    reader.Skip(tag);
                    continue;
                }

                var frame = ReadFrame(reader.ReadSlice(), list, index);
                if (++frameCount > maxFrames)
                {
                    throw new InvalidRequestException(Field(list, index), $"{Field(list, index)} needs 1 to {maxFrames} frames, not more");
                }

                AppendToKey(ref keyLength, frame);
            }

            if (frameCount == 0)
            {
                throw new InvalidRequestException(Field(list, index), $"{Field(list, index)} needs 1 to {maxFrames} frames, not 0");
            }

            // A stack seen before is the held instance: nothing of it is decoded again.
            var id = StackIdBuilder.Hash(_key.AsSpan(0, keyLength));
            if (stacksHeld.TryGet(id, out var held))
            {
                return held;
            }

            var frames = ImmutableArray.CreateBuilder<StackFrame>(frameCount);
            reader = new WireReader(_payload, stack.Start, stack.End);
            while (reader.TryReadTag(out var tag))
            {
                if (tag != FramesTag)
                {
                    reader.Skip(tag);
                    continue;
                }

                var frame = ReadFrame(reader.ReadSlice(), list, index);
                frames.Add(new StackFrame(frame.Ip, Text(frame.Function, frame.FunctionIndex, list, index), Text(frame.Module, frame.ModuleIndex, list, index)));
            }

            return stacksHeld.Add(new CallStack(frames.MoveToImmutable()));
        }

        /// <summary>Lays the frame out as <see cref="StackIdBuilder"/> hashes it, so the stack is hashed in one call.</summary>
        private void AppendToKey(ref int keyLength, FrameSlices frame)
        {
            var needed = keyLength + StackIdBuilder.FrameKeyLength(frame.Function.Length, frame.Module.Length);
            if (needed > _key.Length)
            {
                Array.Resize(ref _key, Math.Max(needed, _key.Length * 2));
            }

            keyLength += StackIdBuilder.WriteFrameKey(
                _key.AsSpan(keyLength), frame.Ip, _payload.Slice(frame.Function.Start, frame.Function.Length), _payload.Slice(frame.Module.Start, frame.Module.Length));
        }

        /// <summary>A frame with its names resolved to byte ranges: inline, or from the batch's string table.</summary>
        private readonly FrameSlices ReadFrame(Slice slice, string list, int index)
        {
            ulong ip = 0;
            uint functionIndex = 0, moduleIndex = 0;
            Slice function = default, module = default;
            var reader = new WireReader(_payload, slice.Start, slice.End);
            while (reader.TryReadTag(out var tag))
            {
                switch (tag)
                {
                    case FrameIpTag: ip = reader.ReadVarint(); break;
                    case FrameFunctionTag: function = reader.ReadSlice(); break;
                    case FrameModuleTag: module = reader.ReadSlice(); break;
                    case FrameFunctionIndexTag: functionIndex = (uint)reader.ReadVarint(); break;
                    case FrameModuleIndexTag: moduleIndex = (uint)reader.ReadVarint(); break;
                    default: reader.Skip(tag); break;
                }
            }

            // An inline name wins; index 0 (or no table) is the empty name.
            if (function.Length == 0 && functionIndex != 0)
            {
                function = functionIndex < (uint)strings.Count ? strings[(int)functionIndex]
                    : throw new InvalidRequestException(Field(list, index), $"{Field(list, index)} has a function_index past the batch's strings");
                functionIndex = functionIndex + 1;
            }
            else
            {
                functionIndex = 0;
            }

            if (module.Length == 0 && moduleIndex != 0)
            {
                module = moduleIndex < (uint)strings.Count ? strings[(int)moduleIndex]
                    : throw new InvalidRequestException(Field(list, index), $"{Field(list, index)} has a module_index past the batch's strings");
                moduleIndex = moduleIndex + 1;
            }
            else
            {
                moduleIndex = 0;
            }

            if (function.Length > MaxTextLength || module.Length > MaxTextLength)
            {
                CheckTextLength(function, list, index);
                CheckTextLength(module, list, index);
            }

            return new FrameSlices(ip, function, functionIndex, module, moduleIndex);
        }

        private readonly void CheckTextLength(Slice text, string list, int index)
        {
            // UTF-8 never has fewer bytes than UTF-16 code units, so only long byte runs are counted.
            if (text.Length > MaxTextLength && Encoding.UTF8.GetCharCount(_payload.Slice(text.Start, text.Length)) > MaxTextLength)
            {
                throw new InvalidRequestException(Field(list, index), $"{Field(list, index)} has a frame name longer than {MaxTextLength} characters");
            }
        }

        /// <param name="tableIndex">One past the string-table index the name came from, or 0 for an inline name.</param>
        private string Text(Slice text, uint tableIndex, string list, int index)
        {
            if (tableIndex == 0)
            {
                return Decode(_payload, text, Field(list, index));
            }

            _decoded ??= new string?[strings.Count];
            return _decoded[tableIndex - 1] ??= Decode(_payload, text, $"strings[{tableIndex - 1}]");
        }

        private static string Field(string list, int index) => list == "events" ? $"events[{index}].stack" : $"stacks[{index}]";
    }

    private readonly record struct FrameSlices(ulong Ip, Slice Function, uint FunctionIndex, Slice Module, uint ModuleIndex);

    /// <summary>Protobuf wire format over a range of the payload; anything malformed is a 400.</summary>
    private ref struct WireReader(ReadOnlySpan<byte> payload, int start, int end)
    {
        private readonly ReadOnlySpan<byte> _payload = payload;
        private int _position = start;

        public bool TryReadTag(out uint tag)
        {
            if (_position >= end)
            {
                tag = 0;
                return false;
            }

            var value = ReadVarint();
            if (value > uint.MaxValue || value >> 3 == 0)
            {
                throw Malformed("a field number of 0 or past the range");
            }

            tag = (uint)value;
            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= end)
                {
                    throw Malformed("a varint runs past the end of its message");
                }

                var b = _payload[_position++];
                result |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return result;
                }
            }

            throw Malformed("a varint is longer than ten bytes");
        }

        public Slice ReadSlice()
        {
            var length = ReadVarint();
            if (length > (ulong)(end - _position))
            {
                throw Malformed("a length-delimited field runs past the end of its message");
            }

            var slice = new Slice(_position, (int)length);
            _position += (int)length;
            return slice;
        }

        public void Skip(uint tag)
        {
            switch (tag & 7)
            {
                case 0: ReadVarint(); break;
                case 1: Advance(8); break;
                case 2: ReadSlice(); break;
                case 5: Advance(4); break;
                default: throw Malformed($"wire type {tag & 7} is not supported");
            }
        }

        private void Advance(int bytes)
        {
            if (end - _position < bytes)
            {
                throw Malformed("a fixed-size field runs past the end of its message");
            }

            _position += bytes;
        }

        private static InvalidRequestException Malformed(string why) =>
            new("body", $"the body is not a valid PushRequest: {why}");
    }
}
