using Aperture.Storage;

namespace Aperture.Runtime.Servers;

/// <summary>The server-monitoring tables: snapshots and their per-minute copy.</summary>
public static class ServersSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
        new(3, "server_monitoring", [
            // One row per server snapshot (servers-api.md). Day partitions make retention a matter of
            // dropping parts; the sort key serves per-server, time-ranged reads (latest, history).
            // Per-disk and per-GPU series are parallel arrays, so a history point is one row.
            // Unknown values (a metric the agent did not send, a rate without a previous sample) are NaN.
            """
            CREATE TABLE IF NOT EXISTS {database}.server_snapshots
            (
                tenant LowCardinality(String),
                server_id UInt64,
                snapshot_id UInt64,
                collected_at DateTime64(3, 'UTC'),
                received_at DateTime64(3, 'UTC'),
                interval_seconds Float64,
                agent_version LowCardinality(String),
                cpu_usage_percent Float64,
                cpu_user_percent Float64,
                cpu_system_percent Float64,
                cpu_iowait_percent Float64,
                cpu_load_1 Float64,
                cpu_load_5 Float64,
                cpu_load_15 Float64,
                cpu_frequency_mhz Float64,
                cpu_count_logical UInt32,
                cpu_count_physical UInt32,
                memory_total_bytes UInt64,
                memory_used_bytes UInt64,
                memory_available_bytes UInt64,
                memory_percent Float64,
                swap_total_bytes UInt64,
                swap_used_bytes UInt64,
                swap_percent Float64,
                network_rx_bytes_total UInt64,
                network_tx_bytes_total UInt64,
                network_rx_bps Float64,
                network_tx_bps Float64,
                process_count UInt32,
                disk_read_bps Float64,
                disk_write_bps Float64,
                disk_util_percent Float64,
                dev_name Array(String),
                dev_read_bytes_total Array(UInt64),
                dev_write_bytes_total Array(UInt64),
                dev_read_count_total Array(UInt64),
                dev_write_count_total Array(UInt64),
                dev_busy_time_ms_total Array(UInt64),
                dev_read_bps Array(Float64),
                dev_write_bps Array(Float64),
                dev_util_percent Array(Float64),
                gpu_top_util_percent Float64,
                gpu_index Array(UInt16),
                gpu_name Array(String),
                gpu_uuid Array(String),
                gpu_util_percent Array(Float64),
                gpu_memory_util_percent Array(Float64),
                gpu_memory_total_bytes Array(UInt64),
                gpu_memory_used_bytes Array(UInt64),
                gpu_memory_percent Array(Float64),
                gpu_temperature_c Array(Float64),
                gpu_power_w Array(Float64),
                gpu_power_limit_w Array(Float64),
                bottleneck LowCardinality(String),
                bottleneck_confidence Float64
            )
            ENGINE = MergeTree
            PARTITION BY toDate(collected_at)
            ORDER BY (tenant, server_id, collected_at)
            TTL toDateTime(collected_at) + toIntervalDay(30)
            SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000
            """,
        ]),
        new(5, "server_snapshots_minutely", [
            // The first snapshot of each minute of each server (the previous one, interval_seconds
            // earlier, fell in an earlier minute), copied by a materialized view: long history windows,
            // whose points are minutes apart anyway, read this instead of every 2-second row.
            """
            CREATE TABLE IF NOT EXISTS {database}.server_snapshots_minutely AS {database}.server_snapshots
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.server_snapshots_minutely_mv TO {database}.server_snapshots_minutely
            AS SELECT * FROM {database}.server_snapshots
            WHERE isNaN(interval_seconds)
               OR toStartOfMinute(collected_at) != toStartOfMinute(collected_at - toIntervalMillisecond(toInt64(interval_seconds * 1000)))
            """,
        ]),
    ];
}
