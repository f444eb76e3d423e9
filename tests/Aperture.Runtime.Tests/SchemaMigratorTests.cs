using Aperture.Runtime.Profiling;
using Aperture.Runtime.Storage;
using Aperture.Storage;
using Aperture.Testing;
using ClickHouse.Driver;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Runtime.Tests;

public sealed class SchemaMigratorTests : IAsyncLifetime
{
    private readonly TemporaryDirectory _data = new("aperture-migrations");
    private ClickHouseEndpointServer _server = null!;
    private ClickHouseClient _client = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await ClickHouseEndpointServer.StartAsync(_data.Path);
        _client = new ClickHouseClient(_server.ConnectionString);
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
        _data.Dispose();
    }

    private SchemaMigrator Migrator(string database) => new(_client, database, NullLogger<SchemaMigrator>.Instance);

    private static readonly SchemaMigration First = new(1, "first", ["CREATE TABLE IF NOT EXISTS {database}.one (id UInt64) ENGINE = MergeTree ORDER BY id"]);
    private static readonly SchemaMigration Second = new(2, "second", [
        "CREATE TABLE IF NOT EXISTS {database}.two (id UInt64) ENGINE = MergeTree ORDER BY id",
        "ALTER TABLE {database}.one ADD COLUMN IF NOT EXISTS name String",
    ]);

    [Fact]
    public async Task Migrations_apply_in_order_are_recorded_and_a_second_run_applies_nothing()
    {
        var migrator = Migrator("m_order");

        Assert.Equal([1], await migrator.ApplyAsync([First], Cancel));
        Assert.Equal([2], await migrator.ApplyAsync([First, Second], Cancel));
        Assert.Empty(await migrator.ApplyAsync([First, Second], Cancel));

        var recorded = await migrator.ReadRecordedAsync(Cancel);
        Assert.Equal([1, 2], recorded.Keys.Order());
        Assert.Equal(Second.Checksum, recorded[2]);
        Assert.Equal("id,name", await _client.ExecuteScalarAsync(
            "SELECT arrayStringConcat(groupArray(name), ',') FROM (SELECT name FROM system.columns WHERE database = 'm_order' AND table = 'one' ORDER BY position)",
            cancellationToken: Cancel));
    }

    [Fact]
    public async Task The_runtime_schema_applies_cleanly_twice()
    {
        var migrator = Migrator("m_runtime");

        Assert.Equal(RuntimeSchema.Migrations.Select(m => m.Version), await migrator.ApplyAsync(RuntimeSchema.Migrations, Cancel));
        Assert.Empty(await migrator.ApplyAsync(RuntimeSchema.Migrations, Cancel));
    }

    [Fact]
    public async Task Retention_is_set_on_the_profiling_tables_only_when_it_differs()
    {
        await Migrator("m_retention").ApplyAsync(RuntimeSchema.Migrations, Cancel);
        var store = new ProfileStore(_client, "m_retention");

        Assert.Empty(await store.ApplyRetentionAsync(30, Cancel));
        Assert.Equal(["profile_samples", "profile_batches"], await store.ApplyRetentionAsync(7, Cancel));
        Assert.Empty(await store.ApplyRetentionAsync(7, Cancel));

        var engine = (string?)await _client.ExecuteScalarAsync(
            "SELECT engine_full FROM system.tables WHERE database = 'm_retention' AND name = 'profile_samples'", cancellationToken: Cancel);
        Assert.Contains("toIntervalDay(7)", engine, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_published_migration_that_changed_is_refused()
    {
        var migrator = Migrator("m_changed");
        await migrator.ApplyAsync([First], Cancel);
        var edited = First with { Statements = ["CREATE TABLE IF NOT EXISTS {database}.one (id UInt32) ENGINE = MergeTree ORDER BY id"] };

        var error = await Assert.ThrowsAsync<SchemaMigrationException>(() => migrator.ApplyAsync([edited], Cancel));

        Assert.Contains("migration 1 (first)", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Versions_out_of_order_are_refused_before_anything_runs()
    {
        var migrator = Migrator("m_unordered");

        await Assert.ThrowsAsync<SchemaMigrationException>(() => migrator.ApplyAsync([Second, First], Cancel));

        Assert.Equal(0UL, await _client.ExecuteScalarAsync("SELECT count() FROM system.databases WHERE name = 'm_unordered'", cancellationToken: Cancel));
    }
}
