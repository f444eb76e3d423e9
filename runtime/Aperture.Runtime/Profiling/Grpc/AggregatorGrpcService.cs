using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Grpc.Core;
using ProtoStack = Aperture.Contracts.Grpc.Stack;

namespace Aperture.Runtime.Profiling.Grpc;

/// <summary>The aggregator's gRPC service: ingest and the same reads as the HTTP API (bound by <see cref="AggregatorGrpcMethods"/>).</summary>
public sealed class AggregatorGrpcService(PushIngestor ingestor, ProfileQueries queries)
{
    public async Task<PushResponse> Push(PushPayload request, ServerCallContext context)
    {
        using (request)
        {
            return await ingestor.PushAsync(request.Memory, context.GetHttpContext().Principal(), context.CancellationToken);
        }
    }

    public Task<QueryResponse> Query(QueryRequest request, ServerCallContext context)
    {
        var query = ToQuery(Tenant(context), request.AgentId, request.TimeStartNs, request.TimeEndNs, request.Limit, request.EventType);
        var response = new QueryResponse();
        response.Batches.AddRange(queries.QueryBuffer(query).Select(ToProto));
        return Task.FromResult(response);
    }

    public async Task<QueryResponse> QueryStorage(QueryStorageRequest request, ServerCallContext context)
    {
        var query = ToQuery(Tenant(context), request.AgentId, request.TimeStartNs, request.TimeEndNs, request.Limit, request.EventType);
        var response = new QueryResponse();
        response.Batches.AddRange((await queries.QueryStorageAsync(query, context.CancellationToken)).Select(ToProto));
        return response;
    }

    public async Task<AggregateResponse> Aggregate(AggregateRequest request, ServerCallContext context)
    {
        var query = ToQuery(Tenant(context), request.AgentId, request.TimeStartNs, request.TimeEndNs, request.Limit, request.EventType, request.Target);
        var aggregate = await queries.AggregateAsync(query, request.Source, context.CancellationToken);
        return new AggregateResponse
        {
            Cpu = ToProto(aggregate.Cpu),
            Lock = ToProto(aggregate.Lock),
            Syscall = ToProto(aggregate.Syscall),
            TotalEvents = aggregate.TotalEvents,
            SkippedBatches = (uint)aggregate.SkippedBatches,
            Source = aggregate.Source,
        };
    }

    public async Task<DiffResponse> Diff(DiffRequest request, ServerCallContext context)
    {
        var windows = ProfilingRequests.ToDiffWindows(new DiffRequestJson(
            request.BaselineAgentId, Time(request.BaselineStartNs, "baseline_start_ns"), Time(request.BaselineEndNs, "baseline_end_ns"),
            request.ComparisonAgentId, Time(request.ComparisonStartNs, "comparison_start_ns"), Time(request.ComparisonEndNs, "comparison_end_ns"),
            KindName(request.EventType), (int)Math.Min(request.Limit, int.MaxValue), request.Target));
        if (!queries.StorageEnabled)
        {
            return new DiffResponse { Error = "differential profiling requires ClickHouse storage, which is disabled on this aggregator" };
        }

        return new DiffResponse { ResultJson = await queries.DiffAsync(Tenant(context), windows, context.CancellationToken) };
    }

    /// <summary>The tenant of the call's principal (the access middleware ran before the call).</summary>
    private static string Tenant(ServerCallContext context) => context.GetHttpContext().Principal().Tenant;

    private static ProfileQuery ToQuery(string tenant, string agentId, ulong startNs, ulong endNs, uint limit, EventType eventType, string? target = null) =>
        ProfilingRequests.ToQuery(
            tenant,
            agentId,
            startNs == 0 ? null : Time(startNs, "time_start_ns"),
            endNs == 0 ? null : Time(endNs, "time_end_ns"),
            (int)Math.Min(limit, int.MaxValue),
            KindName(eventType),
            target: target);

    private static long Time(ulong value, string field) =>
        value <= long.MaxValue ? (long)value : throw new InvalidRequestException(field, $"{field} is out of range");

    private static string? KindName(EventType type) => type switch
    {
        EventType.Unspecified => null,
        EventType.Cpu => "cpu",
        EventType.Lock => "lock",
        EventType.Syscall => "syscall",
        _ => throw new InvalidRequestException("event_type", $"unknown event type {(int)type}"),
    };

    private static EventType ToProto(EventKind kind) => kind switch
    {
        EventKind.Cpu => EventType.Cpu,
        EventKind.Lock => EventType.Lock,
        _ => EventType.Syscall,
    };

    private static ProtoStack ToProto(CallStack stack)
    {
        var proto = new ProtoStack();
        proto.Frames.AddRange(stack.Frames.Select(f => new Frame { Ip = f.Ip, Function = f.Function, Module = f.Module }));
        return proto;
    }

    private static Batch ToProto(ProfileBatch batch)
    {
        var proto = new Batch
        {
            AgentId = batch.AgentId,
            Sequence = batch.Sequence,
            ReceivedAtNs = (ulong)batch.ReceivedAtNs,
            SamplePeriodNs = (ulong)batch.SamplePeriodNs,
        };
        foreach (var e in batch.Events)
        {
            var item = new Event
            {
                Type = ToProto(e.Kind),
                TimestampNs = (ulong)e.TimestampNs,
                Stack = ToProto(batch.Stacks[e.StackId]),
                Count = e.Count,
                Pid = e.Pid,
                Tid = e.Tid,
            };
            if (e.Kind == EventKind.Lock)
            {
                item.WaitNs = e.Value;
                item.LockAddress = e.LockAddress;
            }
            else if (e.Kind == EventKind.Syscall)
            {
                item.LatencyNs = e.Value;
                item.Syscall = e.Detail;
            }

            proto.Events.Add(item);
        }

        return proto;
    }

    private static Profile ToProto(KindProfile profile)
    {
        var proto = new Profile
        {
            StartTime = (ulong)Math.Max(0, profile.StartTime),
            EndTime = (ulong)Math.Max(0, profile.EndTime),
            TotalSamples = profile.TotalSamples,
            SamplePeriodNs = (ulong)profile.SamplePeriodNs,
        };
        proto.Stacks.AddRange(profile.Stacks.Select(s => new StackCount { Stack = ToProto(s.Stack), Count = s.Count, Value = s.Value }));
        return proto;
    }
}
