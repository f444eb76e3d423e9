using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Servers;

/// <summary>
/// One sample an agent sent (servers-api.md, ingest body). Every metric is optional: an agent
/// reports what its host has; a missing one is null here and unknown (NaN) in storage.
/// </summary>
public sealed record ServerSample
{
    public DateTimeOffset CollectedAt { get; init; }

    public double? CpuUsagePercent { get; init; }

    public double? CpuUserPercent { get; init; }

    public double? CpuSystemPercent { get; init; }

    public double? CpuIowaitPercent { get; init; }

    public double? CpuLoad1 { get; init; }

    public double? CpuLoad5 { get; init; }

    public double? CpuLoad15 { get; init; }

    public double? CpuFrequencyMhz { get; init; }

    public uint? CpuCountLogical { get; init; }

    public uint? CpuCountPhysical { get; init; }

    public ulong? MemoryTotalBytes { get; init; }

    public ulong? MemoryUsedBytes { get; init; }

    public ulong? MemoryAvailableBytes { get; init; }

    public double? MemoryPercent { get; init; }

    public ulong? SwapTotalBytes { get; init; }

    public ulong? SwapUsedBytes { get; init; }

    public double? SwapPercent { get; init; }

    public ulong? NetworkRxBytesTotal { get; init; }

    public ulong? NetworkTxBytesTotal { get; init; }

    public uint? ProcessCount { get; init; }

    public IReadOnlyList<DiskSample> Disks { get; init; } = [];

    public IReadOnlyList<GpuSample> Gpus { get; init; } = [];

    /// <summary>The busiest GPU's utilisation, or null without GPUs.</summary>
    public double? GpuTopUtilPercent => Gpus.Select(g => g.UtilizationGpuPercent).Where(u => u is not null).Max();
}

/// <summary>A block device's cumulative counters (since boot) as the agent read them.</summary>
public sealed record DiskSample(
    string Device,
    ulong? ReadBytesTotal,
    ulong? WriteBytesTotal,
    ulong? ReadCountTotal,
    ulong? WriteCountTotal,
    ulong? BusyTimeMsTotal);

public sealed record GpuSample(
    ushort GpuIndex,
    string Name,
    string Uuid,
    double? UtilizationGpuPercent,
    double? UtilizationMemoryPercent,
    ulong? MemoryTotalBytes,
    ulong? MemoryUsedBytes,
    double? MemoryPercent,
    double? TemperatureC,
    double? PowerW,
    double? PowerLimitW);

/// <summary>What the agent says about itself (the optional <c>agent</c> object).</summary>
public sealed record AgentInfo(string? Version, string? Hostname, string? Platform, IReadOnlyDictionary<string, string> Labels);

/// <summary>Per-second rates derived from the counters of two consecutive samples; null where unknown.</summary>
public sealed record SnapshotRates(
    double? DiskReadBps,
    double? DiskWriteBps,
    double? DiskUtilPercent,
    double? NetworkRxBps,
    double? NetworkTxBps,
    IReadOnlyList<DiskRates> Disks)
{
    public static SnapshotRates Unknown(IReadOnlyList<DiskSample> disks) =>
        new(null, null, null, null, null, [.. disks.Select(d => new DiskRates(d.Device, null, null, null))]);
}

public sealed record DiskRates(string Device, double? ReadBps, double? WriteBps, double? UtilPercent);

/// <summary>A stored snapshot: the sample, what was derived from it, and where it belongs.</summary>
/// <param name="Tenant">
/// The server's tenant, stamped by ingest. A latest snapshot that Redis kept from before snapshots had
/// tenants has none and reads as the default tenant's, which every server then was.
/// </param>
public sealed record ServerSnapshot(
    ulong Id,
    long ServerId,
    DateTimeOffset ReceivedAt,
    double? IntervalSeconds,
    string AgentVersion,
    ServerSample Sample,
    SnapshotRates Rates,
    BottleneckVerdict Bottleneck,
    string Tenant = Tenants.Default);
