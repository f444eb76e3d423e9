using Aperture.Agent.Collectors.Gpu;

namespace Aperture.Agent.Collectors.Host;

/// <summary>
/// Turns two reads of the host's counters into a sample: CPU shares come from the difference of
/// /proc/stat between this read and the previous one (the first read uses the time since boot);
/// everything cumulative (network, disks) is sent as totals, so the server computes rates.
/// </summary>
public sealed class HostSampleCollector(ProcFileSystem proc, IGpuSource gpus, TimeProvider time)
{
    private readonly Lock _gate = new();
    private CpuTimes _previousCpu;

    public ProcFileSystem Proc { get; } = proc;

    public IGpuSource Gpus { get; } = gpus;

    public HostSample Collect()
    {
        var counters = Proc.Read();
        CpuTimes delta;
        lock (_gate)
        {
            var previous = _previousCpu;
            delta = counters.Cpu.Total > previous.Total
                ? new CpuTimes(
                    counters.Cpu.User - previous.User, counters.Cpu.Nice - previous.Nice, counters.Cpu.System - previous.System,
                    counters.Cpu.Idle - previous.Idle, counters.Cpu.Iowait - previous.Iowait, counters.Cpu.Irq - previous.Irq,
                    counters.Cpu.SoftIrq - previous.SoftIrq, counters.Cpu.Steal - previous.Steal)
                : default;
            _previousCpu = counters.Cpu;
        }

        var swapUsed = counters.SwapTotalBytes - counters.SwapFreeBytes;
        var memoryUsed = counters.MemoryTotalBytes - counters.MemoryAvailableBytes;
        return new HostSample
        {
            CollectedAt = time.GetUtcNow(),
            CpuUsagePercent = Percent(delta.Busy, delta.Total),
            CpuUserPercent = Percent(delta.User + delta.Nice, delta.Total),
            CpuSystemPercent = Percent(delta.System + delta.Irq + delta.SoftIrq, delta.Total),
            CpuIowaitPercent = Percent(delta.Iowait, delta.Total),
            CpuLoad1 = counters.Load1,
            CpuLoad5 = counters.Load5,
            CpuLoad15 = counters.Load15,
            CpuFrequencyMhz = counters.FrequencyMhz,
            CpuCountLogical = counters.LogicalCpus,
            CpuCountPhysical = counters.PhysicalCores,
            MemoryTotalBytes = counters.MemoryTotalBytes,
            MemoryAvailableBytes = counters.MemoryAvailableBytes,
            MemoryUsedBytes = memoryUsed,
            MemoryPercent = Percent(memoryUsed, counters.MemoryTotalBytes),
            SwapTotalBytes = counters.SwapTotalBytes,
            SwapUsedBytes = swapUsed,
            SwapPercent = Percent(swapUsed, counters.SwapTotalBytes),
            NetworkRxBytesTotal = counters.NetworkRxBytes,
            NetworkTxBytesTotal = counters.NetworkTxBytes,
            ProcessCount = counters.ProcessCount,
            Disks =
            [
                .. counters.Disks.Select(d => new DiskSample
                {
                    Device = d.Device,
                    ReadBytesTotal = d.SectorsRead,
                    WriteBytesTotal = d.SectorsWritten,
                    ReadCountTotal = d.ReadsCompleted,
                    WriteCountTotal = d.WritesCompleted,
                    BusyTimeMsTotal = d.IoTimeMs,
                }),
            ],
            Gpus = Gpus.Read(),
        };
    }

    private static double Percent(long part, long whole) => whole > 0 ? Math.Round(100.0 * part / whole, 2) : 0.0;
}
