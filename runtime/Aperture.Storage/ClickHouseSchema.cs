namespace Aperture.Storage;

/// <summary>The runtime's ClickHouse schema, as the ordered list of its migrations.</summary>
public static class ClickHouseSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
        new(1, "runtime_instances", [
            // Which runtimes ran against this database, with their role and version: the first thing
            // an operator looks at when two versions disagree about the schema.
            """
            CREATE TABLE IF NOT EXISTS {database}.runtime_instances
            (
                instance String,
                role LowCardinality(String),
                version String,
                started_at DateTime64(3, 'UTC')
            )
            ENGINE = ReplacingMergeTree(started_at)
            ORDER BY instance
            TTL toDateTime(started_at) + INTERVAL 90 DAY
            """,
        ]),
        new(2, "profiling", [
            // Stacks are stored once, keyed by the hash of their frames (root first), and referenced by id.
            """
            CREATE TABLE IF NOT EXISTS {database}.profile_stacks
            (
                tenant LowCardinality(String),
                stack_id UInt64,
                frame_ips Array(UInt64),
                frame_functions Array(String),
                frame_modules Array(LowCardinality(String))
            )
            ENGINE = ReplacingMergeTree
            ORDER BY (tenant, stack_id)
            """,
            // One row per pushed event. Day partitions make retention a matter of dropping parts;
            // the sort key serves the per-agent, per-kind, time-ranged reads of /api/aggregate and /api/diff.
            // The deduplication window makes a retried flush (same token) exactly-once.
            """
            CREATE TABLE IF NOT EXISTS {database}.profile_samples
            (
                tenant LowCardinality(String),
                agent_id LowCardinality(String),
                sequence UInt64,
                event_type Enum8('cpu' = 1, 'lock' = 2, 'syscall' = 3),
                ts_ns Int64,
                stack_id UInt64,
                count UInt64,
                value UInt64,
                detail LowCardinality(String),
                pid UInt32,
                tid UInt32,
                sample_period_ns Int64 CODEC(T64, ZSTD(1))
            )
            ENGINE = MergeTree
            PARTITION BY toDate(fromUnixTimestamp64Nano(ts_ns))
            ORDER BY (tenant, agent_id, event_type, ts_ns, stack_id)
            TTL toDateTime(fromUnixTimestamp64Nano(ts_ns)) + toIntervalDay(30)
            SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000
            """,
            // One row per batch: what /api/batches lists and what the batch limit of an aggregation counts.
            // kinds has bit 1 for cpu, 2 for lock, 3 for syscall.
            """
            CREATE TABLE IF NOT EXISTS {database}.profile_batches
            (
                tenant LowCardinality(String),
                agent_id LowCardinality(String),
                sequence UInt64,
                received_at_ns Int64,
                event_count UInt32,
                sample_count UInt64,
                min_ts_ns Int64,
                max_ts_ns Int64,
                kinds UInt8,
                sample_period_ns Int64
            )
            ENGINE = ReplacingMergeTree
            PARTITION BY toYYYYMM(fromUnixTimestamp64Nano(received_at_ns))
            ORDER BY (tenant, agent_id, sequence)
            TTL toDateTime(fromUnixTimestamp64Nano(received_at_ns)) + toIntervalDay(30)
            SETTINGS non_replicated_deduplication_window = 10000
            """,
        ]),
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
        new(4, "jobs", [
            // Every accepted job event, in arrival order (stream_id), for audit and for stream clients
            // resuming further back than the in-memory buffer holds.
            """
            CREATE TABLE IF NOT EXISTS {database}.job_events
            (
                site_id LowCardinality(String),
                entity_type LowCardinality(String),
                entity_id String,
                parent_id String,
                kind LowCardinality(String),
                at DateTime64(3, 'UTC'),
                status LowCardinality(String),
                stream_id UInt64,
                idempotency_key String,
                received_at DateTime64(3, 'UTC'),
                payload String CODEC(ZSTD(1))
            )
            ENGINE = MergeTree
            PARTITION BY toYYYYMM(received_at)
            ORDER BY (stream_id)
            TTL toDateTime(received_at) + INTERVAL 90 DAY
            SETTINGS non_replicated_deduplication_window = 10000
            """,
            // The folded state of every job and subjob; each change writes a row with a higher version
            // and reads take the latest (FINAL). state holds the fold's inputs, so the runtime can
            // continue a job after a restart.
            """
            CREATE TABLE IF NOT EXISTS {database}.job_state
            (
                site_id LowCardinality(String),
                entity_type LowCardinality(String),
                job_id String,
                parent_id String,
                app_id String,
                app_name String,
                app_version String,
                job_key String,
                sub_key String,
                status LowCardinality(String),
                started_at Nullable(DateTime64(3, 'UTC')),
                ended_at Nullable(DateTime64(3, 'UTC')),
                duration_s Nullable(Float64),
                cpu_user_s Nullable(Float64),
                cpu_system_s Nullable(Float64),
                mem_max_mb Nullable(Float64),
                metadata String,
                inserted_at DateTime64(3, 'UTC'),
                version UInt64,
                state String CODEC(ZSTD(1))
            )
            ENGINE = ReplacingMergeTree(version)
            ORDER BY (site_id, entity_type, job_id)
            SETTINGS non_replicated_deduplication_window = 10000
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
