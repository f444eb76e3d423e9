using System.Globalization;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Jobs;

/// <summary>One accepted job event as stored (job_events).</summary>
public sealed record JobEventRow(
    string Tenant, string SiteId, string EntityType, string EntityId, string ParentId, string Kind, long AtMs, string Status,
    ulong StreamId, string IdempotencyKey, long ReceivedAtMs, string Payload);

/// <summary>A job's or subjob's state as stored (job_state); <see cref="State"/> is the fold's own record.</summary>
public sealed record JobStateRow(
    string Tenant, string SiteId, string EntityType, string JobId, string ParentId, string AppId, string AppName, string AppVersion,
    string JobKey, string SubKey, string Status, long? StartedAtMs, long? EndedAtMs, double? DurationS, double? CpuUserS,
    double? CpuSystemS, double? MemMaxMb, string Metadata, long InsertedAtMs, ulong Version, string State);

/// <summary>
/// The filters of GET /v1/jobs and /v1/subjobs, always within one tenant: started_at in [from, to), statuses,
/// app name containing.
/// </summary>
public sealed record JobQuery(string Tenant, string EntityType, long? FromMs, long? ToMs, IReadOnlyList<string> Statuses, string? AppName, int Limit);

/// <summary>A job's or subjob's identity: the same site and id in two tenants are two jobs.</summary>
public readonly record struct JobIdentity(string Tenant, string Site, string Type, string Id);

/// <summary>Job events and job state in ClickHouse; every read is within one tenant, or keyed by it.</summary>
public sealed class JobStore(ClickHouseClient client, string database)
{
    private static readonly string[] EventColumns =
        ["tenant", "site_id", "entity_type", "entity_id", "parent_id", "kind", "at", "status", "stream_id", "idempotency_key", "received_at", "payload"];

    private static readonly string[] StateColumns =
    [
        "tenant", "site_id", "entity_type", "job_id", "parent_id", "app_id", "app_name", "app_version", "job_key", "sub_key", "status",
        "started_at", "ended_at", "duration_s", "cpu_user_s", "cpu_system_s", "mem_max_mb", "metadata", "inserted_at", "version", "state",
    ];

    private const string StateSelect =
        "toString(site_id), toString(entity_type), job_id, parent_id, app_id, app_name, app_version, job_key, sub_key, toString(status), " +
        "toUnixTimestamp64Milli(started_at), toUnixTimestamp64Milli(ended_at), duration_s, cpu_user_s, cpu_system_s, mem_max_mb, metadata, " +
        "toUnixTimestamp64Milli(inserted_at), version";

    private string Table(string name) => $"`{database}`.{name}";

    /// <summary>
    /// Writes events and the states they changed. <paramref name="flushToken"/> names this write: a
    /// retry with the same token after an unknown outcome stores the rows once.
    /// </summary>
    public async Task WriteAsync(IReadOnlyList<JobEventRow> events, IReadOnlyList<JobStateRow> states, string flushToken, CancellationToken cancellationToken)
    {
        if (events.Count > 0)
        {
            var rows = new RowBinaryWriter(events.Count * 512 + 1024);
            foreach (var e in events)
            {
                rows.WriteString(e.Tenant);
                rows.WriteString(e.SiteId);
                rows.WriteString(e.EntityType);
                rows.WriteString(e.EntityId);
                rows.WriteString(e.ParentId);
                rows.WriteString(e.Kind);
                rows.WriteInt64(e.AtMs);
                rows.WriteString(e.Status);
                rows.WriteUInt64(e.StreamId);
                rows.WriteString(e.IdempotencyKey);
                rows.WriteInt64(e.ReceivedAtMs);
                rows.WriteString(e.Payload);
            }

            await InsertAsync("job_events", EventColumns, rows, $"{flushToken}:events", cancellationToken);
        }

        if (states.Count > 0)
        {
            var rows = new RowBinaryWriter(states.Count * 768 + 1024);
            foreach (var s in states)
            {
                rows.WriteString(s.Tenant);
                rows.WriteString(s.SiteId);
                rows.WriteString(s.EntityType);
                rows.WriteString(s.JobId);
                rows.WriteString(s.ParentId);
                rows.WriteString(s.AppId);
                rows.WriteString(s.AppName);
                rows.WriteString(s.AppVersion);
                rows.WriteString(s.JobKey);
                rows.WriteString(s.SubKey);
                rows.WriteString(s.Status);
                NullableInt64(rows, s.StartedAtMs);
                NullableInt64(rows, s.EndedAtMs);
                NullableFloat64(rows, s.DurationS);
                NullableFloat64(rows, s.CpuUserS);
                NullableFloat64(rows, s.CpuSystemS);
                NullableFloat64(rows, s.MemMaxMb);
                rows.WriteString(s.Metadata);
                rows.WriteInt64(s.InsertedAtMs);
                rows.WriteUInt64(s.Version);
                rows.WriteString(s.State);
            }

            await InsertAsync("job_state", StateColumns, rows, $"{flushToken}:state", cancellationToken);
        }
    }

    private static void NullableInt64(RowBinaryWriter rows, long? value)
    {
        rows.WriteUInt8(value is null ? (byte)1 : (byte)0);
        if (value is { } v)
        {
            rows.WriteInt64(v);
        }
    }

    private static void NullableFloat64(RowBinaryWriter rows, double? value)
    {
        rows.WriteUInt8(value is null ? (byte)1 : (byte)0);
        if (value is { } v)
        {
            rows.WriteUInt64(BitConverter.DoubleToUInt64Bits(v));
        }
    }

    /// <summary>One request per table and flush, so that the deduplication token covers the whole write.</summary>
    private Task InsertAsync(string table, string[] columns, RowBinaryWriter rows, string token, CancellationToken cancellationToken) =>
        client.InsertAsync(database, table, columns, rows, token, cancellationToken);

    /// <summary>The stored fold records of the given jobs; jobs never seen are absent.</summary>
    public async Task<Dictionary<JobIdentity, string>> LoadStatesAsync(IReadOnlyCollection<JobIdentity> keys, CancellationToken cancellationToken)
    {
        var found = new Dictionary<JobIdentity, string>();
        if (keys.Count == 0)
        {
            return found;
        }

        // The IN lists select a superset (one tenant's site and another's id); only the keys asked for are kept.
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenants", keys.Select(k => k.Tenant).Distinct(StringComparer.Ordinal).ToArray());
        parameters.AddParameter("ids", keys.Select(k => k.Id).Distinct(StringComparer.Ordinal).ToArray());
        parameters.AddParameter("sites", keys.Select(k => k.Site).Distinct(StringComparer.Ordinal).ToArray());
        parameters.AddParameter("types", keys.Select(k => k.Type).Distinct(StringComparer.Ordinal).ToArray());
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT toString(tenant), toString(site_id), toString(entity_type), job_id, argMax(state, version) FROM {Table("job_state")} " +
            "WHERE tenant IN {tenants:Array(String)} AND site_id IN {sites:Array(String)} AND entity_type IN {types:Array(String)} AND job_id IN {ids:Array(String)} " +
            "GROUP BY tenant, site_id, entity_type, job_id",
            parameters,
            cancellationToken: cancellationToken);
        var wanted = keys as IReadOnlySet<JobIdentity> ?? keys.ToHashSet();
        while (await reader.ReadAsync(cancellationToken))
        {
            var key = new JobIdentity(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
            if (wanted.Contains(key))
            {
                found[key] = reader.GetString(4);
            }
        }

        return found;
    }

    /// <summary>Calls <paramref name="each"/> with the key of every stored job and subjob, up to <paramref name="limit"/>.</summary>
    /// <returns>False when there are more than <paramref name="limit"/>.</returns>
    public async Task<bool> ReadKeysAsync(int limit, Action<JobIdentity> each, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("limit", (ulong)limit + 1);
        var count = 0;
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT DISTINCT toString(tenant), toString(site_id), toString(entity_type), job_id FROM {Table("job_state")} LIMIT {{limit:UInt64}}",
            parameters,
            cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            if (++count > limit)
            {
                return false;
            }

            each(new JobIdentity(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return true;
    }

    /// <summary>The jobs or subjobs of the query's tenant matching <paramref name="query"/>, newest start first.</summary>
    public async Task<List<JobStateRow>> QueryAsync(JobQuery query, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", query.Tenant);
        parameters.AddParameter("type", query.EntityType);
        parameters.AddParameter("limit", (ulong)query.Limit);
        var where = new List<string> { "tenant = {tenant:String}", "entity_type = {type:String}" };
        if (query.FromMs is { } from)
        {
            where.Add("started_at >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')");
            parameters.AddParameter("from", from);
        }

        if (query.ToMs is { } to)
        {
            where.Add("started_at < fromUnixTimestamp64Milli({to:Int64}, 'UTC')");
            parameters.AddParameter("to", to);
        }

        if (query.Statuses.Count > 0)
        {
            where.Add("status IN {statuses:Array(String)}");
            parameters.AddParameter("statuses", query.Statuses.ToArray());
        }

        if (query.AppName is { } name)
        {
            where.Add("positionCaseInsensitiveUTF8(app_name, {app:String}) > 0");
            parameters.AddParameter("app", name);
        }

        var sql = $"""
            SELECT {StateSelect}
            FROM {Table("job_state")} FINAL
            WHERE {string.Join(" AND ", where)}
            ORDER BY started_at DESC, job_id
            LIMIT {"{limit:UInt64}"}
            """;
        var rows = new List<JobStateRow>();
        using var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new JobStateRow(
                query.Tenant, reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetString(6), reader.GetString(7), reader.GetString(8), reader.GetString(9),
                NullableLong(reader, 10), NullableLong(reader, 11), NullableDouble(reader, 12), NullableDouble(reader, 13),
                NullableDouble(reader, 14), NullableDouble(reader, 15), reader.GetString(16), reader.GetFieldValue<long>(17),
                reader.GetFieldValue<ulong>(18), string.Empty));
        }

        return rows;
    }

    /// <summary>The tenant's stored events after <paramref name="afterStreamId"/>, oldest first (stream resumption).</summary>
    public async Task<List<(ulong StreamId, string Payload)>> EventsAfterAsync(
        string tenant, ulong afterStreamId, ulong upToStreamId, int limit, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("after", afterStreamId);
        parameters.AddParameter("upto", upToStreamId);
        parameters.AddParameter("limit", (ulong)limit);
        var events = new List<(ulong, string)>();
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT stream_id, any(payload) FROM {Table("job_events")} " +
            "WHERE tenant = {tenant:String} AND stream_id > {after:UInt64} AND stream_id <= {upto:UInt64} " +
            "GROUP BY stream_id ORDER BY stream_id LIMIT {limit:UInt64}",
            parameters,
            cancellationToken: cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            events.Add((reader.GetFieldValue<ulong>(0), reader.GetString(1)));
        }

        return events;
    }

    private static long? NullableLong(System.Data.Common.DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : Convert.ToInt64(reader.GetValue(ordinal), CultureInfo.InvariantCulture);

    private static double? NullableDouble(System.Data.Common.DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetFieldValue<double>(ordinal);
}
