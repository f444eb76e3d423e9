using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Servers;

/// <summary>One point of <c>/api/metrics/history/</c>.</summary>
public sealed record HistoryPoint(
    DateTimeOffset CollectedAt,
    double? CpuUsagePercent,
    double? CpuIowaitPercent,
    double? MemoryPercent,
    double? SwapPercent,
    double? DiskReadBps,
    double? DiskWriteBps,
    double? DiskUtilPercent,
    double? NetworkRxBps,
    double? NetworkTxBps,
    double? GpuTopUtilPercent,
    string Bottleneck,
    IReadOnlyList<HistoryGpu> Gpus,
    IReadOnlyList<DiskRates> Disks);

public sealed record HistoryGpu(ushort GpuIndex, double? UtilizationGpuPercent, double? MemoryPercent, double? TemperatureC);

/// <summary>A downsampled history: the points, and the stride (every stride-th sample of the window).</summary>
public sealed record History(IReadOnlyList<HistoryPoint> Points, int Stride, long Samples);

/// <summary>
/// Server snapshots in ClickHouse (table <c>server_snapshots</c>, schema migration 3): each row carries
/// its snapshot's tenant, and every read is of one tenant.
/// </summary>
public sealed class ServerSnapshotStore(ClickHouseClient client, string database)
{
    private static readonly string[] Columns =
    [
        "tenant", "server_id", "snapshot_id", "collected_at", "received_at", "interval_seconds", "agent_version",
        "cpu_usage_percent", "cpu_user_percent", "cpu_system_percent", "cpu_iowait_percent", "cpu_load_1", "cpu_load_5", "cpu_load_15",
        "cpu_frequency_mhz", "cpu_count_logical", "cpu_count_physical",
        "memory_total_bytes", "memory_used_bytes", "memory_available_bytes", "memory_percent",
        "swap_total_bytes", "swap_used_bytes", "swap_percent",
        "network_rx_bytes_total", "network_tx_bytes_total", "network_rx_bps", "network_tx_bps", "process_count",
        "disk_read_bps", "disk_write_bps", "disk_util_percent",
        "dev_name", "dev_read_bytes_total", "dev_write_bytes_total", "dev_read_count_total", "dev_write_count_total", "dev_busy_time_ms_total",
        "dev_read_bps", "dev_write_bps", "dev_util_percent",
        "gpu_top_util_percent", "gpu_index", "gpu_name", "gpu_uuid", "gpu_util_percent", "gpu_memory_util_percent",
        "gpu_memory_total_bytes", "gpu_memory_used_bytes", "gpu_memory_percent", "gpu_temperature_c", "gpu_power_w", "gpu_power_limit_w",
        "bottleneck", "bottleneck_confidence",
    ];

    private const string HistoryColumns =
        "toUnixTimestamp64Milli(collected_at), cpu_usage_percent, cpu_iowait_percent, memory_percent, swap_percent, " +
        "disk_read_bps, disk_write_bps, disk_util_percent, network_rx_bps, network_tx_bps, gpu_top_util_percent, " +
        "toString(bottleneck), gpu_index, gpu_util_percent, gpu_memory_percent, gpu_temperature_c, " +
        "dev_name, dev_read_bps, dev_write_bps, dev_util_percent";

    private string Table => $"`{database}`.server_snapshots";

    /// <summary>
    /// Writes snapshots as RowBinary in one insert. <paramref name="flushToken"/> names the write:
    /// a retry with the same token after an unknown outcome stores the rows once.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<ServerSnapshot> snapshots, string flushToken, CancellationToken cancellationToken)
    {
        var rows = new RowBinaryWriter(snapshots.Count * 600 + 1024);
        foreach (var snapshot in snapshots)
        {
            Write(rows, snapshot);
        }

        await client.InsertAsync(database, "server_snapshots", Columns, rows, flushToken, cancellationToken);
    }

    private static void Write(RowBinaryWriter w, ServerSnapshot snapshot)
    {
        var s = snapshot.Sample;
        var r = snapshot.Rates;
        w.WriteString(snapshot.Tenant);
        w.WriteUInt64((ulong)snapshot.ServerId);
        w.WriteUInt64(snapshot.Id);
        w.WriteInt64(s.CollectedAt.ToUnixTimeMilliseconds());
        w.WriteInt64(snapshot.ReceivedAt.ToUnixTimeMilliseconds());
        F(w, snapshot.IntervalSeconds);
        w.WriteString(snapshot.AgentVersion);
        F(w, s.CpuUsagePercent);
        F(w, s.CpuUserPercent);
        F(w, s.CpuSystemPercent);
        F(w, s.CpuIowaitPercent);
        F(w, s.CpuLoad1);
        F(w, s.CpuLoad5);
        F(w, s.CpuLoad15);
        F(w, s.CpuFrequencyMhz);
        w.WriteUInt32(s.CpuCountLogical ?? 0);
        w.WriteUInt32(s.CpuCountPhysical ?? 0);
        w.WriteUInt64(s.MemoryTotalBytes ?? 0);
        w.WriteUInt64(s.MemoryUsedBytes ?? 0);
        w.WriteUInt64(s.MemoryAvailableBytes ?? 0);
        F(w, s.MemoryPercent);
        w.WriteUInt64(s.SwapTotalBytes ?? 0);
        w.WriteUInt64(s.SwapUsedBytes ?? 0);
        F(w, s.SwapPercent);
        w.WriteUInt64(s.NetworkRxBytesTotal ?? 0);
        w.WriteUInt64(s.NetworkTxBytesTotal ?? 0);
        F(w, r.NetworkRxBps);
        F(w, r.NetworkTxBps);
        w.WriteUInt32(s.ProcessCount ?? 0);
        F(w, r.DiskReadBps);
        F(w, r.DiskWriteBps);
        F(w, r.DiskUtilPercent);

        var disks = s.Disks;
        Strings(w, disks.Select(d => d.Device));
        Counters(w, disks.Select(d => d.ReadBytesTotal));
        Counters(w, disks.Select(d => d.WriteBytesTotal));
        Counters(w, disks.Select(d => d.ReadCountTotal));
        Counters(w, disks.Select(d => d.WriteCountTotal));
        Counters(w, disks.Select(d => d.BusyTimeMsTotal));
        var rates = disks.Select(d => r.Disks.FirstOrDefault(x => x.Device == d.Device)).ToList();
        Floats(w, rates.Select(x => x?.ReadBps));
        Floats(w, rates.Select(x => x?.WriteBps));
        Floats(w, rates.Select(x => x?.UtilPercent));

        var gpus = s.Gpus;
        F(w, s.GpuTopUtilPercent);
        w.ArrayLength(gpus.Count);
        foreach (var gpu in gpus)
        {
            w.WriteUInt16(gpu.GpuIndex);
        }

        Strings(w, gpus.Select(g => g.Name));
        Strings(w, gpus.Select(g => g.Uuid));
        Floats(w, gpus.Select(g => g.UtilizationGpuPercent));
        Floats(w, gpus.Select(g => g.UtilizationMemoryPercent));
        Counters(w, gpus.Select(g => g.MemoryTotalBytes));
        Counters(w, gpus.Select(g => g.MemoryUsedBytes));
        Floats(w, gpus.Select(g => g.MemoryPercent));
        Floats(w, gpus.Select(g => g.TemperatureC));
        Floats(w, gpus.Select(g => g.PowerW));
        Floats(w, gpus.Select(g => g.PowerLimitW));
        w.WriteString(snapshot.Bottleneck.Label);
        w.WriteFloat64(snapshot.Bottleneck.Confidence);
    }

    /// <summary>Unknown is NaN in storage and null again when read.</summary>
    private static void F(RowBinaryWriter w, double? value) => w.WriteFloat64(value ?? double.NaN);

    private static void Floats(RowBinaryWriter w, IEnumerable<double?> values)
    {
        var list = values.ToList();
        w.ArrayLength(list.Count);
        foreach (var value in list)
        {
            F(w, value);
        }
    }

    private static void Counters(RowBinaryWriter w, IEnumerable<ulong?> values)
    {
        var list = values.ToList();
        w.ArrayLength(list.Count);
        foreach (var value in list)
        {
            w.WriteUInt64(value ?? 0);
        }
    }

    private static void Strings(RowBinaryWriter w, IEnumerable<string> values)
    {
        var list = values.ToList();
        w.ArrayLength(list.Count);
        foreach (var value in list)
        {
            w.WriteString(value);
        }
    }

    /// <summary>Buckets at least this wide read the one-per-minute table (migration 5) instead of every snapshot.</summary>
    public const long MinutelyBucketMs = 60_000;

    /// <summary>
    /// The tenant's server's snapshots since <paramref name="since"/>, downsampled in ClickHouse to at most
    /// <paramref name="maxPoints"/>: when the window holds more samples, its time span is cut into
    /// <paramref name="maxPoints"/> equal buckets and the first snapshot of each bucket is read
    /// (the selection reads only the time column; full rows are read for the chosen snapshots
    /// alone). Buckets of a minute or more select from <c>server_snapshots_minutely</c>, which holds
    /// each server's first snapshot of every minute. The stride reported is the window's samples per
    /// point, <c>ceil(samples / maxPoints)</c>; 1 when nothing was dropped.
    /// </summary>
    public async Task<History> HistoryAsync(string tenant, long serverId, DateTimeOffset since, int maxPoints, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("server", (ulong)serverId);
        parameters.AddParameter("since", since.ToUnixTimeMilliseconds());
        parameters.AddParameter("max_points", (ulong)maxPoints);
        const string window = "tenant = {tenant:String} AND server_id = {server:UInt64} AND collected_at >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')";
        long samples = 0, firstMs = 0, lastMs = 0;
        using (var stats = await client.ExecuteReaderAsync(
            $"SELECT count(), toInt64(min(toUnixTimestamp64Milli(collected_at))), toInt64(max(toUnixTimestamp64Milli(collected_at))) FROM {Table} WHERE {window}",
            parameters, cancellationToken: cancellationToken))
        {
            if (await stats.ReadAsync(cancellationToken))
            {
                samples = Convert.ToInt64(stats.GetValue(0), System.Globalization.CultureInfo.InvariantCulture);
                firstMs = stats.GetFieldValue<long>(1);
                lastMs = stats.GetFieldValue<long>(2);
            }
        }

        if (samples == 0)
        {
            return new History([], 1, 0);
        }

        string sql;
        var stride = (int)Math.Max(1, (samples + maxPoints - 1) / maxPoints);
        if (samples <= maxPoints)
        {
            sql = $"SELECT {HistoryColumns} FROM {Table} WHERE {window} ORDER BY collected_at LIMIT {{max_points:UInt64}}";
        }
        else
        {
            // ceil((span + 1) / maxPoints): the buckets from the first sample cover the last one in maxPoints.
            var bucketMs = Math.Max(1, (lastMs - firstMs + maxPoints) / maxPoints);
            var source = bucketMs >= MinutelyBucketMs ? $"`{database}`.server_snapshots_minutely" : Table;
            parameters.AddParameter("first", firstMs);
            parameters.AddParameter("bucket", bucketMs);
            sql = $$"""
                SELECT {{HistoryColumns}}
                FROM {{source}}
                WHERE {{window}} AND collected_at IN (
                    SELECT min(collected_at) FROM {{source}}
                    WHERE {{window}}
                    GROUP BY intDiv(toUnixTimestamp64Milli(collected_at) - {first:Int64}, {bucket:Int64})
                )
                ORDER BY collected_at
                LIMIT {max_points:UInt64}
                """;
        }

        var points = new List<HistoryPoint>(Math.Min(maxPoints, (int)samples));
        using var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            var gpuIndex = (ushort[])reader.GetValue(12);
            var gpuUtil = (double[])reader.GetValue(13);
            var gpuMemory = (double[])reader.GetValue(14);
            var gpuTemperature = (double[])reader.GetValue(15);
            var devName = (string[])reader.GetValue(16);
            var devRead = (double[])reader.GetValue(17);
            var devWrite = (double[])reader.GetValue(18);
            var devUtil = (double[])reader.GetValue(19);
            points.Add(new HistoryPoint(
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetFieldValue<long>(0)),
                N(reader.GetDouble(1)),
                N(reader.GetDouble(2)),
                N(reader.GetDouble(3)),
                N(reader.GetDouble(4)),
                N(reader.GetDouble(5)),
                N(reader.GetDouble(6)),
                N(reader.GetDouble(7)),
                N(reader.GetDouble(8)),
                N(reader.GetDouble(9)),
                N(reader.GetDouble(10)),
                reader.GetString(11),
                [.. gpuIndex.Select((index, i) => new HistoryGpu(index, N(gpuUtil[i]), N(gpuMemory[i]), N(gpuTemperature[i])))],
                [.. devName.Select((name, i) => new DiskRates(name, N(devRead[i]), N(devWrite[i]), N(devUtil[i])))]));
        }

        return new History(points, stride, samples);
    }

    private static double? N(double value) => double.IsNaN(value) ? null : value;
}
