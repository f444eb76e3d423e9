using System.Globalization;
using System.Text;
using System.Text.Json;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog;

/// <summary>What <c>GET /api/v1/anomalies</c> may ask for; every read is within one tenant.</summary>
public sealed record AnomalyFilter(
    string Tenant, string? ServiceId, string? MetricName, string? Source, long? SinceMs, long? UntilMs, double? MinScore, bool? Resolved);

/// <summary>Where a page ends: the last anomaly of the page in the order of the listing (newest first).</summary>
public readonly record struct AnomalyCursor(long DetectedAtMs, string AnomalyId);

/// <summary>The anomalies in ClickHouse: one row per version, read as the latest version of each.</summary>
public sealed class AnomalyStore(ClickHouseClient client, string database)
{
    private static readonly string[] Columns =
    [
        "tenant", "anomaly_id", "source", "service_id", "metric_name", "labels", "anomaly_score", "z_score", "value", "expected",
        "detected_at", "observed_at", "resolved", "resolved_at", "rca_triggered", "details", "version",
    ];

    private const string SelectColumns =
        "tenant, anomaly_id, toString(source), service_id, metric_name, labels, anomaly_score, z_score, value, expected, " +
        "toUnixTimestamp64Milli(detected_at), toUnixTimestamp64Milli(observed_at), resolved, " +
        "ifNull(toUnixTimestamp64Milli(resolved_at), -1), rca_triggered, details";

    public async Task WriteAsync(IReadOnlyList<(AnomalyRecord Record, ulong Version)> versions, CancellationToken cancellationToken)
    {
        if (versions.Count == 0)
        {
            return;
        }

        var rows = new RowBinaryWriter(versions.Count * 512 + 256);
        var token = new StringBuilder();
        foreach (var (r, version) in versions)
        {
            rows.WriteString(r.Tenant);
            rows.WriteString(r.AnomalyId);
            rows.WriteString(r.Source);
            rows.WriteString(r.ServiceId);
            rows.WriteString(r.MetricName);
            rows.WriteString(r.Labels);
            rows.WriteFloat64(r.AnomalyScore);
            rows.WriteFloat64(r.ZScore);
            rows.WriteFloat64(r.Value);
            rows.WriteFloat64(r.Expected);
            rows.WriteInt64(r.DetectedAtMs);
            rows.WriteInt64(r.ObservedAtMs);
            rows.WriteUInt8(r.Resolved ? (byte)1 : (byte)0);
            rows.WriteUInt8(r.ResolvedAtMs is null ? (byte)1 : (byte)0);
            if (r.ResolvedAtMs is { } resolvedAt)
            {
                rows.WriteInt64(resolvedAt);
            }

            rows.WriteUInt8(r.RcaTriggered ? (byte)1 : (byte)0);
            rows.WriteString(JsonSerializer.Serialize(r.Details));
            rows.WriteUInt64(version);
            token.Append(r.AnomalyId).Append(':').Append(version).Append(';');
        }

        // The token makes a retried insert of the same versions a no-op.
        await client.InsertAsync(database, "watchdog_anomalies", Columns, rows, "anomalies:" + WatchdogIds.Hash(token.ToString()), cancellationToken);
    }

    public async Task<AnomalyRecord?> FindAsync(string tenant, string anomalyId, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("id", anomalyId);
        var found = await ReadAsync(
            $"SELECT {SelectColumns} FROM `{database}`.watchdog_anomalies FINAL WHERE tenant = {{tenant:String}} AND anomaly_id = {{id:String}}",
            parameters, cancellationToken);
        return found.Count == 0 ? null : found[0];
    }

    /// <returns>A page (newest first, after <paramref name="after"/>) and how many anomalies match the filter in all.</returns>
    public async Task<(IReadOnlyList<AnomalyRecord> Page, long Total)> ListAsync(
        AnomalyFilter filter, AnomalyCursor? after, int limit, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        var where = Where(filter, parameters);
        var total = Convert.ToInt64(
            await client.ExecuteScalarAsync($"SELECT count() FROM `{database}`.watchdog_anomalies FINAL WHERE {where}", parameters, cancellationToken: cancellationToken),
            CultureInfo.InvariantCulture);

        var page = where;
        if (after is { } cursor)
        {
            parameters.AddParameter("after_ms", cursor.DetectedAtMs);
            parameters.AddParameter("after_id", cursor.AnomalyId);
            page += " AND (toUnixTimestamp64Milli(detected_at) < {after_ms:Int64} OR (toUnixTimestamp64Milli(detected_at) = {after_ms:Int64} AND anomaly_id > {after_id:String}))";
        }

        parameters.AddParameter("limit", limit);
        var rows = await ReadAsync(
            $"SELECT {SelectColumns} FROM `{database}`.watchdog_anomalies FINAL WHERE {page} ORDER BY detected_at DESC, anomaly_id ASC LIMIT {{limit:Int32}}",
            parameters, cancellationToken);
        return (rows, total);
    }

    /// <summary>Anomalies of the tenant that the watchdog saw open (its wall clock) since <paramref name="sinceMs"/>.</summary>
    public async Task<long> CountObservedSinceAsync(string tenant, long sinceMs, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("since", sinceMs);
        return Convert.ToInt64(
            await client.ExecuteScalarAsync(
                $"SELECT count() FROM `{database}`.watchdog_anomalies FINAL WHERE tenant = {{tenant:String}} AND toUnixTimestamp64Milli(observed_at) >= {{since:Int64}}",
                parameters, cancellationToken: cancellationToken),
            CultureInfo.InvariantCulture);
    }

    private static string Where(AnomalyFilter filter, ClickHouseParameterCollection parameters)
    {
        var where = new StringBuilder("tenant = {tenant:String}");
        parameters.AddParameter("tenant", filter.Tenant);
        if (filter.ServiceId is { } service)
        {
            parameters.AddParameter("service", service);
            where.Append(" AND service_id = {service:String}");
        }

        if (filter.MetricName is { } metric)
        {
            parameters.AddParameter("metric", metric);
            where.Append(" AND metric_name = {metric:String}");
        }

        if (filter.Source is { } source)
        {
            parameters.AddParameter("source", source);
            where.Append(" AND source = {source:String}");
        }

        if (filter.SinceMs is { } since)
        {
            parameters.AddParameter("since", since);
            where.Append(" AND toUnixTimestamp64Milli(detected_at) >= {since:Int64}");
        }

        if (filter.UntilMs is { } until)
        {
            parameters.AddParameter("until", until);
            where.Append(" AND toUnixTimestamp64Milli(detected_at) <= {until:Int64}");
        }

        if (filter.MinScore is { } minScore)
        {
            parameters.AddParameter("min_score", minScore);
            where.Append(" AND anomaly_score >= {min_score:Float64}");
        }

        if (filter.Resolved is { } resolved)
        {
            parameters.AddParameter("resolved", resolved ? 1 : 0);
            where.Append(" AND resolved = {resolved:UInt8}");
        }

        return where.ToString();
    }

    private async Task<List<AnomalyRecord>> ReadAsync(string sql, ClickHouseParameterCollection parameters, CancellationToken cancellationToken)
    {
        using var reader = await client.ExecuteReaderAsync(sql, parameters, cancellationToken: cancellationToken);
        var records = new List<AnomalyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var resolvedAt = reader.GetInt64(13);
            records.Add(new AnomalyRecord(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetString(5),
                reader.GetDouble(6), reader.GetDouble(7), reader.GetDouble(8), reader.GetDouble(9),
                reader.GetInt64(10), reader.GetInt64(11), Convert.ToByte(reader.GetValue(12), CultureInfo.InvariantCulture) != 0,
                resolvedAt < 0 ? null : resolvedAt, Convert.ToByte(reader.GetValue(14), CultureInfo.InvariantCulture) != 0,
                JsonSerializer.Deserialize<AnomalyDetails>(reader.GetString(15)) ?? new AnomalyDetails()));
        }

        return records;
    }
}
