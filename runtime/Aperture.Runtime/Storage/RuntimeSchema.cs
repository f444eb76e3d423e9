using Aperture.Runtime.Identity;
using Aperture.Runtime.Jobs;
using Aperture.Runtime.Profiling;
using Aperture.Runtime.Servers;
using Aperture.Storage;

namespace Aperture.Runtime.Storage;

/// <summary>
/// The runtime's ClickHouse schema: its own table and each feature's migrations, in version order. Every role
/// applies all of them, since the schema belongs to the database, not to the role that happens to start first.
/// </summary>
public static class RuntimeSchema
{
    public static IReadOnlyList<SchemaMigration> Migrations { get; } =
        [.. Own.Concat(ProfilingSchema.Migrations).Concat(ServersSchema.Migrations).Concat(JobsSchema.Migrations).Concat(IdentitySchema.Migrations).Concat(Watchdog.WatchdogSchema.Migrations).Concat(Watchdog.Memory.IncidentMemorySchema.Migrations).OrderBy(m => m.Version)];

    private static IReadOnlyList<SchemaMigration> Own =>
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
