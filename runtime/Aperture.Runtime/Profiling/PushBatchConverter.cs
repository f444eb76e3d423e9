using System.Collections.Immutable;
using Aperture.Contracts.Grpc;
using Aperture.Profiling;
using Aperture.Runtime.Api;
using StackFrame = Aperture.Profiling.StackFrame;

namespace Aperture.Runtime.Profiling;

/// <summary>Checks a pushed batch against the limits and turns it into a <see cref="ProfileBatch"/>.</summary>
public static class PushBatchConverter
{
    private const int MaxAgentIdLength = 256;
    private const int MaxTextLength = 4096;
    private const int MaxSyscallNameLength = 64;

    public static ProfileBatch ToBatch(PushRequest request, ProfilingOptions limits, long receivedAtNs, StackInterner stacksHeld)
    {
        var ids = new StackIdBuilder();
        if (string.IsNullOrWhiteSpace(request.AgentId) || request.AgentId.Length > MaxAgentIdLength)
        {
            throw new InvalidRequestException("agent_id", $"agent_id is required and at most {MaxAgentIdLength} characters");
        }

        if (request.Events.Count > limits.MaxEventsPerBatch)
        {
            throw new InvalidRequestException("events", $"a batch holds at most {limits.MaxEventsPerBatch} events, this one {request.Events.Count}");
        }

        if (request.SamplePeriodNs > long.MaxValue)
        {
            throw new InvalidRequestException("sample_period_ns", "sample_period_ns is out of range");
        }

        if (request.Stacks.Count > limits.MaxEventsPerBatch)
        {
            throw new InvalidRequestException("stacks", $"a batch holds at most {limits.MaxEventsPerBatch} stacks, this one {request.Stacks.Count}");
        }

        if (request.Strings.Count > limits.MaxEventsPerBatch * 4)
        {
            throw new InvalidRequestException("strings", $"a batch holds at most {limits.MaxEventsPerBatch * 4} strings, this one {request.Strings.Count}");
        }

        if (request.Strings.Count > 0 && request.Strings[0].Length != 0)
        {
            throw new InvalidRequestException("strings", "strings[0] must be the empty string");
        }

        var names = new FrameNames(request.Strings);

        // Each distinct stack of the batch is converted and hashed once.
        var table = new CallStack[request.Stacks.Count];
        for (var s = 0; s < table.Length; s++)
        {
            table[s] = ToCallStack(request.Stacks[s], "stacks", s, limits.MaxFramesPerStack, ids, stacksHeld, names);
        }

        var stacks = new Dictionary<ulong, CallStack>();
        var events = ImmutableArray.CreateBuilder<ProfileEvent>(request.Events.Count);
        for (var i = 0; i < request.Events.Count; i++)
        {
            var e = request.Events[i];
            var kind = e.Type switch
            {
                EventType.Cpu => EventKind.Cpu,
                EventType.Lock => EventKind.Lock,
                EventType.Syscall => EventKind.Syscall,
                _ => throw new InvalidRequestException($"events[{i}].type", $"events[{i}] has unknown event type {(int)e.Type}; expected cpu, lock or syscall"),
            };
            if (e.TimestampNs > long.MaxValue)
            {
                throw new InvalidRequestException($"events[{i}].timestamp_ns", $"events[{i}].timestamp_ns is out of range");
            }

            var stack = e.Stack is not null ? ToCallStack(e.Stack, "events", i, limits.MaxFramesPerStack, ids, stacksHeld, names)
                : e.HasStackIndex && e.StackIndex < table.Length ? table[e.StackIndex]
                : throw new InvalidRequestException($"events[{i}].stack", $"events[{i}] has neither a stack nor a stack_index into the batch's {table.Length} stacks");
            stacks.TryAdd(stack.Id, stack);
            if (kind == EventKind.Syscall && e.Syscall.Length > MaxSyscallNameLength)
            {
                throw new InvalidRequestException($"events[{i}].syscall", $"events[{i}].syscall is longer than {MaxSyscallNameLength} characters");
            }

            events.Add(kind switch
            {
                EventKind.Lock => new ProfileEvent(kind, (long)e.TimestampNs, stack.Id, Math.Max(1, e.Count), e.WaitNs, e.LockAddress, 0, e.Pid, e.Tid),
                EventKind.Syscall => new ProfileEvent(kind, (long)e.TimestampNs, stack.Id, Math.Max(1, e.Count), e.LatencyNs, 0, SyscallNames.Id(e.Syscall), e.Pid, e.Tid),
                _ => new ProfileEvent(kind, (long)e.TimestampNs, stack.Id, Math.Max(1, e.Count), 0, 0, 0, e.Pid, e.Tid),
            });
        }

        return new ProfileBatch(request.AgentId, request.Sequence, receivedAtNs, (long)request.SamplePeriodNs, events.MoveToImmutable(), stacks);
    }

    /// <param name="list">Where the stack is ("stacks" or "events"), with <paramref name="index"/>, for the error.</param>
    private static CallStack ToCallStack(
        Aperture.Contracts.Grpc.Stack stack, string list, int index, int maxFrames, StackIdBuilder ids, StackInterner stacksHeld, FrameNames names)
    {
        string Field() => list == "events" ? $"events[{index}].stack" : $"stacks[{index}]";
        var frames = stack.Frames;
        if (frames.Count == 0 || frames.Count > maxFrames)
        {
            throw new InvalidRequestException(Field(), $"{Field()} needs 1 to {maxFrames} frames, not {frames.Count}");
        }

        foreach (var frame in frames)
        {
            var function = names.Function(frame) ?? throw new InvalidRequestException(Field(), $"{Field()} has a function_index past the batch's strings");
            var module = names.Module(frame) ?? throw new InvalidRequestException(Field(), $"{Field()} has a module_index past the batch's strings");
            if (function.Length > MaxTextLength || module.Length > MaxTextLength)
            {
                throw new InvalidRequestException(Field(), $"{Field()} has a frame name longer than {MaxTextLength} characters");
            }

            ids.Add(frame.Ip, function, module);
        }

        // A stack seen before is the held instance: the frames just parsed are garbage at once.
        var id = ids.Complete();
        if (stacksHeld.TryGet(id, out var held))
        {
            return held;
        }

        var builder = ImmutableArray.CreateBuilder<StackFrame>(frames.Count);
        foreach (var frame in frames)
        {
            builder.Add(new StackFrame(frame.Ip, names.Function(frame)!, names.Module(frame)!));
        }

        return stacksHeld.Add(new CallStack(builder.MoveToImmutable()));
    }

    /// <summary>A frame's names, given inline or as indexes into the batch's string table.</summary>
    private readonly struct FrameNames(Google.Protobuf.Collections.RepeatedField<string> strings)
    {
        public string? Function(Frame frame) => frame.Function.Length > 0 || frame.FunctionIndex == 0 ? frame.Function : Lookup(frame.FunctionIndex);

        public string? Module(Frame frame) => frame.Module.Length > 0 || frame.ModuleIndex == 0 ? frame.Module : Lookup(frame.ModuleIndex);

        private string? Lookup(uint index) => index < strings.Count ? strings[(int)index] : null;
    }
}
