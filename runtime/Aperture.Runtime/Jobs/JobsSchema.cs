using Aperture.Storage;

namespace Aperture.Runtime.Jobs;

/// <summary>The job-tracking tables: every accepted event and the folded state of each job, each row in its tenant.</summary>
public static class JobsSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
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
        new(7, "jobs_tenant", [
            // Every event and state belongs to a tenant; rows written before this migration belong to 'default'.
            """
            ALTER TABLE {database}.job_events ADD COLUMN IF NOT EXISTS tenant LowCardinality(String) DEFAULT 'default'
            """,
            // In job_state the tenant must be part of the sorting key, or the ReplacingMergeTree would fold two
            // tenants' jobs with the same site and id into one row. ClickHouse appends only a column added in the
            // same ALTER and without a default to a sorting key, so the default comes in the next statement; the
            // parts written before it have no tenant column and read it as that default. Both statements can run
            // again (a migration interrupted between them is applied from the start).
            """
            ALTER TABLE {database}.job_state
                ADD COLUMN IF NOT EXISTS tenant LowCardinality(String),
                MODIFY ORDER BY (site_id, entity_type, job_id, tenant)
            """,
            """
            ALTER TABLE {database}.job_state MODIFY COLUMN tenant LowCardinality(String) DEFAULT 'default'
            """,
        ]),
    ];
}
