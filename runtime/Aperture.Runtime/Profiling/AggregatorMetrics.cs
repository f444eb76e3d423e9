using Prometheus;

namespace Aperture.Runtime.Profiling;

/// <summary>The aggregator's Prometheus metrics, with the names, types and labels of aggregator-api.md.</summary>
public static class AggregatorMetrics
{
    public static readonly Counter PushTotal = Metrics.CreateCounter("aperture_push_total", "Push RPCs received", "status");
    public static readonly Counter PushEventsTotal = Metrics.CreateCounter("aperture_push_events_total", "Total events ingested");
    public static readonly Histogram PushDuration = Metrics.CreateHistogram("aperture_push_duration_seconds", "Push RPC latency",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14) });
    public static readonly Gauge BufferBatches = Metrics.CreateGauge("aperture_buffer_batches", "Batches in buffer");
    public static readonly Counter BufferDropsTotal = Metrics.CreateCounter("aperture_buffer_drops_total", "Batches dropped (capacity)");
    public static readonly Counter FlushTotal = Metrics.CreateCounter("aperture_clickhouse_flush_total", "ClickHouse flush attempts", "status");
    public static readonly Counter FlushRowsTotal = Metrics.CreateCounter("aperture_clickhouse_flush_rows_total", "Rows flushed");
    public static readonly Histogram FlushDuration = Metrics.CreateHistogram("aperture_clickhouse_flush_duration_seconds", "Flush latency",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 15) });
    public static readonly Gauge PendingRows = Metrics.CreateGauge("aperture_clickhouse_pending_rows", "Pending rows");

    public const string Ok = "ok";
    public const string Error = "error";
}
