using Aperture.Storage;

namespace Aperture.Runtime.Identity;

/// <summary>The central runtime's record of tenants and API keys (Redis holds the copy every request reads).</summary>
public static class IdentitySchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
    [
        new(6, "identity", [
            // One row per change of a tenant; reads take the latest version.
            """
            CREATE TABLE IF NOT EXISTS {database}.tenants
            (
                tenant_id String,
                name String,
                plan LowCardinality(String),
                contact_email String,
                created_at DateTime64(3, 'UTC'),
                version UInt64
            )
            ENGINE = ReplacingMergeTree(version)
            ORDER BY tenant_id
            """,
            // Keys are kept as the SHA-256 of their text; a revoked key keeps its row with revoked_at_ms set (0: active;
            // expires_at_ms 0: never expires).
            """
            CREATE TABLE IF NOT EXISTS {database}.api_keys
            (
                key_id String,
                tenant_id String,
                name String,
                scope LowCardinality(String),
                prefix String,
                hash String,
                rate_limit_rps UInt32,
                created_at DateTime64(3, 'UTC'),
                expires_at_ms Int64,
                revoked_at_ms Int64,
                version UInt64
            )
            ENGINE = ReplacingMergeTree(version)
            ORDER BY key_id
            """,
        ]),
        new(8, "api_key_ingest_tenants", [
            // The other tenants an ingestion key may push into (a Site's agents, whose targets belong to several).
            """
            ALTER TABLE {database}.api_keys ADD COLUMN IF NOT EXISTS ingest_tenants Array(String)
            """,
        ]),
    ];
}
