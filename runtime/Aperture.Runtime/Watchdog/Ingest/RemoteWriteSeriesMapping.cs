namespace Aperture.Runtime.Watchdog.Ingest;

/// <summary>A remote-write series as the watchdog sees it: whose service, which metric, and the labels left.</summary>
public sealed record RemoteWriteMetric(string ServiceId, string ServiceLabel, string MetricName, IReadOnlyDictionary<string, string> Labels);

/// <summary>Maps a remote-write series' labels to a service and a metric.</summary>
public static class RemoteWriteSeriesMapping
{
    public const string MetricNameLabel = "__name__";

    /// <summary>service_id where the sender sets it (a relabel rule), else Prometheus' own job.</summary>
    public static readonly IReadOnlyList<string> DefaultServiceLabels = ["service_id", "job"];

    /// <returns>
    /// The mapped series, or null when it has no metric name or none of <paramref name="serviceLabels"/>
    /// (an empty value counts as absent, as it does in Prometheus).
    /// </returns>
    public static RemoteWriteMetric? Map(IReadOnlyDictionary<string, string> labels, IReadOnlyList<string>? serviceLabels = null)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (!labels.TryGetValue(MetricNameLabel, out var metric) || metric.Length == 0)
        {
            return null;
        }

        foreach (var serviceLabel in serviceLabels ?? DefaultServiceLabels)
        {
            if (serviceLabel != MetricNameLabel && labels.TryGetValue(serviceLabel, out var service) && service.Length > 0)
            {
                var rest = new Dictionary<string, string>(labels.Count, StringComparer.Ordinal);
                foreach (var (name, value) in labels)
                {
                    if (name != MetricNameLabel && name != serviceLabel)
                    {
                        rest[name] = value;
                    }
                }

                return new RemoteWriteMetric(service, serviceLabel, metric, rest);
            }
        }

        return null;
    }
}
