using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Profiling;

/// <summary>Turns the fields of an HTTP or gRPC request into a validated query, the same way for both.</summary>
public static class ProfilingRequests
{
    public static ProfileQuery ToQuery(
        string tenant, string? agentId, long? startNs, long? endNs, int? limit, string? eventType, EventKind? defaultKind = null, string? target = null)
    {
        if (startNs < 0)
        {
            throw new InvalidRequestException("time_start_ns", "time_start_ns must not be negative");
        }

        if (endNs < 0)
        {
            throw new InvalidRequestException("time_end_ns", "time_end_ns must not be negative");
        }

        if (startNs is not null && endNs is not null && startNs > endNs)
        {
            throw new InvalidRequestException("time_end_ns", $"the time range is inverted: time_start_ns {startNs} is after time_end_ns {endNs}");
        }

        if (limit < 0)
        {
            throw new InvalidRequestException("limit", "limit must not be negative");
        }

        return new ProfileQuery(
            string.IsNullOrEmpty(agentId) ? null : agentId,
            startNs,
            endNs,
            ParseKind(eventType, "event_type") ?? defaultKind,
            limit is null or 0 ? ProfileQuery.MaxLimit : Math.Min(limit.Value, ProfileQuery.MaxLimit),
            tenant,
            ParseTarget(target));
    }

    /// <summary>A query's target: null (every target's batches) when not given.</summary>
    public static string? ParseTarget(string? target) =>
        string.IsNullOrEmpty(target) ? null
        : target.Length > ProfileQuery.MaxTargetLength ? throw new InvalidRequestException("target", $"target must be at most {ProfileQuery.MaxTargetLength} printable characters")
        : target;

    public static EventKind? ParseKind(string? eventType, string field) =>
        string.IsNullOrEmpty(eventType) ? null
        : EventKinds.TryParse(eventType, out var kind) ? kind
        : throw new InvalidRequestException(field, $"unknown event_type '{eventType}'; expected cpu, lock or syscall");

    public static DiffWindows ToDiffWindows(DiffRequestJson request)
    {
        static long Required(long? value, string field) =>
            value is null ? throw new InvalidRequestException(field, $"{field} is required")
            : value < 0 ? throw new InvalidRequestException(field, $"{field} must not be negative")
            : value.Value;

        var baselineStart = Required(request.BaselineStartNs, "baseline_start_ns");
        var baselineEnd = Required(request.BaselineEndNs, "baseline_end_ns");
        var comparisonStart = Required(request.ComparisonStartNs, "comparison_start_ns");
        var comparisonEnd = Required(request.ComparisonEndNs, "comparison_end_ns");
        if (baselineStart >= baselineEnd)
        {
            throw new InvalidRequestException("baseline_end_ns", "the baseline window is empty or inverted");
        }

        if (comparisonStart >= comparisonEnd)
        {
            throw new InvalidRequestException("comparison_end_ns", "the comparison window is empty or inverted");
        }

        if (request.Limit < 0)
        {
            throw new InvalidRequestException("limit", "limit must not be negative");
        }

        return new DiffWindows(
            string.IsNullOrEmpty(request.BaselineAgentId) ? null : request.BaselineAgentId,
            baselineStart,
            baselineEnd,
            string.IsNullOrEmpty(request.ComparisonAgentId) ? null : request.ComparisonAgentId,
            comparisonStart,
            comparisonEnd,
            ParseKind(request.EventType, "event_type") ?? EventKind.Cpu,
            request.Limit is null or 0 ? ProfileQueries.DefaultDiffStacks : Math.Min(request.Limit.Value, ProfileQueries.MaxDiffStacks),
            ParseTarget(request.Target));
    }
}
