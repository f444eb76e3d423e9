using Aperture.Storage;

namespace Aperture.Runtime.Profiling;

/// <summary>The profiling tables: stacks, samples and batches (migration 2), and the profiling target of each (11).</summary>
public static class ProfilingSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
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
        // The workload (profiling target) a batch's events came from, so that reads can keep to one; '' for
        // batches of agents that do not name it, and for every row written before.
        new(11, "profile_targets", [
            "ALTER TABLE {database}.profile_samples ADD COLUMN IF NOT EXISTS target LowCardinality(String) DEFAULT ''",
            "ALTER TABLE {database}.profile_batches ADD COLUMN IF NOT EXISTS target LowCardinality(String) DEFAULT ''",
        ]),
    ];
}
