using Aperture.Storage;

namespace Aperture.Runtime.Watchdog;

/// <summary>The watchdog's tables: the points it watches and their minutes, the anomalies it opened, the service graph, the detectors' state.</summary>
public static class WatchdogSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
        new(9, "watchdog", [
            // Every point of every watched series, with its own timestamp (an import keeps the history's).
            // labels is the series' label set in one canonical string (sorted k=v pairs), so a series is
            // (tenant, service_id, metric_name, labels) and its points are one range of the sort key.
            """
            CREATE TABLE IF NOT EXISTS {database}.watchdog_points
            (
                tenant LowCardinality(String),
                service_id LowCardinality(String),
                metric_name LowCardinality(String),
                labels String,
                ts DateTime64(3, 'UTC'),
                value Float64
            )
            ENGINE = MergeTree
            PARTITION BY toDate(ts)
            ORDER BY (tenant, service_id, metric_name, labels, ts)
            TTL toDateTime(ts) + toIntervalDay(30)
            SETTINGS ttl_only_drop_parts = 1, non_replicated_deduplication_window = 10000
            """,
            // Per-minute rollups: what correlation and long windows read. Sums and counts rather than
            // averages so that points of one minute arriving in several inserts still roll up exactly.
            """
            CREATE TABLE IF NOT EXISTS {database}.watchdog_points_minutely
            (
                tenant LowCardinality(String),
                service_id LowCardinality(String),
                metric_name LowCardinality(String),
                labels String,
                minute DateTime('UTC'),
                points SimpleAggregateFunction(sum, UInt64),
                total SimpleAggregateFunction(sum, Float64),
                low SimpleAggregateFunction(min, Float64),
                high SimpleAggregateFunction(max, Float64)
            )
            ENGINE = AggregatingMergeTree
            PARTITION BY toYYYYMM(minute)
            ORDER BY (tenant, service_id, metric_name, labels, minute)
            TTL minute + toIntervalDay(180)
            """,
            """
            CREATE MATERIALIZED VIEW IF NOT EXISTS {database}.watchdog_points_minutely_mv TO {database}.watchdog_points_minutely
            AS SELECT tenant, service_id, metric_name, labels, toStartOfMinute(ts) AS minute,
                      toUInt64(count()) AS points, sum(value) AS total, min(value) AS low, max(value) AS high
            FROM {database}.watchdog_points
            GROUP BY tenant, service_id, metric_name, labels, minute
            """,
            // One row per anomaly and version: a change (resolved, its RCA, its similar incidents) is a new
            // version, and reads take the latest (FINAL). The id is derived from the series and the time of the
            // sample that opened it, so replaying a history writes the same anomalies again, not new ones.
            """
            CREATE TABLE IF NOT EXISTS {database}.watchdog_anomalies
            (
                tenant LowCardinality(String),
                anomaly_id String,
                source LowCardinality(String),
                service_id String,
                metric_name String,
                labels String,
                anomaly_score Float64,
                z_score Float64,
                value Float64,
                expected Float64,
                detected_at DateTime64(3, 'UTC'),
                observed_at DateTime64(3, 'UTC'),
                resolved UInt8,
                resolved_at Nullable(DateTime64(3, 'UTC')),
                rca_triggered UInt8,
                details String,
                version UInt64
            )
            ENGINE = ReplacingMergeTree(version)
            PARTITION BY toYYYYMM(detected_at)
            ORDER BY (tenant, anomaly_id)
            TTL toDateTime(detected_at) + toIntervalDay(400)
            """,
            // The service graph: edges given through the API and edges seen in metrics' caller/callee labels.
            """
            CREATE TABLE IF NOT EXISTS {database}.watchdog_topology
            (
                tenant LowCardinality(String),
                origin LowCardinality(String),
                caller String,
                callee String,
                removed UInt8,
                updated_at DateTime64(3, 'UTC')
            )
            ENGINE = ReplacingMergeTree(updated_at)
            ORDER BY (tenant, origin, caller, callee)
            """,
        ]),
        new(12, "watchdog_detector_state", [
            // What each series' detector has learnt (days of seasonal profile), saved every few minutes and on stop so
            // that a restart resumes it; the latest save per series wins. A series silent for 14 days is forgotten.
            """
            CREATE TABLE IF NOT EXISTS {database}.watchdog_detector_state
            (
                tenant LowCardinality(String),
                service_id String,
                metric_name String,
                labels String,
                saved_at DateTime64(3, 'UTC'),
                last_seen DateTime64(3, 'UTC'),
                open_anomaly String,
                state String
            )
            ENGINE = ReplacingMergeTree(saved_at)
            ORDER BY (tenant, service_id, metric_name, labels)
            TTL toDateTime(last_seen) + toIntervalDay(14)
            """,
        ]),
    ];
}
