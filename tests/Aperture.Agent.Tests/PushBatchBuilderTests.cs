using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Services;
using Aperture.Contracts.Grpc;

namespace Aperture.Agent.Tests;

public sealed class PushBatchBuilderTests
{
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
