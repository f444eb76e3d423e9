using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog;

/// <summary>A series' saved detector: what it learnt, when its series was last seen, the anomaly it holds open.</summary>
public sealed record SavedDetector(SeriesKey Key, long LastSeenMs, string? OpenAnomaly, byte[] State);

/// <summary>The detectors' learnt state in ClickHouse (<c>watchdog_detector_state</c>), the latest save per series.</summary>
public sealed class DetectorStateStore(ClickHouseClient client, string database, TimeProvider time)
{
    private static readonly string[] Columns = ["tenant", "service_id", "metric_name", "labels", "saved_at", "last_seen", "open_anomaly", "state"];
    private readonly RowBinaryWriter _rows = new(1024 * 1024);

    /// <summary>Saves a set of detectors (one writer: the detector loop).</summary>
    public async Task WriteAsync(IReadOnlyList<SavedDetector> detectors, CancellationToken cancellationToken)
    {
        if (detectors.Count == 0)
        {
            return;
        }

        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        _rows.Reset();
        foreach (var d in detectors)
        {
            _rows.WriteString(d.Key.Tenant);
            _rows.WriteString(d.Key.ServiceId);
            _rows.WriteString(d.Key.MetricName);
            _rows.WriteString(d.Key.Labels);
            _rows.WriteInt64(now);
            _rows.WriteInt64(d.LastSeenMs);
            _rows.WriteString(d.OpenAnomaly ?? string.Empty);
            _rows.WriteBytes(d.State);
        }

        await client.InsertAsync(database, "watchdog_detector_state", Columns, _rows, $"detectors:{Guid.NewGuid():N}", cancellationToken);
    }

    /// <summary>Every series' latest save whose series was seen since <paramref name="sinceMs"/>, at most <paramref name="limit"/>, newest first.</summary>
    public async Task<IReadOnlyList<SavedDetector>> LoadAsync(long sinceMs, int limit, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("since", sinceMs);
        parameters.AddParameter("limit", limit);
        // The state is bytes: it travels as base64 so that no text decoding touches it.
        using var reader = await client.ExecuteReaderAsync(
            "SELECT tenant, service_id, metric_name, labels, toUnixTimestamp64Milli(last_seen), open_anomaly, base64Encode(state) " +
            $"FROM `{database}`.watchdog_detector_state FINAL WHERE last_seen >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') " +
            "ORDER BY last_seen DESC LIMIT {limit:Int32}",
            parameters,
            cancellationToken: cancellationToken);
        var saved = new List<SavedDetector>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var open = reader.GetString(5);
            saved.Add(new SavedDetector(
                new SeriesKey(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)),
                reader.GetInt64(4), open.Length == 0 ? null : open, Convert.FromBase64String(reader.GetString(6))));
        }

        return saved;
    }
}
