using System.Text.Json.Serialization;

namespace Aperture.Runtime.Profiling;

// The JSON shapes of aggregator-api.md. Field names are the spec's (and "target", beyond it); nothing here is computed.

public sealed record AggregateRequestJson(
    [property: JsonPropertyName("agent_id")] string? AgentId,
    [property: JsonPropertyName("time_start_ns")] long? TimeStartNs,
    [property: JsonPropertyName("time_end_ns")] long? TimeEndNs,
    [property: JsonPropertyName("limit")] int? Limit,
    [property: JsonPropertyName("event_type")] string? EventType,
    [property: JsonPropertyName("source")] string? Source,
    [property: JsonPropertyName("target")] string? Target = null);

public sealed record DiffRequestJson(
    [property: JsonPropertyName("baseline_agent_id")] string? BaselineAgentId,
    [property: JsonPropertyName("baseline_start_ns")] long? BaselineStartNs,
    [property: JsonPropertyName("baseline_end_ns")] long? BaselineEndNs,
    [property: JsonPropertyName("comparison_agent_id")] string? ComparisonAgentId,
    [property: JsonPropertyName("comparison_start_ns")] long? ComparisonStartNs,
    [property: JsonPropertyName("comparison_end_ns")] long? ComparisonEndNs,
    [property: JsonPropertyName("event_type")] string? EventType,
    [property: JsonPropertyName("limit")] int? Limit,
    [property: JsonPropertyName("target")] string? Target = null);

public sealed record DiffResponseJson(
    [property: JsonPropertyName("result_json")] string ResultJson,
    [property: JsonPropertyName("error")] string Error);

public sealed record DiffStackJson(
    [property: JsonPropertyName("stack")] string Stack,
    [property: JsonPropertyName("baseline")] ulong Baseline,
    [property: JsonPropertyName("comparison")] ulong Comparison,
    [property: JsonPropertyName("delta")] long Delta);

public sealed record DiffResultJson(
    [property: JsonPropertyName("baseline_total")] ulong BaselineTotal,
    [property: JsonPropertyName("comparison_total")] ulong ComparisonTotal,
    [property: JsonPropertyName("event_type")] string EventType,
    [property: JsonPropertyName("stacks")] IReadOnlyList<DiffStackJson> Stacks);

public sealed record FrameJson(
    [property: JsonPropertyName("ip")] ulong Ip,
    [property: JsonPropertyName("function")] string Function,
    [property: JsonPropertyName("module")] string Module);

public sealed record StackJson([property: JsonPropertyName("frames")] IReadOnlyList<FrameJson> Frames);

public sealed record StackCountJson(
    [property: JsonPropertyName("stack")] StackJson Stack,
    [property: JsonPropertyName("count")] ulong Count,
    [property: JsonPropertyName("value"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] ulong? Value);

public sealed record ProfileJson(
    [property: JsonPropertyName("start_time")] long StartTime,
    [property: JsonPropertyName("end_time")] long EndTime,
    [property: JsonPropertyName("total_samples")] ulong TotalSamples,
    [property: JsonPropertyName("sample_period_ns")] long SamplePeriodNs,
    [property: JsonPropertyName("stacks")] IReadOnlyList<StackCountJson> Stacks)
{
    public static ProfileJson From(KindProfile profile) => new(
        profile.StartTime,
        profile.EndTime,
        profile.TotalSamples,
        profile.SamplePeriodNs,
        [.. profile.Stacks.Select(s => new StackCountJson(
            new StackJson([.. s.Stack.Frames.Select(f => new FrameJson(f.Ip, f.Function, f.Module))]),
            s.Count,
            profile.Kind == EventKind.Cpu ? null : s.Value))]);
}

public sealed record AggregateResponseJson(
    [property: JsonPropertyName("cpu")] ProfileJson Cpu,
    [property: JsonPropertyName("lock")] ProfileJson Lock,
    [property: JsonPropertyName("syscall")] ProfileJson Syscall,
    [property: JsonPropertyName("total_events")] ulong TotalEvents,
    [property: JsonPropertyName("skipped_batches")] int SkippedBatches,
    [property: JsonPropertyName("source")] string Source)
{
    public static AggregateResponseJson From(ProfileAggregate aggregate) => new(
        ProfileJson.From(aggregate.Cpu),
        ProfileJson.From(aggregate.Lock),
        ProfileJson.From(aggregate.Syscall),
        aggregate.TotalEvents,
        aggregate.SkippedBatches,
        aggregate.Source);
}

public sealed record BatchJson(
    [property: JsonPropertyName("agent_id")] string AgentId,
    [property: JsonPropertyName("sequence")] ulong Sequence,
    [property: JsonPropertyName("event_count")] uint EventCount,
    [property: JsonPropertyName("received_at_ns")] long ReceivedAtNs);

public sealed record BatchesResponseJson(
    [property: JsonPropertyName("batches")] IReadOnlyList<BatchJson> Batches,
    [property: JsonPropertyName("error")] string Error);

public sealed record HealthResponseJson(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("buffer_batches")] int BufferBatches,
    [property: JsonPropertyName("buffer_utilization")] double BufferUtilization,
    [property: JsonPropertyName("storage_enabled")] bool StorageEnabled,
    [property: JsonPropertyName("push_total_ok")] long PushTotalOk,
    [property: JsonPropertyName("push_total_error")] long PushTotalError,
    [property: JsonPropertyName("push_events_total")] long PushEventsTotal,
    [property: JsonPropertyName("clickhouse_flush_ok")] long ClickHouseFlushOk,
    [property: JsonPropertyName("clickhouse_flush_error")] long ClickHouseFlushError,
    [property: JsonPropertyName("clickhouse_pending_rows")] long ClickHousePendingRows);
