using System.Globalization;
using System.Text.Json;

namespace Aperture.Runtime.Servers;

/// <summary>The JSON shapes of servers-api.md. Unknown values are written as null, never left out.</summary>
public static class ServersJson
{
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never,
    };

    /// <summary>Times as the spec writes them: <c>2026-02-26T02:37:49.120000+00:00</c>.</summary>
    public static string? Time(DateTimeOffset? value) =>
        value?.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    public static IResult Ok(object body) => Results.Json(body, Options);

    public static object Server(MonitoredServer s) => new
    {
        id = s.Id,
        slug = s.Slug,
        name = s.Name,
        hostname = s.Hostname,
        description = s.Description,
        is_active = s.IsActive,
        labels = s.Labels,
        last_seen_at = Time(s.LastSeenAt),
        last_agent_version = s.LastAgentVersion,
        snapshot_count = s.SnapshotCount,
        latest_snapshot_at = Time(s.LatestSnapshotAt),
    };

    public static object Snapshot(ServerSnapshot snapshot, MonitoredServer server, DateTimeOffset now)
    {
        var s = snapshot.Sample;
        var r = snapshot.Rates;
        return new
        {
            id = snapshot.Id,
            server = Server(server),
            collected_at = Time(s.CollectedAt),
            received_at = Time(snapshot.ReceivedAt),
            age_seconds = Math.Round(Math.Max(0, (now - s.CollectedAt).TotalSeconds), 3),
            interval_seconds = snapshot.IntervalSeconds,
            agent_version = snapshot.AgentVersion,
            cpu = new
            {
                usage_percent = s.CpuUsagePercent,
                user_percent = s.CpuUserPercent,
                system_percent = s.CpuSystemPercent,
                iowait_percent = s.CpuIowaitPercent,
                load_1 = s.CpuLoad1,
                load_5 = s.CpuLoad5,
                load_15 = s.CpuLoad15,
                frequency_mhz = s.CpuFrequencyMhz,
                count_logical = s.CpuCountLogical,
                count_physical = s.CpuCountPhysical,
            },
            memory = new
            {
                percent = s.MemoryPercent,
                swap_percent = s.SwapPercent,
                total_bytes = s.MemoryTotalBytes,
                used_bytes = s.MemoryUsedBytes,
                available_bytes = s.MemoryAvailableBytes,
                swap_total_bytes = s.SwapTotalBytes,
                swap_used_bytes = s.SwapUsedBytes,
            },
            disk = new
            {
                read_bps = r.DiskReadBps,
                write_bps = r.DiskWriteBps,
                util_percent = r.DiskUtilPercent,
                devices = r.Disks.Select(d => Disk(d)).ToList(),
            },
            network = new { rx_bps = r.NetworkRxBps, tx_bps = r.NetworkTxBps },
            process_count = s.ProcessCount,
            gpu = new
            {
                present = s.Gpus.Count > 0,
                count = s.Gpus.Count,
                top_util_percent = s.GpuTopUtilPercent,
                devices = s.Gpus.Select(g => new
                {
                    gpu_index = g.GpuIndex,
                    name = g.Name,
                    uuid = g.Uuid,
                    utilization_gpu_percent = g.UtilizationGpuPercent,
                    utilization_memory_percent = g.UtilizationMemoryPercent,
                    memory_total_bytes = g.MemoryTotalBytes,
                    memory_used_bytes = g.MemoryUsedBytes,
                    memory_percent = g.MemoryPercent,
                    temperature_c = g.TemperatureC,
                    power_w = g.PowerW,
                    power_limit_w = g.PowerLimitW,
                }).ToList(),
            },
            bottleneck = Bottleneck(snapshot.Bottleneck),
        };
    }

    public static object Bottleneck(BottleneckVerdict b) => new { label = b.Label, title = b.Title, confidence = b.Confidence, reason = b.Reason };

    public static object Disk(DiskRates d) => new { device = d.Device, read_bps = d.ReadBps, write_bps = d.WriteBps, util_percent = d.UtilPercent };

    public static object Point(HistoryPoint p) => new
    {
        collected_at = Time(p.CollectedAt),
        cpu_usage_percent = p.CpuUsagePercent,
        cpu_iowait_percent = p.CpuIowaitPercent,
        memory_percent = p.MemoryPercent,
        swap_percent = p.SwapPercent,
        disk_read_bps = p.DiskReadBps,
        disk_write_bps = p.DiskWriteBps,
        disk_util_percent = p.DiskUtilPercent,
        network_rx_bps = p.NetworkRxBps,
        network_tx_bps = p.NetworkTxBps,
        gpu_top_util_percent = p.GpuTopUtilPercent,
        bottleneck = p.Bottleneck,
        gpus = p.Gpus.Select(g => new
        {
            gpu_index = g.GpuIndex,
            utilization_gpu_percent = g.UtilizationGpuPercent,
            memory_percent = g.MemoryPercent,
            temperature_c = g.TemperatureC,
        }).ToList(),
        disks = p.Disks.Select(d => Disk(d)).ToList(),
    };
}
