using Aperture.Storage;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>The watchdog's incident memory: resolutions and their embeddings.</summary>
public static class IncidentMemorySchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
        new(10, "incident_resolutions", [
            // Kept without TTL: an old resolution is still the answer when its incident comes back. A recall reads
            // one tenant's rows (the key's prefix) and compares every embedding; at hundreds to thousands of
            // resolutions per tenant that scan is a few milliseconds, so no vector index is needed.
            // time_to_recovery_minutes is NULL when the webhook did not say.
            """
            CREATE TABLE IF NOT EXISTS {database}.incident_resolutions
            (
                tenant LowCardinality(String),
                knowledge_base_id String,
                incident_id String,
                service_id String,
                resolution String,
                resolved_by String,
                time_to_recovery_minutes Nullable(Float64),
                tags Array(String),
                embedding Array(Float32),
                created_at DateTime64(3, 'UTC')
            )
            ENGINE = MergeTree
            ORDER BY (tenant, service_id, created_at)
            """,
        ]),
    ];
}
