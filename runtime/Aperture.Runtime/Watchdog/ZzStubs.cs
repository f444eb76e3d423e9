// TEMPORARY: stands in for the helpers' branches until they merge; deleted then.
namespace Aperture.Runtime.Watchdog.Detection
{
    public enum MetricDirection { Both, Up, Down }
    public static class MetricDirections { public static MetricDirection Of(string metricName) => MetricDirection.Both; }
    public sealed class DetectorOptions { public const string Section = "Aperture:Watchdog:Detector"; }
    public enum DetectorEvent { None, Warmup, Opened, Ongoing, Resolved, OutOfOrder, Ignored }
    public readonly record struct DetectorVerdict(DetectorEvent Event, double ZScore, double AnomalyScore, double Expected, double Scale);
    public sealed class SeriesDetector(DetectorOptions options, MetricDirection direction)
    {
        public DetectorOptions Options { get; } = options;
        public MetricDirection Direction { get; } = direction;
        public long LastTimestamp { get; private set; }
        public DetectorVerdict Observe(long unixSeconds, double value) { LastTimestamp = unixSeconds; return new(DetectorEvent.None, 0, 0, value, 1); }
    }
}

namespace Aperture.Runtime.Watchdog.Rca
{
    public sealed class ServiceGraph
    {
        public void AddEdge(string caller, string callee) { }
        public bool Contains(string service) => false;
    }
    public sealed record MinuteSeries(string ServiceId, string MetricName, long StartMinute, double[] Values);
    public sealed record ServiceCorrelation(string RelatedService, double CorrelationScore, int LagMinutes, string Direction);
    public sealed record RootCause(string ServiceId, string MetricName, double Score, int LagMinutes, IReadOnlyList<string> Evidence);
    public sealed class CorrelationOptions { public const string Section = "Aperture:Watchdog:Rca"; public int MaxLagMinutes { get; set; } = 10; }
    public static class ServiceCorrelator
    {
        public static IReadOnlyList<ServiceCorrelation> Correlate(string originService, IReadOnlyList<MinuteSeries> series, ServiceGraph graph, int depth, CorrelationOptions options) => [];
        public static IReadOnlyList<RootCause> Analyze(string symptomService, string symptomMetric, long atMinute, int windowMinutes, IReadOnlyList<MinuteSeries> series, ServiceGraph graph, CorrelationOptions options) => [];
    }
    public static class TopologyEdges
    {
        public static (string Caller, string Callee)? FromLabels(IReadOnlyDictionary<string, string> labels, string callerLabel, string calleeLabel) => null;
    }
}
