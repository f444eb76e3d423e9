using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Remembers in Redis which aggregator took which batch, and whether it is stored yet, so that a
/// replay is refused while the batch is safe and taken again when it was lost with a crashed
/// aggregator. A claim is <c>p:&lt;instance&gt;</c> while the batch waits in that instance's buffer
/// and <c>s</c> once ClickHouse has it; each instance keeps a heartbeat key alive while it runs.
/// </summary>
public sealed partial class PushClaims(IConnectionMultiplexer redis, IOptions<ProfilingOptions> options, ILogger<PushClaims> logger)
{
    private const string Stored = "s";
    // Heartbeats are the aggregators' own, not a tenant's; the key is the one they always had.
    private static readonly string InstancePrefix = $"aperture:{Tenants.Default}";

    public string InstanceId { get; } = Guid.NewGuid().ToString("N");

    private string Pending => $"p:{InstanceId}";

    /// <summary>A batch is named by tenant, agent and sequence: agents of two tenants may share ids.</summary>
    private static RedisKey BatchKey(string tenant, string agentId, ulong sequence) => $"aperture:{tenant}:push:{agentId}:{sequence}";

    private static RedisKey HeartbeatKey(string instance) => $"{InstancePrefix}:aggregators:{instance}";

    public enum Outcome
    {
        New,
        Duplicate,
    }

    /// <summary>Claims the batch for this instance, unless it is stored or held by a live aggregator.</summary>
    public async Task<Outcome> ClaimAsync(string tenant, string agentId, ulong sequence, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var key = BatchKey(tenant, agentId, sequence);
        var window = options.Value.IdempotencyWindow;
        if (await db.StringSetAsync(key, Pending, window, When.NotExists).WaitAsync(cancellationToken))
        {
            return Outcome.New;
        }

        var current = (string?)await db.StringGetAsync(key);
        if (current is null || current == Stored || current == Pending)
        {
            return current is null && await db.StringSetAsync(key, Pending, window, When.NotExists) ? Outcome.New : Outcome.Duplicate;
        }

        // Held by another aggregator: a live one will store it; a dead one lost it, so take it over.
        var owner = current.StartsWith("p:", StringComparison.Ordinal) ? current[2..] : string.Empty;
        if (owner.Length > 0 && !await db.KeyExistsAsync(HeartbeatKey(owner)))
        {
            // A WATCH-style transaction: the compare-and-set form needs Redis 8.4, Debian ships 7.
#pragma warning disable SER301
            var transaction = db.CreateTransaction();
            transaction.AddCondition(Condition.StringEqual(key, current));
            _ = transaction.StringSetAsync(key, Pending, window);
#pragma warning restore SER301
            if (await transaction.ExecuteAsync())
            {
                LogTakenOver(agentId, sequence, owner);
                return Outcome.New;
            }
        }

        return Outcome.Duplicate;
    }

    /// <summary>Gives a claim up, so that the agent's retry of a refused batch is taken.</summary>
    public Task ReleaseAsync(string tenant, string agentId, ulong sequence) => redis.GetDatabase().KeyDeleteAsync(BatchKey(tenant, agentId, sequence));

    /// <summary>The batches are in ClickHouse: a replay of any of them is a duplicate from now on.</summary>
    public async Task MarkStoredAsync(IReadOnlyList<ProfileBatch> batches)
    {
        var batch = redis.GetDatabase().CreateBatch();
        var writes = batches.Select(b => batch.StringSetAsync(BatchKey(b.Tenant, b.AgentId, b.Sequence), Stored, options.Value.IdempotencyWindow)).ToList();
        batch.Execute();
        await Task.WhenAll(writes);
    }

    /// <summary>Says this instance is alive, for <paramref name="ttl"/>.</summary>
    public Task BeatAsync(TimeSpan ttl) => redis.GetDatabase().StringSetAsync(HeartbeatKey(InstanceId), 1, ttl);

    [LoggerMessage(EventId = 420, Level = LogLevel.Warning, Message = "Batch {Sequence} of agent {AgentId} was held by aggregator {Owner}, which is gone; taking it again")]
    private partial void LogTakenOver(string agentId, ulong sequence, string owner);
}

/// <summary>Keeps this aggregator's heartbeat alive, so other instances do not take over its batches.</summary>
public sealed partial class AggregatorHeartbeat(PushClaims claims, IOptions<ProfilingOptions> options, TimeProvider time, ILogger<AggregatorHeartbeat> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var ttl = options.Value.HeartbeatTimeout;
        using var timer = new PeriodicTimer(ttl / 3, time);
        do
        {
            try
            {
                await claims.BeatAsync(ttl);
            }
            catch (RedisException e)
            {
                LogBeatFailed(e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 421, Level = LogLevel.Warning, Message = "Heartbeat not written, Redis did not answer: {Reason}")]
    private partial void LogBeatFailed(string reason);
}
