using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Profiling;
using Aperture.Agent.Profiling.Tests;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>The agent's profiler seam with the settings profiling targets make: different processes per event type.</summary>
// Not beside the other class that opens perf events: With_profiling_switched_off_no_perf_event_is_opened counts them in this process.
[Collection(PerfEventCollection.Name)]
public sealed class PerfCpuProfileSourceTests
{
    [Fact]
    public async Task Lock_waits_and_syscalls_of_different_processes_are_traced_apart()
    {
        using var work = new TemporaryDirectory("aperture-split-events");
        var binary = ContendedProgram.Compile(work.Path);
        using var locked = ContendedProgram.Run(binary, seconds: 60);
        using var busy = ContendedProgram.Run(binary, seconds: 60);
        using var source = new PerfCpuProfileSource();

        source.Configure(new CpuProfilerSettings(99, [])
        {
            CpuSampling = false,
            LockEvents = true,
            SyscallEvents = true,
            LockPids = [locked.Pid],
            SyscallPids = [busy.Pid],
            IdleReason = "no profiling target asks for it",
        });

        var states = source.KernelEvents().ToDictionary(k => k.Name);
        if (!states["lock_events"].Loaded)
        {
            Assert.Skip($"the kernel refuses tracepoints here: {states["lock_events"].Reason}");
        }

        Assert.True(states["syscall_events"].Loaded, states["syscall_events"].Reason);
        Assert.Contains("1 processes", states["lock_events"].Reason, StringComparison.Ordinal);
        Assert.False(source.Probe().Available);
        Assert.Equal("no profiling target asks for it", source.Probe().Reason);

        var locks = new List<LockProfileEvent>();
        var syscalls = new List<SyscallProfileEvent>();
        await Eventually.HoldsAsync(() =>
        {
            var profile = source.Collect();
            Assert.Empty(profile.Stacks);
            locks.AddRange(profile.Locks);
            syscalls.AddRange(profile.Syscalls);
            return Task.FromResult(locks.Count > 0 && syscalls.Count > 0);
        }, TimeSpan.FromSeconds(30), "lock waits and syscalls", TestContext.Current.CancellationToken);

        Assert.All(locks, l => Assert.Equal((uint)locked.Pid, l.Pid));
        Assert.All(syscalls, s => Assert.Equal((uint)busy.Pid, s.Pid));
    }
}
