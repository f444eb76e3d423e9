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
    public void A_collection_is_split_by_the_target_each_process_belongs_to_and_each_part_names_its_tenant_and_target()
    {
        CpuProfileFrame[] frames = [new(0x1000, "main", "app")];
        var profile = new CpuProfile(
            [
                new CpuProfileStack(frames, 3, 10, 10, 100, 200), new CpuProfileStack(frames, 5, 20, 20, 100, 200),
                new CpuProfileStack(frames, 7, 30, 30, 100, 200), new CpuProfileStack(frames, 9, 40, 40, 100, 200),
            ],
            10_101_010)
        {
            Locks = [new LockProfileEvent(frames, 2, 20, 21, 150, 5_000, 0xbeef)],
        };
        // Two targets of one tenant are two workloads: they are pushed apart.
        var selection = new ProcessSelection(
            [Target("b-payments", "team-b", false, 20), Target("a-web", "team-a", false, 10, 20), Target("c-worker", "team-a", false, 40), Target("z-node", "platform", true)]);

        var parts = PushBatchBuilder.ByTarget(profile, selection).ToDictionary(p => p.Target, p => (p.Tenant, p.Profile));

        // pid 20 is in two targets' pods: the first by name (a-web) has it; pid 30 falls to the every-process target.
        Assert.Equal(["a-web", "c-worker", "z-node"], parts.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(("team-a", "team-a", "platform"), (parts["a-web"].Tenant, parts["c-worker"].Tenant, parts["z-node"].Tenant));
        Assert.Equal([10U, 20U], parts["a-web"].Profile.Stacks.Select(s => s.Pid));
        Assert.Equal(20U, Assert.Single(parts["a-web"].Profile.Locks).Pid);
        Assert.Empty(parts["c-worker"].Profile.Locks);
        Assert.Equal(40U, Assert.Single(parts["c-worker"].Profile.Stacks).Pid);
        Assert.Equal(30U, Assert.Single(parts["z-node"].Profile.Stacks).Pid);
        Assert.Equal((null, string.Empty, profile), Assert.Single(PushBatchBuilder.ByTarget(profile, null)));
        var only = Assert.Single(PushBatchBuilder.ByTarget(profile with { Stacks = [profile.Stacks[0]] }, selection));
        Assert.Equal(("team-a", "a-web"), (only.Tenant, only.Target));

        // Without a target of every process, processes no target selects go unnamed, under the credential's tenant.
        var unselected = PushBatchBuilder.ByTarget(profile with { Locks = [] }, new ProcessSelection([Target("a-web", "team-a", false, 10)]))
            .ToDictionary(p => p.Target, p => (p.Tenant, p.Profile));
        Assert.Equal(["", "a-web"], unselected.Keys.Order(StringComparer.Ordinal));
        Assert.Null(unselected[string.Empty].Tenant);
        Assert.Equal([20U, 30U, 40U], unselected[string.Empty].Profile.Stacks.Select(s => s.Pid));
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
