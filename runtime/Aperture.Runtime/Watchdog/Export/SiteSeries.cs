using Aperture.Runtime.Profiling;
using Aperture.Runtime.Servers;

namespace Aperture.Runtime.Watchdog.Export;

/// <summary>
/// The series a Site's runtime holds for the central watchdog, gathered per minute as its features take data in:
/// gauges (a server's CPU) are averaged over the minute, counts (profile samples) become a rate per second.
/// Thread-safe; the exporter takes each minute once it is over.
/// </summary>
public sealed class SiteSeries(TimeProvider time)
{
    // A count series with no events in a minute is 0 for that minute, not missing, for this long after its last event.
    private const long ZeroFillMinutes = 60;

    /// <summary>The service the runtime's own series belong to.</summary>
    public const string RuntimeService = "aperture-site";
    private const int MaxSeries = 200_000;

    /// <summary>The metrics of a server's series (<see cref="Server"/>); the series' service is the server's slug.</summary>
    public static readonly IReadOnlySet<string> ServerMetricNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "cpu_usage_percent", "cpu_iowait_percent", "memory_percent", "swap_percent", "disk_util_percent", "disk_read_bps",
        "disk_write_bps", "network_rx_bps", "network_tx_bps", "gpu_util_percent", "gpu_memory_percent", "gpu_temperature_c", "gpu_power_w",
    };

    /// <summary>The metrics of a workload's profiled series (<see cref="Profile"/>), each with the event type it counts.</summary>
    public static readonly IReadOnlyDictionary<string, EventKind> ProfileMetricKinds = new Dictionary<string, EventKind>(StringComparer.Ordinal)
    {
        ["cpu_samples_per_second"] = EventKind.Cpu,
        ["lock_wait_seconds_per_second"] = EventKind.Lock,
        ["syscall_latency_seconds_per_second"] = EventKind.Syscall,
    };
    private readonly Lock _lock = new();
    private readonly Dictionary<(SeriesKey Key, long Minute), (double Sum, long Points)> _gauges = [];
    private readonly Dictionary<(SeriesKey Key, long Minute), double> _counts = [];
    private readonly Dictionary<SeriesKey, (long First, long Last)> _countSeries = [];
    private long _droppedPoints;
    private long? _takenBefore;

    public long DroppedPoints => Interlocked.Read(ref _droppedPoints);

    public void Gauge(string tenant, string service, string metric, string labels, double? value, DateTimeOffset at)
    {
        if (value is not { } v || !double.IsFinite(v))
        {
            return;
        }

        var key = (new SeriesKey(tenant, service, metric, labels), at.ToUnixTimeSeconds() / 60);
        lock (_lock)
        {
            if (_gauges.Count >= MaxSeries && !_gauges.ContainsKey(key))
            {
                Interlocked.Increment(ref _droppedPoints);
                return;
            }

            var (sum, points) = _gauges.GetValueOrDefault(key);
            _gauges[key] = (sum + v, points + 1);
        }
    }

    public void Count(string tenant, string service, string metric, string labels, double amount, DateTimeOffset at)
    {
        var series = new SeriesKey(tenant, service, metric, labels);
        var minute = at.ToUnixTimeSeconds() / 60;
        lock (_lock)
        {
            if (_counts.Count >= MaxSeries && !_counts.ContainsKey((series, minute)))
            {
                Interlocked.Increment(ref _droppedPoints);
                return;
            }

            _counts[(series, minute)] = _counts.GetValueOrDefault((series, minute)) + amount;
            _countSeries[series] = _countSeries.TryGetValue(series, out var span) ? (span.First, Math.Max(span.Last, minute)) : (minute, minute);
        }
    }

    /// <summary>A server's snapshot: its CPU, memory, disk, network and each GPU, the server's slug as the service.</summary>
    public void Server(MonitoredServer server, ServerSnapshot snapshot)
    {
        var (t, s, at, sample) = (server.Tenant, server.Slug, snapshot.ReceivedAt, snapshot.Sample);
        Gauge(t, s, "cpu_usage_percent", string.Empty, sample.CpuUsagePercent, at);
        Gauge(t, s, "cpu_iowait_percent", string.Empty, sample.CpuIowaitPercent, at);
        Gauge(t, s, "memory_percent", string.Empty, sample.MemoryPercent, at);
        Gauge(t, s, "swap_percent", string.Empty, sample.SwapPercent, at);
        Gauge(t, s, "disk_util_percent", string.Empty, snapshot.Rates.DiskUtilPercent, at);
        Gauge(t, s, "disk_read_bps", string.Empty, snapshot.Rates.DiskReadBps, at);
        Gauge(t, s, "disk_write_bps", string.Empty, snapshot.Rates.DiskWriteBps, at);
        Gauge(t, s, "network_rx_bps", string.Empty, snapshot.Rates.NetworkRxBps, at);
        Gauge(t, s, "network_tx_bps", string.Empty, snapshot.Rates.NetworkTxBps, at);
        foreach (var gpu in sample.Gpus)
        {
            var labels = SeriesLabels.Canonical([new("gpu", gpu.GpuIndex.ToString(System.Globalization.CultureInfo.InvariantCulture))]);
            Gauge(t, s, "gpu_util_percent", labels, gpu.UtilizationGpuPercent, at);
            Gauge(t, s, "gpu_memory_percent", labels, gpu.MemoryPercent, at);
            Gauge(t, s, "gpu_temperature_c", labels, gpu.TemperatureC, at);
            Gauge(t, s, "gpu_power_w", labels, gpu.PowerW, at);
        }
    }

    /// <summary>
    /// A profile batch: CPU samples, lock wait and syscall latency per second. The service is the batch's target, the
    /// workload its processes belong to, so the pushes of every node running it add up to one series; a batch without
    /// a target (an agent with no targets, or processes no target selects, or an agent too old to say) keeps the
    /// pushing agent as its service.
    /// </summary>
    public void Profile(ProfileBatch batch)
    {
        double cpu = 0, lockNs = 0, syscallNs = 0;
        foreach (var e in batch.Events)
        {
            switch (e.Kind)
            {
                case EventKind.Cpu:
                    cpu += e.Count;
                    break;
                case EventKind.Lock:
                    lockNs += e.Value;
                    break;
                case EventKind.Syscall:
                    syscallNs += e.Value;
                    break;
            }
        }

        var at = time.GetUtcNow();
        var service = batch.Target.Length > 0 ? batch.Target : batch.AgentId;
        Count(batch.Tenant, service, "cpu_samples_per_second", string.Empty, cpu, at);
        Count(batch.Tenant, service, "lock_wait_seconds_per_second", string.Empty, lockNs / 1e9, at);
        Count(batch.Tenant, service, "syscall_latency_seconds_per_second", string.Empty, syscallNs / 1e9, at);
    }

    /// <summary>The runtime's own refusals of data (malformed or unauthorised pushes and samples), per second.</summary>
    public void IngestError(string tenant, string service, string kind) =>
        Count(tenant, service, "ingest_errors_per_second", SeriesLabels.Canonical([new("kind", kind)]), 1, time.GetUtcNow());

    /// <summary>Takes every minute before <paramref name="beforeMinute"/>: gauges as means, counts as rates per second.</summary>
    public List<MetricSample> TakeMinutesBefore(long beforeMinute)
    {
        var points = new List<MetricSample>();
        lock (_lock)
        {
            foreach (var ((key, minute), (sum, count)) in _gauges.Where(g => g.Key.Minute < beforeMinute).ToList())
            {
                points.Add(new MetricSample(key.Tenant, key.ServiceId, key.MetricName, key.Labels, minute * 60_000, sum / count));
                _gauges.Remove((key, minute));
            }

            // Every minute since the last take, for every count series active within the zero-fill window.
            var from = _takenBefore ?? long.MinValue;
            foreach (var (key, (first, last)) in _countSeries.ToList())
            {
                for (var minute = Math.Max(from, first); minute < beforeMinute && minute <= last + ZeroFillMinutes; minute++)
                {
                    var amount = _counts.GetValueOrDefault((key, minute));
                    points.Add(new MetricSample(key.Tenant, key.ServiceId, key.MetricName, key.Labels, minute * 60_000, amount / 60));
                    _counts.Remove((key, minute));
                }

                if (last + ZeroFillMinutes < beforeMinute)
                {
                    _countSeries.Remove(key);
                }
            }

            // Counts of minutes already taken (a late event) are gone: the minute was sent without them.
            foreach (var late in _counts.Keys.Where(k => k.Minute < beforeMinute).ToList())
            {
                _counts.Remove(late);
            }

            _takenBefore = Math.Max(_takenBefore ?? beforeMinute, beforeMinute);
        }

        return points;
    }
}
