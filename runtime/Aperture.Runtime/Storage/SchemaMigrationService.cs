using System.Globalization;
using Aperture.Runtime.Health;
using Aperture.Runtime.Hosting;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Storage;

/// <summary>What the schema migration has done so far; read by the readiness check.</summary>
public sealed class SchemaState
{
    private volatile string? _problem = "migrations not applied yet";

    public bool IsCurrent => _problem is null;

    public string? Problem => _problem;

    public void MarkCurrent() => _problem = null;

    public void MarkPending(string reason) => _problem = reason;
}

/// <summary>
/// Applies the schema migrations on start. While ClickHouse is unreachable it retries with
/// backoff and the runtime reports not ready; a changed published migration stops the runtime.
/// </summary>
public sealed partial class SchemaMigrationService(
    ClickHouseClient client,
    IOptions<ClickHouseOptions> options,
    IOptions<RuntimeOptions> runtime,
    IEnumerable<ISchemaFollowUp> followUps,
    SchemaState state,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILoggerFactory loggerFactory,
    ILogger<SchemaMigrationService> logger) : BackgroundService
{
    private static readonly TimeSpan FirstDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var migrator = new SchemaMigrator(client, options.Value.Database, loggerFactory.CreateLogger<SchemaMigrator>());
        var delay = FirstDelay;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var applied = await migrator.ApplyAsync(RuntimeSchema.Migrations, stoppingToken);
                await RecordInstanceAsync(stoppingToken);
                foreach (var followUp in followUps)
                {
                    await followUp.ApplyAsync(stoppingToken);
                }

                state.MarkCurrent();
                LogSchemaCurrent(options.Value.Database, applied.Count);
                return;
            }
            catch (SchemaMigrationException e)
            {
                state.MarkPending(e.Message);
                LogSchemaRefused(e.Message);
                Environment.ExitCode = 3;
                lifetime.StopApplication();
                return;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                state.MarkPending($"migrations pending: {e.Message}");
                LogRetrying(e.Message, delay);
                await Task.Delay(delay, time, stoppingToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }

    private async Task RecordInstanceAsync(CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("instance", string.Create(CultureInfo.InvariantCulture, $"{Environment.MachineName}/{Environment.ProcessId}"));
        parameters.AddParameter("role", runtime.Value.Role);
        parameters.AddParameter("version", RuntimeApplication.Version);
        parameters.AddParameter("started", time.GetUtcNow().ToUnixTimeMilliseconds());
        await client.ExecuteNonQueryAsync(
            $"INSERT INTO `{options.Value.Database}`.runtime_instances (instance, role, version, started_at) " +
            "VALUES ({instance:String}, {role:String}, {version:String}, fromUnixTimestamp64Milli({started:Int64}, 'UTC'))",
            parameters,
            cancellationToken: cancellationToken);
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Information, Message = "Schema of database {Database} is current ({Applied} migrations applied now)")]
    private partial void LogSchemaCurrent(string database, int applied);

    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "Schema migration failed, retrying in {Delay}: {Reason}")]
    private partial void LogRetrying(string reason, TimeSpan delay);

    [LoggerMessage(EventId = 302, Level = LogLevel.Critical, Message = "Schema migration refused; stopping: {Reason}")]
    private partial void LogSchemaRefused(string reason);
}

/// <summary>The schema migrations have been applied.</summary>
public sealed class SchemaReadinessCheck(SchemaState state) : IReadinessCheck
{
    public string Name => "schema";

    public TimeSpan Timeout => TimeSpan.FromSeconds(1);

    public Task CheckAsync(CancellationToken cancellationToken) =>
        state.Problem is { } problem ? Task.FromException(new InvalidOperationException(problem)) : Task.CompletedTask;
}
