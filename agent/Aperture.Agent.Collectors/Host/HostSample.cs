using System.Text.Json.Serialization;

namespace Aperture.Agent.Collectors.Host;

/// <summary>
/// One host sample as servers-api.md's ingest API takes it (the <c>sample</c> object). Field names are
/// snake_case on the wire; a value the host does not expose is null rather than a made-up zero.
/// </summary>
public sealed record HostSample
{
    [JsonPropertyName("collected_at")] public required DateTimeOffset CollectedAt { get; init; }
    [JsonPropertyName("cpu_usage_percent")] public double CpuUsagePercent { get; init; }
    [JsonPropertyName("cpu_user_percent")] public double CpuUserPercent { get; init; }
    [JsonPropertyName("cpu_system_percent")] public double CpuSystemPercent { get; init; }
    [JsonPropertyName("cpu_iowait_percent")] public double CpuIowaitPercent { get; init; }
    [JsonPropertyName("cpu_load_1")] public double CpuLoad1 { get; init; }
    [JsonPropertyName("cpu_load_5")] public double CpuLoad5 { get; init; }
    [JsonPropertyName("cpu_load_15")] public double CpuLoad15 { get; init; }
    [JsonPropertyName("cpu_frequency_mhz")] public double? CpuFrequencyMhz { get; init; }
    [JsonPropertyName("cpu_count_logical")] public int CpuCountLogical { get; init; }
    [JsonPropertyName("cpu_count_physical")] public int? CpuCountPhysical { get; init; }
    [JsonPropertyName("memory_total_bytes")] public long MemoryTotalBytes { get; init; }
    [JsonPropertyName("memory_used_bytes")] public long MemoryUsedBytes { get; init; }
    [JsonPropertyName("memory_available_bytes")] public long MemoryAvailableBytes { get; init; }
    [JsonPropertyName("memory_percent")] public double MemoryPercent { get; init; }
    [JsonPropertyName("swap_total_bytes")] public long SwapTotalBytes { get; init; }
    [JsonPropertyName("swap_used_bytes")] public long SwapUsedBytes { get; init; }
    [JsonPropertyName("swap_percent")] public double SwapPercent { get; init; }
    [JsonPropertyName("network_rx_bytes_total")] public long NetworkRxBytesTotal { get; init; }
    [JsonPropertyName("network_tx_bytes_total")] public long NetworkTxBytesTotal { get; init; }
    [JsonPropertyName("process_count")] public int ProcessCount { get; init; }
    [JsonPropertyName("disks")] public IReadOnlyList<DiskSample> Disks { get; init; } = [];
    [JsonPropertyName("gpus")] public IReadOnlyList<GpuSample> Gpus { get; init; } = [];
}

public sealed record DiskSample
{
    [JsonPropertyName("device")] public required string Device { get; init; }
    [JsonPropertyName("read_bytes_total")] public long ReadBytesTotal { get; init; }
    [JsonPropertyName("write_bytes_total")] public long WriteBytesTotal { get; init; }
    [JsonPropertyName("read_count_total")] public long ReadCountTotal { get; init; }
    [JsonPropertyName("write_count_total")] public long WriteCountTotal { get; init; }
    [JsonPropertyName("busy_time_ms_total")] public long BusyTimeMsTotal { get; init; }
}

public sealed record GpuSample
{
    [JsonPropertyName("gpu_index")] public int GpuIndex { get; init; }
    [JsonPropertyName("name")] public string Name { get; init; } = string.Empty;
    [JsonPropertyName("uuid")] public string? Uuid { get; init; }
    [JsonPropertyName("utilization_gpu_percent")] public double? UtilizationGpuPercent { get; init; }
    [JsonPropertyName("utilization_memory_percent")] public double? UtilizationMemoryPercent { get; init; }
    [JsonPropertyName("memory_total_bytes")] public long? MemoryTotalBytes { get; init; }
    [JsonPropertyName("memory_used_bytes")] public long? MemoryUsedBytes { get; init; }
    [JsonPropertyName("memory_percent")] public double? MemoryPercent { get; init; }
    [JsonPropertyName("temperature_c")] public double? TemperatureC { get; init; }
    [JsonPropertyName("power_w")] public double? PowerW { get; init; }
    [JsonPropertyName("power_limit_w")] public double? PowerLimitW { get; init; }
}
