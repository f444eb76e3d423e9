using Prometheus;

namespace Aperture.Runtime.Jobs;

/// <summary>The jobs API's Prometheus metrics (served on /metrics of both listeners).</summary>
public static class JobsMetrics
{
    public static readonly Counter EventsIngested = Metrics.CreateCounter(
        "aperture_jobs_events_ingested_total", "Job events accepted (idempotent replays excluded)", "kind");

    public static readonly Counter Duplicates = Metrics.CreateCounter(
        "aperture_jobs_events_duplicate_total", "Job events answered as replays of an idempotency key already taken");

    public static readonly Counter LateEvents = Metrics.CreateCounter(
        "aperture_jobs_events_late_total", "Job events timestamped after their job ended, stored but not folded into its state");

    public static readonly Counter Rejected = Metrics.CreateCounter(
        "aperture_jobs_ingest_rejected_total", "Ingest requests refused", "reason");

    public static readonly Gauge Subscribers = Metrics.CreateGauge(
        "aperture_jobs_stream_subscribers", "Clients connected to /v1/stream");

    public static readonly Counter SubscribersDropped = Metrics.CreateCounter(
        "aperture_jobs_stream_dropped_total", "Stream clients disconnected because they fell too far behind");

    public static readonly Gauge PendingEvents = Metrics.CreateGauge(
        "aperture_jobs_pending_events", "Accepted job events not yet stored in ClickHouse");

    public static readonly Counter Writes = Metrics.CreateCounter(
        "aperture_jobs_write_total", "ClickHouse writes of job events and state", "status");

    public static readonly Histogram WriteDuration = Metrics.CreateHistogram(
        "aperture_jobs_write_duration_seconds", "Latency of one ClickHouse write of job events and state",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.001, 2, 15) });

    public static readonly Counter CentralForwards = Metrics.CreateCounter(
        "aperture_central_site_requests_total", "Queries the central API forwarded to sites", "site", "outcome");
}
