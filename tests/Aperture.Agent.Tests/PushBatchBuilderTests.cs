using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Configuration;
using Aperture.Agent.Discovery;
using Aperture.Agent.Services;
using Aperture.Contracts.Grpc;

namespace Aperture.Agent.Tests;

public sealed class PushBatchBuilderTests
{
    private static TargetSelection Target(string name, string tenant, bool all, params int[] pids) => new(
        new ProfilingTargetConfig { Name = name, Tenant = tenant },
        all,
        all ? [] : [new SelectedPod(new WatchedPod($"uid-{name}", $"pod-{name}", "apps", "Running"), pids)],
        null);

    [Fact]
    public void A_collection_is_split_by_the_tenant_of_the_target_each_process_belongs_to()
    {
        CpuProfileFrame[] frames = [new(0x1000, "main", "app")];
        var profile = new CpuProfile(
            [new CpuProfileStack(frames, 3, 10, 10, 100, 200), new CpuProfileStack(frames, 5, 20, 20, 100, 200), new CpuProfileStack(frames, 7, 30, 30, 100, 200)],
            10_101_010)
        {
            Locks = [new LockProfileEvent(frames, 2, 20, 21, 150, 5_000, 0xbeef)],
        };
        var selection = new ProcessSelection([Target("b-payments", "team-b", false, 20), Target("a-web", "team-a", false, 10, 20), Target("z-node", "platform", true)]);

        var parts = PushBatchBuilder.ByTenant(profile, selection).ToDictionary(p => p.Tenant!, p => p.Profile);

        // pid 20 is in two targets' pods: the first by name (a-web) has it; pid 30 falls to the every-process target.
        Assert.Equal(["platform", "team-a"], parts.Keys.Order(StringComparer.Ordinal));
        Assert.Equal([10U, 20U], parts["team-a"].Stacks.Select(s => s.Pid));
        Assert.Equal(20U, Assert.Single(parts["team-a"].Locks).Pid);
        Assert.Equal(30U, Assert.Single(parts["platform"].Stacks).Pid);
        Assert.Equal((null, profile), Assert.Single(PushBatchBuilder.ByTenant(profile, null)));
        Assert.Equal("team-a", Assert.Single(PushBatchBuilder.ByTenant(profile with { Stacks = [profile.Stacks[0]] }, selection)).Tenant);
    }

    [Fact]
    public void Lock_and_syscall_events_carry_their_fields_and_share_stacks_with_cpu_samples()
    {
        CpuProfileFrame[] frames = [new(0x1000, "main", "app"), new(0x1100, "wait_for_lock", "app")];
        var profile = new CpuProfile([new CpuProfileStack(frames, 3, 10, 11, 100, 200)], 10_101_010)
        {
            Locks = [new LockProfileEvent(frames, 2, 10, 12, 150, 5_000, 0x7f00_dead_beef)],
            Syscalls = [new SyscallProfileEvent([new(0x1000, "main", "app"), new(0x1200, "read_file", "app")], 4, 10, 13, 160, 9_000, "read")],
        };

        var request = PushBatchBuilder.Build("agent-1", "host", 7, profile);

        Assert.Equal(3, request.Events.Count);
        Assert.Equal(2, request.Stacks.Count);
        var cpu = Assert.Single(request.Events, e => e.Type == EventType.Cpu);
        var wait = Assert.Single(request.Events, e => e.Type == EventType.Lock);
        Assert.Equal((2UL, 12U, 150UL, 5_000UL, 0x7f00_dead_beefUL), (wait.Count, wait.Tid, wait.TimestampNs, wait.WaitNs, wait.LockAddress));
        Assert.Equal(cpu.StackIndex, wait.StackIndex);
        var call = Assert.Single(request.Events, e => e.Type == EventType.Syscall);
        Assert.Equal((4UL, 13U, 9_000UL, "read"), (call.Count, call.Tid, call.LatencyNs, call.Syscall));
        Assert.NotEqual(cpu.StackIndex, call.StackIndex);
        Assert.Equal("read_file", request.Strings[(int)request.Stacks[(int)call.StackIndex].Frames[^1].FunctionIndex]);
    }
}
