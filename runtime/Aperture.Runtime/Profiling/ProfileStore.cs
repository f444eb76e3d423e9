using System.Collections.Concurrent;
using System.Collections.Immutable;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Profiling;

/// <summary>A batch as /api/batches lists it.</summary>
public sealed record BatchSummary(string AgentId, ulong Sequence, uint EventCount, long ReceivedAtNs);

/// <summary>
/// Profiling data in ClickHouse: writes batches (stacks once, samples, the batch row) and answers
/// the aggregator's reads with the same selection rules as the in-memory buffer.
/// </summary>
public sealed class ProfileStore(ClickHouseClient client, string database)
{
    private const int KnownStacksLimit = 1_000_000;
    private const int CachedStacksLimit = 200_000;

    private static readonly string[] StackColumns = ["tenant", "stack_id", "frame_ips", "frame_functions", "frame_modules"];
    private static readonly string[] SampleColumns =
        ["tenant", "agent_id", "sequence", "event_type", "ts_ns", "stack_id", "count", "value", "detail", "pid", "tid", "sample_period_ns", "target"];
    private static readonly string[] BatchColumns =
        ["tenant", "agent_id", "sequence", "received_at_ns", "event_count", "sample_count", "min_ts_ns", "max_ts_ns", "kinds", "sample_period_ns", "target"];

    // Stacks this process has written, per tenant (a stack is stored once per tenant that has it): most stacks
    // recur, and writing them again is wasted work.
    private readonly ConcurrentDictionary<(string Tenant, ulong Id), byte> _knownStacks = new();

    // Read back for any tenant: a stack id is the hash of its frames, so an id names the same frames in every tenant.
    private readonly ConcurrentDictionary<ulong, CallStack> _stackCache = new();
    private RowBinaryWriter? _samplesBuffer;

    private string Table(string name) => $"`{database}`.{name}";

    /// <summary>
    /// Sets how many days samples and batches are kept, when that differs from the tables' TTL
    /// (a changed TTL makes ClickHouse rewrite its parts' TTL info, so it is not redone at every start).
    /// </summary>
    /// <returns>The tables whose TTL changed.</returns>
    public async Task<IReadOnlyList<string>> ApplyRetentionAsync(int days, CancellationToken cancellationToken)
    {
        var ttls = new Dictionary<string, string>
        {
            ["profile_samples"] = "toDateTime(fromUnixTimestamp64Nano(ts_ns))",
            ["profile_batches"] = "toDateTime(fromUnixTimestamp64Nano(received_at_ns))",
        };
        var changed = new List<string>();
        foreach (var (table, column) in ttls)
        {
            var parameters = new ClickHouseParameterCollection();
            parameters.AddParameter("database", database);
            parameters.AddParameter("table", table);
            var engine = (string?)await client.ExecuteScalarAsync(
                "SELECT engine_full FROM system.tables WHERE database = {database:String} AND name = {table:String}", parameters, cancellationToken: cancellationToken);
            var wanted = $"toIntervalDay({days.ToString(System.Globalization.CultureInfo.InvariantCulture)})";
            if (engine is null || engine.Contains(wanted, StringComparison.Ordinal))
            {
                continue;
            }

            await client.ExecuteNonQueryAsync($"ALTER TABLE {Table(table)} MODIFY TTL {column} + {wanted}", cancellationToken: cancellationToken);
            changed.Add(table);
        }

        return changed;
    }

    /// <summary>
    /// Writes the batches. <paramref name="flushToken"/> names this write: retrying with the same
    /// token after an unknown outcome stores the rows once (ClickHouse's insert deduplication).
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<ProfileBatch> batches, string flushToken, CancellationToken cancellationToken)
    {
        var newStacks = new Dictionary<(string Tenant, ulong Id), CallStack>();
        // One flush at a time reuses the last flush's buffer (tens of MB, which would be a large-object
        // allocation per flush); a flush that overlaps another gets its own.
        var samples = Interlocked.Exchange(ref _samplesBuffer, null) ?? new RowBinaryWriter(batches.Sum(b => b.Events.Length) * 96 + 1024);
        samples.Reset();
        var sampleRows = 0;
        foreach (var batch in batches)
        {
            var encodedTenant = RowBinaryWriter.EncodeString(batch.Tenant);
            var encodedAgent = RowBinaryWriter.EncodeString(batch.AgentId);
            var encodedTarget = RowBinaryWriter.EncodeString(batch.Target);
            foreach (var (id, stack) in batch.Stacks)
            {
                if (!_knownStacks.ContainsKey((batch.Tenant, id)))
                {
                    newStacks.TryAdd((batch.Tenant, id), stack);
                }
            }

            foreach (var e in batch.Events)
            {
                samples.WriteEncoded(encodedTenant);
                samples.WriteEncoded(encodedAgent);
                samples.WriteUInt64(batch.Sequence);
                samples.WriteInt8((sbyte)e.Kind);
                samples.WriteInt64(e.TimestampNs);
                samples.WriteUInt64(e.StackId);
                samples.WriteUInt64(e.Count);
                samples.WriteUInt64(e.Value);
                samples.WriteString(e.Detail);
                samples.WriteUInt32(e.Pid);
                samples.WriteUInt32(e.Tid);
                samples.WriteInt64(batch.SamplePeriodNs);
                samples.WriteEncoded(encodedTarget);
                sampleRows++;
            }
        }

        if (newStacks.Count > 0)
        {
            var stacks = new RowBinaryWriter();
            foreach (var ((stackTenant, _), stack) in newStacks)
            {
                stacks.WriteString(stackTenant);
                stacks.WriteUInt64(stack.Id);
                stacks.ArrayLength(stack.Frames.Length);
                foreach (var frame in stack.Frames)
                {
                    stacks.WriteUInt64(frame.Ip);
                }

                stacks.ArrayLength(stack.Frames.Length);
                foreach (var frame in stack.Frames)
                {
                    stacks.WriteString(frame.Function);
                }

                stacks.ArrayLength(stack.Frames.Length);
                foreach (var frame in stack.Frames)
                {
                    stacks.WriteString(frame.Module);
                }
            }

            await InsertAsync("profile_stacks", StackColumns, stacks, $"{flushToken}:stacks", cancellationToken);
        }

        try
        {
            if (sampleRows > 0)
            {
                await InsertAsync("profile_samples", SampleColumns, samples, $"{flushToken}:samples", cancellationToken);
            }
        }
        finally
        {
            _samplesBuffer = samples;
        }

        var batchRows = new RowBinaryWriter();
        foreach (var b in batches)
        {
            batchRows.WriteString(b.Tenant);
            batchRows.WriteString(b.AgentId);
            batchRows.WriteUInt64(b.Sequence);
            batchRows.WriteInt64(b.ReceivedAtNs);
            batchRows.WriteUInt32((uint)b.Events.Length);
            batchRows.WriteUInt64(b.SampleCount);
            batchRows.WriteInt64(b.MinTimestampNs);
            batchRows.WriteInt64(b.MaxTimestampNs);
            batchRows.WriteUInt8(KindBits(b));
            batchRows.WriteInt64(b.SamplePeriodNs);
            batchRows.WriteString(b.Target);
        }

        await InsertAsync("profile_batches", BatchColumns, batchRows, $"{flushToken}:batches", cancellationToken);

        if (_knownStacks.Count > KnownStacksLimit)
        {
            _knownStacks.Clear();
        }

        foreach (var key in newStacks.Keys)
        {
            _knownStacks.TryAdd(key, 0);
        }
    }

    /// <summary>One request per table and flush, so that the deduplication token covers the whole write.</summary>
    private Task InsertAsync(string table, string[] columns, RowBinaryWriter rows, string token, CancellationToken cancellationToken) =>
        client.InsertAsync(database, table, columns, rows, token, cancellationToken);

    private static byte KindBits(ProfileBatch batch)
    {
        byte bits = 0;
        foreach (var e in batch.Events)
        {
            bits |= (byte)(1 << (int)e.Kind);
        }

        return bits;
    }

    private sealed record SelectedBatch(string AgentId, ulong Sequence, long MinTs, long MaxTs, long ReceivedAtNs, string Target);

    /// <summary>The query's batches, newest first, and how many more matched past the limit.</summary>
    private async Task<(List<SelectedBatch> Batches, int Skipped)> SelectBatchesAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", query.Tenant);
        parameters.AddParameter("limit", (ulong)query.Limit);
        var where = new List<string> { "tenant = {tenant:String}", "event_count > 0" };
        if (query.AgentId is not null)
        {
            where.Add("agent_id = {agent:String}");
            parameters.AddParameter("agent", query.AgentId);
        }

        if (query.Target is not null)
        {
            where.Add("target = {target:String}");
            parameters.AddParameter("target", query.Target);
        }

        if (query.StartNs is not null)
        {
            where.Add("max_ts_ns >= {start:Int64}");
            parameters.AddParameter("start", query.StartNs.Value);
        }

        if (query.EndNs is not null)
        {
            where.Add("min_ts_ns < {end:Int64}");
            parameters.AddParameter("end", query.EndNs.Value);
        }

        if (query.Kind is not null)
        {
            where.Add("bitTest(kinds, {kind:UInt8})");
            parameters.AddParameter("kind", (byte)query.Kind.Value);
        }

        var sql = $$"""
            SELECT toString(agent_id), sequence, min_ts_ns, max_ts_ns, received_at_ns, count() OVER () AS matching, toString(target)
            FROM {{Table("profile_batches")}} FINAL
            WHERE {{string.Join(" AND ", where)}}
            ORDER BY received_at_ns DESC, agent_id, sequence
            LIMIT {limit:UInt64}
            """;
        var batches = new List<SelectedBatch>();
        ulong matching = 0;
        using var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            batches.Add(new SelectedBatch(reader.GetString(0), reader.GetFieldValue<ulong>(1), reader.GetFieldValue<long>(2), reader.GetFieldValue<long>(3), reader.GetFieldValue<long>(4), reader.GetString(6)));
            matching = reader.GetFieldValue<ulong>(5);
        }

        return (batches, (int)matching - batches.Count);
    }

    private static ClickHouseParameterCollection BatchParameters(string tenant, IReadOnlyList<SelectedBatch> batches, ProfileQuery query, out string where)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("agents", batches.Select(b => b.AgentId).Distinct().ToArray());
        parameters.AddParameter("batch_agents", batches.Select(b => b.AgentId).ToArray());
        parameters.AddParameter("batch_sequences", batches.Select(b => b.Sequence).ToArray());
        // The selected batches' time span lets the sort key and the day partitions prune the read.
        parameters.AddParameter("span_start", Math.Max(batches.Min(b => b.MinTs), query.StartNs ?? long.MinValue));
        parameters.AddParameter("span_end", Math.Min(batches.Max(b => b.MaxTs), (query.EndNs ?? long.MaxValue) - 1));
        var clauses = new List<string>
        {
            "tenant = {tenant:String}",
            "agent_id IN {agents:Array(String)}",
            "ts_ns BETWEEN {span_start:Int64} AND {span_end:Int64}",
            "has(arrayZip({batch_agents:Array(String)}, {batch_sequences:Array(UInt64)}), (toString(agent_id), sequence))",
        };
        if (query.Target is not null)
        {
            clauses.Add("target = {target:String}");
            parameters.AddParameter("target", query.Target);
        }

        if (query.Kind is not null)
        {
            clauses.Add("event_type = {kind:UInt8}");
            parameters.AddParameter("kind", (byte)query.Kind.Value);
        }

        where = string.Join(" AND ", clauses);
        return parameters;
    }

    /// <summary>The same aggregation as <see cref="BufferAggregation"/>, computed by ClickHouse.</summary>
    public async Task<ProfileAggregate> AggregateAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        var (batches, skipped) = await SelectBatchesAsync(query, cancellationToken);
        var accumulators = EventKinds.All.ToDictionary(k => k, k => new KindAccumulator(k));
        if (batches.Count > 0)
        {
            var parameters = BatchParameters(query.Tenant, batches, query, out var where);
            var sql = $"""
                SELECT toUInt8(event_type), stack_id, sum(count), sum(value), min(ts_ns), max(ts_ns), max(sample_period_ns)
                FROM {Table("profile_samples")}
                WHERE {where}
                GROUP BY event_type, stack_id
                """;
            var rows = new List<(EventKind Kind, ulong StackId, ulong Count, ulong Value, long Min, long Max, long Period)>();
            using (var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken))
            {
                while (await reader.ReadAsync(cancellationToken))
                {
                    rows.Add(((EventKind)reader.GetFieldValue<byte>(0), reader.GetFieldValue<ulong>(1), reader.GetFieldValue<ulong>(2),
                        reader.GetFieldValue<ulong>(3), reader.GetFieldValue<long>(4), reader.GetFieldValue<long>(5), reader.GetFieldValue<long>(6)));
                }
            }

            var stacks = await LoadStacksAsync(query.Tenant, rows.Select(r => r.StackId).Distinct().ToList(), cancellationToken);
            foreach (var row in rows)
            {
                accumulators[row.Kind].Add(stacks[row.StackId], row.Count, row.Value, row.Min, row.Max, row.Period);
            }
        }

        return new ProfileAggregate(
            accumulators[EventKind.Cpu].Build(), accumulators[EventKind.Lock].Build(), accumulators[EventKind.Syscall].Build(), skipped, "storage");
    }

    /// <summary>The query's batches with their events, newest first (gRPC QueryStorage).</summary>
    public async Task<IReadOnlyList<ProfileBatch>> ReadBatchesAsync(ProfileQuery query, CancellationToken cancellationToken)
    {
        var (selected, _) = await SelectBatchesAsync(query, cancellationToken);
        if (selected.Count == 0)
        {
            return [];
        }

        var parameters = BatchParameters(query.Tenant, selected, query, out var where);
        var events = new Dictionary<(string, ulong), (List<ProfileEvent> Events, long Period)>();
        var sql = $"""
            SELECT toString(agent_id), sequence, toUInt8(event_type), ts_ns, stack_id, count, value, toString(detail), pid, tid, sample_period_ns
            FROM {Table("profile_samples")}
            WHERE {where}
            ORDER BY agent_id, sequence, ts_ns
            """;
        using (var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                var key = (reader.GetString(0), reader.GetFieldValue<ulong>(1));
                if (!events.TryGetValue(key, out var list))
                {
                    list = ([], reader.GetFieldValue<long>(10));
                    events[key] = list;
                }

                var kind = (EventKind)reader.GetFieldValue<byte>(2);
                var detail = reader.GetString(7);
                var lockAddress = kind == EventKind.Lock && detail.StartsWith("0x", StringComparison.Ordinal)
                    ? ulong.Parse(detail.AsSpan(2), System.Globalization.NumberStyles.HexNumber, System.Globalization.CultureInfo.InvariantCulture)
                    : 0;
                list.Events.Add(new ProfileEvent(kind, reader.GetFieldValue<long>(3), reader.GetFieldValue<ulong>(4),
                    reader.GetFieldValue<ulong>(5), reader.GetFieldValue<ulong>(6), lockAddress, kind == EventKind.Syscall ? SyscallNames.Id(detail) : 0,
                    reader.GetFieldValue<uint>(8), reader.GetFieldValue<uint>(9)));
            }
        }

        var stacks = await LoadStacksAsync(query.Tenant, events.Values.SelectMany(v => v.Events).Select(e => e.StackId).Distinct().ToList(), cancellationToken);
        return selected.Select(b =>
        {
            var (list, period) = events.GetValueOrDefault((b.AgentId, b.Sequence), ([], 0));
            return new ProfileBatch(b.AgentId, b.Sequence, b.ReceivedAtNs, period, [.. list],
                list.Select(e => e.StackId).Distinct().ToDictionary(id => id, id => stacks[id]), query.Tenant)
            { Target = b.Target };
        }).ToList();
    }

    /// <summary>Per-stack totals of one kind in a time window (the sides of a diff); <paramref name="target"/> null: every target's.</summary>
    public async Task<KindProfile> WindowAsync(
        string tenant, string? agentId, long startNs, long endNs, EventKind kind, string? target, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("start", startNs);
        parameters.AddParameter("end", endNs);
        parameters.AddParameter("kind", (byte)kind);
        var agentClause = string.Empty;
        if (agentId is not null)
        {
            agentClause = "AND agent_id = {agent:String}";
            parameters.AddParameter("agent", agentId);
        }

        if (target is not null)
        {
            agentClause += " AND target = {target:String}";
            parameters.AddParameter("target", target);
        }

        var sql = $$"""
            SELECT stack_id, sum(count), sum(value), min(ts_ns), max(ts_ns), max(sample_period_ns)
            FROM {{Table("profile_samples")}}
            WHERE tenant = {tenant:String} {{agentClause}} AND event_type = {kind:UInt8} AND ts_ns >= {start:Int64} AND ts_ns < {end:Int64}
            GROUP BY stack_id
            """;
        var rows = new List<(ulong StackId, ulong Count, ulong Value, long Min, long Max, long Period)>();
        using (var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                rows.Add((reader.GetFieldValue<ulong>(0), reader.GetFieldValue<ulong>(1), reader.GetFieldValue<ulong>(2),
                    reader.GetFieldValue<long>(3), reader.GetFieldValue<long>(4), reader.GetFieldValue<long>(5)));
            }
        }

        var stacks = await LoadStacksAsync(tenant, rows.Select(r => r.StackId).ToList(), cancellationToken);
        var accumulator = new KindAccumulator(kind);
        foreach (var row in rows)
        {
            accumulator.Add(stacks[row.StackId], row.Count, row.Value, row.Min, row.Max, row.Period);
        }

        return accumulator.Build();
    }

    /// <summary>The most recently received batches (GET /api/batches).</summary>
    public async Task<IReadOnlyList<BatchSummary>> RecentBatchesAsync(string tenant, string? agentId, int limit, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("limit", (ulong)limit);
        var agentClause = string.Empty;
        if (agentId is not null)
        {
            agentClause = "AND agent_id = {agent:String}";
            parameters.AddParameter("agent", agentId);
        }

        var result = new List<BatchSummary>();
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT toString(agent_id), sequence, event_count, received_at_ns FROM {Table("profile_batches")} FINAL " +
            $"WHERE tenant = {{tenant:String}} {agentClause} ORDER BY received_at_ns DESC LIMIT {{limit:UInt64}}",
            parameters,
            cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            result.Add(new BatchSummary(reader.GetString(0), reader.GetFieldValue<ulong>(1), reader.GetFieldValue<uint>(2), reader.GetFieldValue<long>(3)));
        }

        return result;
    }

    private async Task<Dictionary<ulong, CallStack>> LoadStacksAsync(string tenant, List<ulong> ids, CancellationToken cancellationToken)
    {
        var found = new Dictionary<ulong, CallStack>(ids.Count);
        var missing = new List<ulong>();
        foreach (var id in ids)
        {
            if (_stackCache.TryGetValue(id, out var cached))
            {
                found[id] = cached;
            }
            else
            {
                missing.Add(id);
            }
        }

        if (missing.Count > 0)
        {
            var parameters = new ClickHouseParameterCollection();
            parameters.AddParameter("tenant", tenant);
            parameters.AddParameter("ids", missing.ToArray());
            using var reader = await client.ExecuteReaderAsync(
                $"SELECT stack_id, frame_ips, frame_functions, arrayMap(m -> toString(m), frame_modules) FROM {Table("profile_stacks")} " +
                "WHERE tenant = {tenant:String} AND stack_id IN {ids:Array(UInt64)} LIMIT 1 BY stack_id",
                parameters,
                cancellationToken: cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var ips = (ulong[])reader.GetValue(1);
                var functions = (string[])reader.GetValue(2);
                var modules = (string[])reader.GetValue(3);
                var frames = ImmutableArray.CreateRange(ips.Select((ip, i) => new StackFrame(ip, functions[i], modules[i])));
                var stack = new CallStack(frames);
                found[reader.GetFieldValue<ulong>(0)] = stack;
                if (_stackCache.Count < CachedStacksLimit)
                {
                    _stackCache.TryAdd(stack.Id, stack);
                }
            }
        }

        foreach (var id in ids)
        {
            if (!found.ContainsKey(id))
            {
                // A sample whose stack row is missing (written by hand, or lost) still counts.
                found[id] = new CallStack([new StackFrame(0, $"[unknown stack {id:x16}]", string.Empty)]);
            }
        }

        return found;
    }
}
