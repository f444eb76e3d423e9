using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using Microsoft.Extensions.Logging;

namespace Aperture.Storage;

/// <summary>
/// Applies <see cref="SchemaMigration"/>s in version order and records each in
/// <c>schema_migrations</c>. Running it again applies nothing; a recorded migration whose
/// statements changed since is refused rather than silently skipped.
/// </summary>
public sealed partial class SchemaMigrator(ClickHouseClient client, string database, ILogger<SchemaMigrator> logger)
{
    private string Quoted => $"`{database}`";

    /// <returns>The versions applied by this call, in order.</returns>
    public async Task<IReadOnlyList<int>> ApplyAsync(IReadOnlyList<SchemaMigration> migrations, CancellationToken cancellationToken)
    {
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version <= migrations[i - 1].Version)
            {
                throw new SchemaMigrationException($"migration versions must increase: {migrations[i - 1].Version} then {migrations[i].Version}");
            }
        }

        await client.ExecuteNonQueryAsync($"CREATE DATABASE IF NOT EXISTS {Quoted}", cancellationToken: cancellationToken);
        await client.ExecuteNonQueryAsync(
            $"""
            CREATE TABLE IF NOT EXISTS {Quoted}.schema_migrations
            (
                version UInt32,
                name String,
                checksum String,
                applied_at DateTime64(3, 'UTC')
            )
            ENGINE = ReplacingMergeTree
            ORDER BY version
            """,
            cancellationToken: cancellationToken);

        var recorded = await ReadRecordedAsync(cancellationToken);
        var applied = new List<int>();
        foreach (var migration in migrations)
        {
            if (recorded.TryGetValue(migration.Version, out var checksum))
            {
                if (checksum != migration.Checksum)
                {
                    throw new SchemaMigrationException(
                        $"migration {migration.Version} ({migration.Name}) was applied with checksum {checksum} but the code now has {migration.Checksum}; published migrations must not change, add a new one");
                }

                continue;
            }

            foreach (var statement in migration.Statements)
            {
                await client.ExecuteNonQueryAsync(statement.Replace("{database}", Quoted, StringComparison.Ordinal), cancellationToken: cancellationToken);
            }

            var parameters = new ClickHouseParameterCollection();
            parameters.AddParameter("version", (uint)migration.Version);
            parameters.AddParameter("name", migration.Name);
            parameters.AddParameter("checksum", migration.Checksum);
            await client.ExecuteNonQueryAsync(
                $"INSERT INTO {Quoted}.schema_migrations (version, name, checksum, applied_at) VALUES ({{version:UInt32}}, {{name:String}}, {{checksum:String}}, now64(3))",
                parameters,
                cancellationToken: cancellationToken);
            applied.Add(migration.Version);
            LogApplied(migration.Version, migration.Name);
        }

        return applied;
    }

    /// <summary>The recorded migrations, version to checksum.</summary>
    public async Task<IReadOnlyDictionary<int, string>> ReadRecordedAsync(CancellationToken cancellationToken)
    {
        var recorded = new Dictionary<int, string>();
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT version, checksum FROM {Quoted}.schema_migrations FINAL ORDER BY version",
            cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            recorded[(int)reader.GetFieldValue<uint>(0)] = reader.GetString(1);
        }

        return recorded;
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Applied schema migration {Version} ({Name})")]
    private partial void LogApplied(int version, string name);
}
