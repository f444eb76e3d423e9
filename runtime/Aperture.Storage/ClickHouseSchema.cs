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
        // Version 3 belongs to the server-monitoring tables.
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
    ];
}
