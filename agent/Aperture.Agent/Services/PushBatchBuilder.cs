using Aperture.Agent.Collectors.Profiling;
using Aperture.Contracts.Grpc;

namespace Aperture.Agent.Services;

/// <summary>
/// Numbers the agent's batches. Sequences start at the start time in microseconds, so an agent that
/// restarts (and keeps its id) never reuses a sequence that the aggregator already holds, while batches
/// still in the spool keep the sequence they were given.
/// </summary>
public sealed class PushSequence(TimeProvider time)
{
    private long _next = time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;

    public ulong Next() => (ulong)Interlocked.Increment(ref _next);
}

/// <summary>Turns a collected CPU profile (with its lock and syscall events) into one Push batch, each distinct stack and name sent once.</summary>
public static class PushBatchBuilder
{
    public static PushRequest Build(string agentId, string hostname, ulong sequence, CpuProfile profile)
    {
        var request = new PushRequest { AgentId = agentId, Sequence = sequence, Hostname = hostname, SamplePeriodNs = profile.SamplePeriodNs };
        request.Strings.Add(string.Empty);
        var strings = new Dictionary<string, uint>(StringComparer.Ordinal) { [string.Empty] = 0 };
        var stacks = new Dictionary<string, uint>(StringComparer.Ordinal);
        uint Intern(string text)
        {
            if (!strings.TryGetValue(text, out var index))
            {
                index = (uint)request.Strings.Count;
                strings[text] = index;
                request.Strings.Add(text);
            }

            return index;
        }

        uint StackOf(IReadOnlyList<CpuProfileFrame> frames)
        {
            var key = string.Join('\n', frames.Select(f => $"{f.Ip:x}|{f.Function}|{f.Module}"));
            if (!stacks.TryGetValue(key, out var stackIndex))
            {
                var message = new Stack();
                foreach (var frame in frames)
                {
                    message.Frames.Add(new Frame { Ip = frame.Ip, FunctionIndex = Intern(frame.Function), ModuleIndex = Intern(frame.Module) });
                }

                stackIndex = (uint)request.Stacks.Count;
                stacks[key] = stackIndex;
                request.Stacks.Add(message);
            }

            return stackIndex;
        }

        foreach (var stack in profile.Stacks)
        {
            request.Events.Add(new Event
            {
                Type = EventType.Cpu,
                TimestampNs = stack.FirstTimestampNs,
                Count = stack.Count,
                Pid = stack.Pid,
                Tid = stack.Tid,
                StackIndex = StackOf(stack.Frames),
            });
        }

        foreach (var wait in profile.Locks)
        {
            request.Events.Add(new Event
            {
                Type = EventType.Lock,
                TimestampNs = wait.FirstTimestampNs,
                Count = wait.Count,
                Pid = wait.Pid,
                Tid = wait.Tid,
                WaitNs = wait.WaitNs,
                LockAddress = wait.LockAddress,
                StackIndex = StackOf(wait.Frames),
            });
        }

        foreach (var call in profile.Syscalls)
        {
            request.Events.Add(new Event
            {
                Type = EventType.Syscall,
                TimestampNs = call.FirstTimestampNs,
                Count = call.Count,
                Pid = call.Pid,
                Tid = call.Tid,
                LatencyNs = call.LatencyNs,
                Syscall = call.Syscall,
                StackIndex = StackOf(call.Frames),
            });
        }

        return request;
    }
}
