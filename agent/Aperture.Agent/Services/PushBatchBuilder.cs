using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Discovery;
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
    /// <summary>
    /// Splits a collection by the target whose processes each event came from, so that every target's stacks are
    /// pushed under its tenant and name the workload they belong to: a process belongs to the first target (by name)
    /// whose pods hold it, and the rest to a target of every process, if there is one. Without targets, or for
    /// processes no target selects, the tenant is null (the credential's own) and the target empty.
    /// </summary>
    public static IReadOnlyList<(string? Tenant, string Target, CpuProfile Profile)> ByTarget(CpuProfile profile, ProcessSelection? selection)
    {
        if (selection is null || selection.Targets.Count == 0)
        {
            return [(null, string.Empty, profile)];
        }

        var targets = selection.Targets.OrderBy(t => t.Target.Name, StringComparer.Ordinal).ToList();
        var byPid = new Dictionary<uint, TargetSelection>();
        foreach (var target in targets.Where(t => !t.AllProcesses))
        {
            foreach (var pid in target.Pids)
            {
                byPid.TryAdd((uint)pid, target);
            }
        }

        var everyProcess = targets.FirstOrDefault(t => t.AllProcesses);
        (string? Tenant, string Target) OwnerOf(uint pid) =>
            (byPid.TryGetValue(pid, out var target) ? target : everyProcess) is { } owner ? (owner.Target.Tenant, owner.Target.Name) : (null, string.Empty);
        var owners = profile.Stacks.Select(s => OwnerOf(s.Pid))
            .Concat(profile.Locks.Select(l => OwnerOf(l.Pid)))
            .Concat(profile.Syscalls.Select(c => OwnerOf(c.Pid)))
            .Distinct()
            .ToList();
        if (owners.Count == 1)
        {
            return [(owners[0].Tenant, owners[0].Target, profile)];
        }

        return [.. owners.Select(owner => (owner.Tenant, owner.Target, new CpuProfile([.. profile.Stacks.Where(s => OwnerOf(s.Pid) == owner)], profile.SamplePeriodNs)
        {
            Locks = [.. profile.Locks.Where(l => OwnerOf(l.Pid) == owner)],
            Syscalls = [.. profile.Syscalls.Where(c => OwnerOf(c.Pid) == owner)],
        }))];
    }

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
