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
    ];
}
