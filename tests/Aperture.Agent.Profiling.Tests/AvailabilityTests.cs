namespace Aperture.Agent.Profiling.Tests;

public sealed class AvailabilityTests
{
    [Fact]
    public void A_permission_refusal_names_the_sysctl_and_the_capability()
    {
        var permissions = new HostPermissions(PerfEventParanoid: 3, EffectiveCapabilities: 0);

        var reason = permissions.ExplainRefusal(13, "process 42 on CPU 0");

        Assert.Contains("EACCES", reason, StringComparison.Ordinal);
        Assert.Contains("kernel.perf_event_paranoid=3", reason, StringComparison.Ordinal);
        Assert.Contains("no CAP_PERFMON", reason, StringComparison.Ordinal);
        Assert.Contains("process 42 on CPU 0", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_missing_syscall_points_at_seccomp_and_a_missing_event_at_the_kernel()
    {
        var permissions = new HostPermissions(null, null);

        Assert.Contains("seccomp", permissions.ExplainRefusal(38, "this process"), StringComparison.Ordinal);
        Assert.Contains("ENOENT", permissions.ExplainRefusal(2, "this process"), StringComparison.Ordinal);
        Assert.Contains("EPERM", permissions.ExplainRefusal(1, "this process"), StringComparison.Ordinal);
        Assert.Contains("perf_event_paranoid unreadable", permissions.Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Capabilities_are_read_from_the_effective_set()
    {
        Assert.True(new HostPermissions(2, 1UL << 38).HasPerfmon);
        Assert.True(new HostPermissions(2, 1UL << 21).HasPerfmon);
        Assert.False(new HostPermissions(2, 1UL << 19).HasPerfmon);
        Assert.True(new HostPermissions(2, 1UL << 19).HasPtrace);
        Assert.Contains("CAP_PERFMON held", new HostPermissions(2, 1UL << 38).Describe(), StringComparison.Ordinal);
    }

    [Fact]
    public void Kernel_events_on_this_host_are_each_reported_with_a_reason()
    {
        var events = KernelEvents.Probe();

        Assert.Equal(KernelEvents.Tracepoints, events.Select(e => e.Name));
        Assert.All(events.Where(e => e.Name.StartsWith("lock/", StringComparison.Ordinal)), e => Assert.Contains("not collected by this build", e.Reason, StringComparison.Ordinal));
        Assert.All(events.Where(e => !e.Name.StartsWith("lock/", StringComparison.Ordinal)), e => Assert.Contains("collected by KernelEventCollector", e.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public void Kernel_events_without_tracefs_say_it_is_not_mounted()
    {
        using var directory = new Aperture.Testing.TemporaryDirectory();

        var events = KernelEvents.Probe([directory.Path]);

        Assert.All(events, e => Assert.False(e.Available));
        Assert.All(events, e => Assert.Contains("tracefs is not mounted", e.Reason, StringComparison.Ordinal));
    }

    [Fact]
    public void Kernel_events_missing_from_tracefs_or_with_a_bad_id_are_unavailable()
    {
        using var directory = new Aperture.Testing.TemporaryDirectory();
        var sysEnter = Path.Combine(directory.Path, "events", "raw_syscalls", "sys_enter");
        Directory.CreateDirectory(sysEnter);
        File.WriteAllText(Path.Combine(sysEnter, "id"), "not a number\n");

        var events = KernelEvents.Probe([directory.Path]).ToDictionary(e => e.Name);

        Assert.False(events["raw_syscalls/sys_enter"].Available);
        Assert.Contains("does not hold a tracepoint id", events["raw_syscalls/sys_enter"].Reason, StringComparison.Ordinal);
        Assert.False(events["lock/contention_begin"].Available);
        Assert.Contains("no lock/contention_begin tracepoint", events["lock/contention_begin"].Reason, StringComparison.Ordinal);
    }
}
