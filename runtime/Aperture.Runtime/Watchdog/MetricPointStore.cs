using Aperture.Runtime.Watchdog.Rca;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog;

/// <summary>The watched points in ClickHouse and the per-minute series the RCA reads.</summary>
public sealed class MetricPointStore(ClickHouseClient client, string database)
{
    private static readonly string[] Columns = ["tenant", "service_id", "metric_name", "labels", "ts", "value"];
    private readonly RowBinaryWriter _rows = new(1024 * 1024);

    /// <summary>Stores one flush; a retry with the same <paramref name="token"/> stores it once. Not concurrent (one writer).</summary>
    public async Task WriteAsync(IReadOnlyList<MetricSample> samples, string token, CancellationToken cancellationToken)
    {
        if (samples.Count == 0)
        {
            return;
        }

        _rows.Reset();
        foreach (var s in samples)
        {
            _rows.WriteString(s.Tenant);
            _rows.WriteString(s.ServiceId);
            _rows.WriteString(s.MetricName);
            _rows.WriteString(s.Labels);
            _rows.WriteInt64(s.TimestampMs);
            _rows.WriteFloat64(s.Value);
        }

        await client.InsertAsync(database, "watchdog_points", Columns, _rows, token, cancellationToken);
    }

    /// <summary>
    /// Each series of the tenant (or of the given services) over [<paramref name="fromMinute"/>, <paramref name="toMinute"/>)
    /// as one value per minute (the minute's mean; NaN where it had no point). Series of one service and metric with
    /// several label sets are kept apart, named <c>metric{labels}</c>.
    /// </summary>
    public async Task<IReadOnlyList<MinuteSeries>> MinutesAsync(
        string tenant, IReadOnlyCollection<string>? services, long fromMinute, long toMinute, int maxSeries, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("from", fromMinute * 60);
        parameters.AddParameter("to", toMinute * 60);
        parameters.AddParameter("services", services?.ToArray() ?? []);
        parameters.AddParameter("max", maxSeries);
        using var reader = await client.ExecuteReaderAsync(
            "SELECT service_id, metric_name, labels, groupArray(toInt64(intDiv(toUnixTimestamp(minute), 60))), groupArray(toFloat64(total / points)) FROM ( " +
            $"SELECT service_id, metric_name, labels, minute, sum(points) AS points, sum(total) AS total FROM `{database}`.watchdog_points_minutely " +
            "WHERE tenant = {tenant:String} AND minute >= toDateTime({from:Int64}, 'UTC') AND minute < toDateTime({to:Int64}, 'UTC') " +
            "AND (length({services:Array(String)}) = 0 OR has({services:Array(String)}, service_id)) " +
            "GROUP BY service_id, metric_name, labels, minute ) GROUP BY service_id, metric_name, labels ORDER BY service_id, metric_name, labels LIMIT {max:Int32}",
            parameters,
            cancellationToken: cancellationToken);
        var series = new List<MinuteSeries>();
        var length = (int)(toMinute - fromMinute);
        while (await reader.ReadAsync(cancellationToken))
        {
            var values = new double[length];
            Array.Fill(values, double.NaN);
            var minutes = (long[])reader.GetValue(3);
            var means = (double[])reader.GetValue(4);
            for (var i = 0; i < minutes.Length; i++)
            {
                values[minutes[i] - fromMinute] = means[i];
            }

            var labels = reader.GetString(2);
            var metric = labels.Length == 0 ? reader.GetString(1) : $"{reader.GetString(1)}{{{labels}}}";
            series.Add(new MinuteSeries(reader.GetString(0), metric, fromMinute, values));
        }

        return series;
    }

    /// <summary>The tenant's series with a point since <paramref name="sinceMs"/>, with their point counts and last values.</summary>
    public async Task<IReadOnlyList<LiveSeriesJson>> LiveSeriesAsync(string tenant, string? serviceId, long sinceMs, int limit, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("service", serviceId ?? string.Empty);
        parameters.AddParameter("since", sinceMs / 1000 / 60 * 60);
        parameters.AddParameter("limit", limit);
        using var reader = await client.ExecuteReaderAsync(
            "SELECT service_id, metric_name, labels, sum(points), toUnixTimestamp(max(minute)) " +
            $"FROM `{database}`.watchdog_points_minutely WHERE tenant = {{tenant:String}} AND minute >= toDateTime({{since:Int64}}, 'UTC') " +
            "AND ({service:String} = '' OR service_id = {service:String}) GROUP BY service_id, metric_name, labels ORDER BY service_id, metric_name, labels LIMIT {limit:Int32}",
            parameters,
            cancellationToken: cancellationToken);
        var series = new List<LiveSeriesJson>();
        while (await reader.ReadAsync(cancellationToken))
        {
            series.Add(new LiveSeriesJson(
                reader.GetString(0), reader.GetString(1), SeriesLabels.Parse(reader.GetString(2)), Convert.ToInt64(reader.GetValue(3), System.Globalization.CultureInfo.InvariantCulture),
                DateTimeOffset.FromUnixTimeSeconds(Convert.ToInt64(reader.GetValue(4), System.Globalization.CultureInfo.InvariantCulture))));
        }

        return series;
    }
}

/// <summary>A series of <c>GET /api/v1/metrics/series</c>.</summary>
public sealed record LiveSeriesJson(
    [property: System.Text.Json.Serialization.JsonPropertyName("service_id")] string ServiceId,
    [property: System.Text.Json.Serialization.JsonPropertyName("metric_name")] string MetricName,
    [property: System.Text.Json.Serialization.JsonPropertyName("labels")] IReadOnlyDictionary<string, string> Labels,
    [property: System.Text.Json.Serialization.JsonPropertyName("points")] long Points,
    [property: System.Text.Json.Serialization.JsonPropertyName("last_minute")] DateTimeOffset LastMinute);
