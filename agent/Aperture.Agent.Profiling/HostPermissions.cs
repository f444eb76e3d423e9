using System.Globalization;

namespace Aperture.Agent.Profiling;

/// <summary>What the kernel lets this process do with perf events, read from /proc, for reasons given in words.</summary>
internal sealed record HostPermissions(int? PerfEventParanoid, ulong? EffectiveCapabilities)
{
    private const int CapSysPtrace = 19;
    private const int CapSysAdmin = 21;
    private const int CapPerfmon = 38;

    public bool HasPerfmon => Has(CapPerfmon) || Has(CapSysAdmin);

    public bool HasPtrace => Has(CapSysPtrace);

    public static HostPermissions Read()
    {
        int? paranoid = null;
        ulong? capabilities = null;
        try
        {
            if (int.TryParse(File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                paranoid = value;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Absent when the kernel has no perf events at all; the errno of perf_event_open says the rest.
        }

        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
            {
                if (line.StartsWith("CapEff:", StringComparison.Ordinal)
                    && ulong.TryParse(line.AsSpan(7).Trim(), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var caps))
                {
                    capabilities = caps;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Unknown capabilities are reported as such.
        }

        return new HostPermissions(paranoid, capabilities);
    }

    /// <summary>"perf_event_paranoid=3 and no CAP_PERFMON", for the end of a refusal message.</summary>
    public string Describe()
    {
        var paranoid = PerfEventParanoid is { } p ? $"kernel.perf_event_paranoid={p}" : "kernel.perf_event_paranoid unreadable";
        var capabilities = EffectiveCapabilities == null ? "capabilities unknown"
            : Has(CapPerfmon) ? "CAP_PERFMON held"
            : Has(CapSysAdmin) ? "CAP_SYS_ADMIN held"
            : "no CAP_PERFMON or CAP_SYS_ADMIN";
        return $"{paranoid}, {capabilities}";
    }

    /// <summary>Why perf_event_open failed with <paramref name="errno"/>, in words an operator can act on.</summary>
    public string ExplainRefusal(int errno, string attempt) => errno switch
    {
        PerfEventInterop.Eacces or PerfEventInterop.Eperm =>
            $"perf_event_open refused ({PerfEventInterop.ErrnoName(errno)}) for {attempt}: {Describe()}; "
            + "kernel.perf_event_paranoid 2 allows user-space sampling of one's own processes, 1 adds kernel frames, 0 or less system-wide sampling, "
            + "and CAP_PERFMON (or CAP_SYS_ADMIN) lifts these limits; a process of another user also needs CAP_SYS_PTRACE; "
            + "a seccomp profile can refuse perf_event_open as well",
        PerfEventInterop.Enosys =>
            $"perf_event_open is not available (ENOSYS) for {attempt}: the kernel was built without perf events or a seccomp profile (e.g. a container runtime's default) blocks the syscall",
        PerfEventInterop.Enoent or PerfEventInterop.Enodev or PerfEventInterop.Eopnotsupp =>
            $"perf_event_open does not support the event ({PerfEventInterop.ErrnoName(errno)}) for {attempt}: the kernel lacks the software cpu-clock event or the sampling mode",
        PerfEventInterop.Esrch => $"perf_event_open found no such process (ESRCH) for {attempt}",
        PerfEventInterop.Emfile => $"perf_event_open ran out of file descriptors (EMFILE) for {attempt}: raise the open-files limit",
        _ => $"perf_event_open failed ({PerfEventInterop.ErrnoName(errno)}) for {attempt}: {Describe()}",
    };

    private bool Has(int capability) => EffectiveCapabilities is { } caps && (caps & (1UL << capability)) != 0;
}
