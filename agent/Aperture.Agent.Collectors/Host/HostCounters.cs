namespace Aperture.Agent.Collectors.Host;

/// <summary>Cumulative CPU time in clock ticks from the aggregate <c>cpu</c> line of /proc/stat.</summary>
public readonly record struct CpuTimes(long User, long Nice, long System, long Idle, long Iowait, long Irq, long SoftIrq, long Steal)
{
    public long Total => User + Nice + System + Idle + Iowait + Irq + SoftIrq + Steal;

    public long Busy => Total - Idle - Iowait;
}

/// <summary>A whole disk's cumulative counters from /proc/diskstats.</summary>
public readonly record struct DiskCounters(string Device, long ReadsCompleted, long SectorsRead, long WritesCompleted, long SectorsWritten, long IoTimeMs);

/// <summary>What one read of /proc and /sys gives: cumulative counters and instantaneous values.</summary>
public sealed record HostCounters
{
    public required CpuTimes Cpu { get; init; }
    public double Load1 { get; init; }
    public double Load5 { get; init; }
    public double Load15 { get; init; }
    public double? FrequencyMhz { get; init; }
    public int LogicalCpus { get; init; }
    public int? PhysicalCores { get; init; }
    public long MemoryTotalBytes { get; init; }
    public long MemoryAvailableBytes { get; init; }
    public long SwapTotalBytes { get; init; }
    public long SwapFreeBytes { get; init; }
    public long NetworkRxBytes { get; init; }
    public long NetworkTxBytes { get; init; }
    public int ProcessCount { get; init; }
    public IReadOnlyList<DiskCounters> Disks { get; init; } = [];
}
