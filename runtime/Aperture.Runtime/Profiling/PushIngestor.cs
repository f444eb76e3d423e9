using Aperture.Runtime.Api;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Threading.Channels;
using Aperture.Contracts.Grpc;
using Aperture.Profiling;
using Aperture.Storage;
using StackFrame = Aperture.Profiling.StackFrame;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Profiling;

/// <summary>
/// Takes pushed batches: validates them, refuses a replay of a batch already taken (by agent and
/// sequence, remembered in Redis), holds the batch in the buffer and queues it for storage. A
/// batch is acknowledged once it is in the buffer; see the README for what a crash can lose.
/// </summary>
public sealed partial class PushIngestor(
    ProfileBuffer buffer,
    Channel<ProfileBatch> writeQueue,
    IConnectionMultiplexer redis,
    AggregatorStats stats,
    IOptions<ProfilingOptions> options,
    TimeProvider time,
    ILogger<PushIngestor> logger)
{
    private const int MaxAgentIdLength = 256;
    private const int MaxTextLength = 4096;
    private long _lastReceivedNs;

    public async Task<PushResponse> PushAsync(PushRequest request, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            var batch = ToBatch(request);
            var key = (RedisKey)$"aperture:{ProfileStore.DefaultTenant}:push:{batch.AgentId}:{batch.Sequence}";
            var database = redis.GetDatabase();
            if (!await database.StringSetAsync(key, 1, options.Value.IdempotencyWindow, When.NotExists).WaitAsync(cancellationToken))
            {
                stats.PushSucceeded(0);
                return new PushResponse { Accepted = true, Duplicate = true };
            }

            if (buffer.TryAdd(batch) == BufferAddResult.Full)
            {
                // Forget the claim, so that the agent's retry of this batch is taken, not called a replay.
                await database.KeyDeleteAsync(key);
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
            return new PushResponse { Accepted = true, EventsAccepted = (uint)batch.Events.Length };
        }
        catch (InvalidRequestException)
        {
            stats.PushFailed();
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

    private ProfileBatch ToBatch(PushRequest request)
    {
        var limits = options.Value;
        if (string.IsNullOrWhiteSpace(request.AgentId) || request.AgentId.Length > MaxAgentIdLength)
        {
            throw new InvalidRequestException("agent_id", $"agent_id is required and at most {MaxAgentIdLength} characters");
        }

        if (request.Events.Count > limits.MaxEventsPerBatch)
        {
            throw new InvalidRequestException("events", $"a batch holds at most {limits.MaxEventsPerBatch} events, this one {request.Events.Count}");
        }

        if (request.SamplePeriodNs > long.MaxValue)
        {
            throw new InvalidRequestException("sample_period_ns", "sample_period_ns is out of range");
        }

        var stacks = new Dictionary<ulong, CallStack>();
        var events = ImmutableArray.CreateBuilder<ProfileEvent>(request.Events.Count);
        for (var i = 0; i < request.Events.Count; i++)
        {
            var e = request.Events[i];
            var kind = e.Type switch
            {
                EventType.Cpu => EventKind.Cpu,
                EventType.Lock => EventKind.Lock,
                EventType.Syscall => EventKind.Syscall,
                _ => throw new InvalidRequestException($"events[{i}].type", $"events[{i}] has unknown event type {(int)e.Type}; expected cpu, lock or syscall"),
            };
            if (e.TimestampNs > long.MaxValue)
            {
                throw new InvalidRequestException($"events[{i}].timestamp_ns", $"events[{i}].timestamp_ns is out of range");
            }

            var frames = e.Stack?.Frames ?? [];
            if (frames.Count == 0 || frames.Count > limits.MaxFramesPerStack)
            {
                throw new InvalidRequestException($"events[{i}].stack", $"events[{i}] needs a stack of 1 to {limits.MaxFramesPerStack} frames, not {frames.Count}");
            }

            var builder = ImmutableArray.CreateBuilder<StackFrame>(frames.Count);
            foreach (var frame in frames)
            {
                if (frame.Function.Length > MaxTextLength || frame.Module.Length > MaxTextLength)
                {
                    throw new InvalidRequestException($"events[{i}].stack", $"events[{i}] has a frame name longer than {MaxTextLength} characters");
                }

                builder.Add(new StackFrame(frame.Ip, frame.Function, frame.Module));
            }

            var stack = new CallStack(builder.MoveToImmutable());
            stacks.TryAdd(stack.Id, stack);
            var (value, detail) = kind switch
            {
                EventKind.Lock => (e.WaitNs, e.LockAddress == 0 ? string.Empty : $"0x{e.LockAddress:x}"),
                EventKind.Syscall => (e.LatencyNs, e.Syscall.Length <= MaxTextLength ? e.Syscall : e.Syscall[..MaxTextLength]),
                _ => (0UL, string.Empty),
            };
            events.Add(new ProfileEvent(kind, (long)e.TimestampNs, stack.Id, Math.Max(1, e.Count), value, detail, e.Pid, e.Tid));
        }

        return new ProfileBatch(request.AgentId, request.Sequence, NextReceivedNs(), (long)request.SamplePeriodNs, events.MoveToImmutable(), stacks);
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
