using System.Text.Json;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Profiling;

/// <summary>The reads behind the HTTP and gRPC APIs, so both answer the same.</summary>
public sealed class ProfileQueries(ProfileBuffer buffer, ProfileStore store, IOptions<ProfilingOptions> options)
{
    public const string Auto = "auto";
    public const string Buffer = "buffer";
    public const string Storage = "storage";
    public const int DefaultDiffStacks = 100;
    public const int MaxDiffStacks = 1000;

    public bool StorageEnabled => options.Value.StorageEnabled;

    /// <summary>
    /// Aggregates from the buffer, or from ClickHouse when the time range starts before what the
    /// buffer holds (or when asked to).
    /// </summary>
    public Task<ProfileAggregate> AggregateAsync(ProfileQuery query, string? source, CancellationToken cancellationToken)
    {
        var chosen = source is null or "" ? Auto : source;
        if (chosen is not (Auto or Buffer or Storage))
        {
            throw new InvalidRequestException("source", $"source must be '{Auto}', '{Buffer}' or '{Storage}', not '{source}'");
        }

        if (chosen == Storage && !StorageEnabled)
        {
            throw new InvalidRequestException("source", "storage is not enabled on this aggregator");
        }

        var useStorage = chosen == Storage
            || (chosen == Auto && StorageEnabled && query.StartNs is { } start && start < buffer.CoverageStartNs);
        return useStorage
            ? store.AggregateAsync(query, cancellationToken)
            : Task.FromResult(BufferAggregation.Aggregate(buffer.NewestFirst(), query));
    }

    /// <summary>The buffer's batches the query selects, newest first, with only the events it includes.</summary>
    public IReadOnlyList<ProfileBatch> QueryBuffer(ProfileQuery query) =>
        buffer.NewestFirst()
            .Where(query.Selects)
            .Take(query.Limit)
            .Select(b => new ProfileBatch(b.AgentId, b.Sequence, b.ReceivedAtNs, b.SamplePeriodNs, [.. b.Events.Where(e => query.Includes(e))], b.Stacks, b.Tenant) { Target = b.Target })
            .ToList();

    public Task<IReadOnlyList<ProfileBatch>> QueryStorageAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        if (!StorageEnabled)
        {
            throw new InvalidRequestException("storage", "storage is not enabled on this aggregator");
        }

        return store.ReadBatchesAsync(query, cancellationToken);
    }

    /// <summary>Recent batches: those still in the buffer and those in storage, newest first.</summary>
    public async Task<IReadOnlyList<BatchSummary>> RecentBatchesAsync(string tenant, string? agentId, int limit, CancellationToken cancellationToken)
    {
        var fromBuffer = buffer.NewestFirst()
            .Where(b => b.Tenant == tenant && (agentId is null || b.AgentId == agentId))
            .Take(limit)
            .Select(b => new BatchSummary(b.AgentId, b.Sequence, (uint)b.Events.Length, b.ReceivedAtNs));
        var fromStorage = StorageEnabled ? await store.RecentBatchesAsync(tenant, agentId, limit, cancellationToken) : [];
        return fromBuffer.Concat(fromStorage)
            .DistinctBy(b => (b.AgentId, b.Sequence))
            .OrderByDescending(b => b.ReceivedAtNs)
            .Take(limit)
            .ToList();
    }

    /// <summary>The two windows' per-stack totals and their difference, as the spec's result_json.</summary>
    public async Task<string> DiffAsync(string tenant, DiffWindows windows, CancellationToken cancellationToken)
    {
        var baseline = await store.WindowAsync(tenant, windows.BaselineAgentId, windows.BaselineStartNs, windows.BaselineEndNs, windows.Kind, windows.Target, cancellationToken);
        var comparison = await store.WindowAsync(tenant, windows.ComparisonAgentId, windows.ComparisonStartNs, windows.ComparisonEndNs, windows.Kind, windows.Target, cancellationToken);
        var diff = ProfileDiff.Compute(baseline, comparison, windows.MaxStacks);
        return JsonSerializer.Serialize(new DiffResultJson(
            diff.BaselineTotal,
            diff.ComparisonTotal,
            windows.Kind.Name(),
            [.. diff.Stacks.Select(s => new DiffStackJson(s.Stack, s.Baseline, s.Comparison, s.Delta))]));
    }
}

/// <summary>A validated diff request; <see cref="Target"/> (null: every target's) applies to both windows.</summary>
public sealed record DiffWindows(
    string? BaselineAgentId, long BaselineStartNs, long BaselineEndNs,
    string? ComparisonAgentId, long ComparisonStartNs, long ComparisonEndNs,
    EventKind Kind, int MaxStacks, string? Target = null);
