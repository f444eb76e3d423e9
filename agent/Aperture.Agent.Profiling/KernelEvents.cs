using System.Globalization;

namespace Aperture.Agent.Profiling;

/// <summary>Whether one kernel tracepoint (e.g. "raw_syscalls/sys_enter") could be traced here, and why not.</summary>
public sealed record TracepointAvailability(string Name, bool Available, string Reason);

/// <summary>
/// Probes the lock-contention and syscall tracepoints. <see cref="KernelEventCollector"/> collects the syscall and
/// futex ones; lock/contention_* (kernel locks) are probed only. Every reason says which.
/// </summary>
public static class KernelEvents
{
    internal const string NotCollected = "not collected by this build";
    internal const string Collected = "collected by KernelEventCollector";

    /// <summary>The tracepoints probed: syscall entry/exit, futex waits, and kernel lock contention (Linux 5.19+).</summary>
    public static IReadOnlyList<string> Tracepoints { get; } =
    [
        "raw_syscalls/sys_enter",
        "raw_syscalls/sys_exit",
        "syscalls/sys_enter_futex",
        "syscalls/sys_exit_futex",
        "lock/contention_begin",
        "lock/contention_end",
    ];

    internal static IReadOnlyList<string> TracefsRoots { get; } = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

    public static IReadOnlyList<TracepointAvailability> Probe() => Probe(TracefsRoots);

    internal static IReadOnlyList<TracepointAvailability> Probe(IReadOnlyList<string> tracefsRoots)
    {
        if (!OperatingSystem.IsLinux())
        {
            return [.. Tracepoints.Select(name => new TracepointAvailability(name, false, $"tracepoints need Linux; {Collection(name)}"))];
        }

        var root = tracefsRoots.FirstOrDefault(r => Directory.Exists(Path.Combine(r, "events")));
        if (root == null)
        {
            var reason = $"tracefs is not mounted or not readable at {string.Join(" or ", tracefsRoots)} "
                + "(mount it with: mount -t tracefs nodev /sys/kernel/tracing)";
            return [.. Tracepoints.Select(name => new TracepointAvailability(name, false, $"{reason}; {Collection(name)}"))];
        }

        var permissions = HostPermissions.Read();
        var results = new List<TracepointAvailability>(Tracepoints.Count);
        foreach (var name in Tracepoints)
        {
            results.Add(ProbeOne(root, name, permissions));
        }

        return results;
    }

    /// <summary>Whether this build collects a tracepoint's events where the kernel allows it.</summary>
    internal static string Collection(string name) => name.StartsWith("lock/", StringComparison.Ordinal) ? NotCollected : Collected;

    private static TracepointAvailability ProbeOne(string root, string name, HostPermissions permissions)
    {
        var idPath = Path.Combine(root, "events", name, "id");
        if (!Directory.Exists(Path.Combine(root, "events", name)))
        {
            return new TracepointAvailability(name, false, $"this kernel has no {name} tracepoint (no {Path.GetDirectoryName(idPath)}); {Collection(name)}");
        }

        int id;
        try
        {
            if (!int.TryParse(File.ReadAllText(idPath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out id))
            {
                return new TracepointAvailability(name, false, $"{idPath} does not hold a tracepoint id; {Collection(name)}");
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new TracepointAvailability(name, false, $"{idPath} is not readable ({e.GetType().Name}): tracefs needs root or CAP_SYS_ADMIN; {Collection(name)}");
        }

        var attr = new PerfEventInterop.Attr(
            Type: PerfEventInterop.PerfTypeTracepoint,
            Config: (ulong)id,
            SamplePeriodOrFreq: 1,
            Freq: false,
            SampleType: PerfEventInterop.SampleTid | PerfEventInterop.SampleTime,
            Disabled: true,
            Inherit: false,
            ExcludeKernel: false,
            UseClockId: false,
            ClockId: 0,
            SampleMaxStack: 0);
        var fd = PerfEventInterop.Open(attr, -1, 0);
        if (fd < 0)
        {
            return new TracepointAvailability(name, false, $"{permissions.ExplainRefusal(-fd, $"tracepoint {name} (id {id}) system-wide")}; {Collection(name)}");
        }

        PerfEventInterop.Close(fd);
        return new TracepointAvailability(name, true, $"the kernel permits tracing {name} system-wide (tracepoint id {id} opened and closed); {Collection(name)}");
    }
}
