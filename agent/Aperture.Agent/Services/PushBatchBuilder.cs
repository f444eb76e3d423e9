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
    /// Splits a collection by the tenant of the target whose processes each event came from, so that every target's
    /// stacks are pushed under its tenant: a process belongs to the first target (by name) whose pods hold it, and
    /// the rest to a target of every process, if there is one. Without targets, or for processes no target selects,
    /// the tenant is null: the credential's own.
    /// </summary>
    public static IReadOnlyList<(string? Tenant, CpuProfile Profile)> ByTenant(CpuProfile profile, ProcessSelection? selection)
    {
        if (selection is null || selection.Targets.Count == 0)
        {
            return [(null, profile)];
        }

        var targets = selection.Targets.OrderBy(t => t.Target.Name, StringComparer.Ordinal).ToList();
        var byPid = new Dictionary<uint, string>();
        foreach (var target in targets.Where(t => !t.AllProcesses))
        {
            foreach (var pid in target.Pids)
            {
                byPid.TryAdd((uint)pid, target.Target.Tenant);
            }
        }

        var everyProcess = targets.FirstOrDefault(t => t.AllProcesses)?.Target.Tenant;
        string? TenantOf(uint pid) => byPid.TryGetValue(pid, out var tenant) ? tenant : everyProcess;
        var tenants = profile.Stacks.Select(s => TenantOf(s.Pid))
            .Concat(profile.Locks.Select(l => TenantOf(l.Pid)))
            .Concat(profile.Syscalls.Select(c => TenantOf(c.Pid)))
            .Distinct()
            .ToList();
        if (tenants.Count == 1)
        {
            return [(tenants[0], profile)];
        }

        return [.. tenants.Select(tenant => (tenant, new CpuProfile([.. profile.Stacks.Where(s => TenantOf(s.Pid) == tenant)], profile.SamplePeriodNs)
        {
            Locks = [.. profile.Locks.Where(l => TenantOf(l.Pid) == tenant)],
            Syscalls = [.. profile.Syscalls.Where(c => TenantOf(c.Pid) == tenant)],
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
