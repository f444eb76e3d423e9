using System.Collections.Immutable;
using System.Diagnostics;
using System.Threading.Channels;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using StackFrame = Aperture.Runtime.Profiling.StackFrame;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Takes pushed batches (a PushRequest's protobuf bytes): validates them, refuses a replay of a batch already taken (by agent and
/// sequence, remembered in Redis), holds the batch in the buffer and queues it for storage. A
/// batch is acknowledged once it is in the buffer; see the README for what a crash can lose.
/// </summary>
public sealed partial class PushIngestor(
    ProfileBuffer buffer,
    StackInterner stacksHeld,
    Channel<ProfileBatch> writeQueue,
    PushClaims claims,
    AggregatorStats stats,
    Watchdog.Export.SiteSeries series,
    IOptions<ProfilingOptions> options,
    TimeProvider time,
    ILogger<PushIngestor> logger)
{
    private long _lastReceivedNs;

    /// <param name="principal">Who pushed: the batch is its tenant's, or the tenant the batch names if the principal may push there.</param>
    public async Task<PushResponse> PushAsync(ReadOnlyMemory<byte> request, Access.Principal principal, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var batch = PushRequestReader.Read(request.Span, options.Value, NextReceivedNs(), stacksHeld, principal.Tenant);
            if (!principal.MayIngestInto(batch.Tenant))
            {
                throw new ForbiddenException($"This credential may not push into tenant '{batch.Tenant}'.");
            }

            if (await claims.ClaimAsync(batch.Tenant, batch.AgentId, batch.Sequence, cancellationToken) == PushClaims.Outcome.Duplicate)
            {
                stats.PushSucceeded(0);
                return new PushResponse { Accepted = true, Duplicate = true };
            }

            if (buffer.TryAdd(batch) == BufferAddResult.Full)
            {
                // Forget the claim, so that the agent's retry of this batch is taken, not called a replay.
                await claims.ReleaseAsync(batch.Tenant, batch.AgentId, batch.Sequence);
                stats.Dropped();
                stats.PushFailed();
                LogDropped(batch.AgentId, batch.Sequence, buffer.Capacity);
                return new PushResponse
                {
                    Accepted = false,
                    Error = $"buffer full ({buffer.Capacity} batches waiting for storage); batch dropped, send it again later",
                    RetryAfterMs = (uint)Math.Clamp(options.Value.FlushInterval.TotalMilliseconds * 2, 100, 60_000),
                };
            }

            AggregatorMetrics.BufferBatches.Set(buffer.Count);
            if (options.Value.StorageEnabled)
            {
                stats.RowsPending(batch.Events.Length);
                await writeQueue.Writer.WriteAsync(batch, cancellationToken);
            }

            stats.PushSucceeded((long)batch.SampleCount);
            series.Profile(batch);
            return new PushResponse { Accepted = true, EventsAccepted = (uint)batch.Events.Length };
        }
        catch (Exception e) when (e is InvalidRequestException or ForbiddenException)
        {
            stats.PushFailed();
            series.IngestError(principal.Tenant, Watchdog.Export.SiteSeries.RuntimeService, e is ForbiddenException ? "profile_forbidden" : "profile_invalid");
            throw;
        }
        catch (RedisException)
        {
            stats.PushFailed();
            throw;
        }
        finally
        {
            AggregatorMetrics.PushDuration.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    /// <summary>Receive times strictly increase, so "most recent batches" has one order in memory and in storage.</summary>
    private long NextReceivedNs()
    {
        var now = (time.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100;
        while (true)
        {
            var last = Interlocked.Read(ref _lastReceivedNs);
            var next = Math.Max(now, last + 1);
            if (Interlocked.CompareExchange(ref _lastReceivedNs, next, last) == last)
            {
                return next;
            }
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "Buffer full ({Capacity} batches): dropped batch {Sequence} of agent {AgentId}")]
    private partial void LogDropped(string agentId, ulong sequence, int capacity);
}
