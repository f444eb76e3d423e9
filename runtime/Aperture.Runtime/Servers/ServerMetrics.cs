using Prometheus;

namespace Aperture.Runtime.Servers;

/// <summary>Server monitoring's Prometheus metrics.</summary>
public static class ServerMetrics
{
    /// <summary>Ingest requests by the status they were answered with (200, 400, 401, 403, 404, 503).</summary>
    public static readonly Counter IngestTotal = Metrics.CreateCounter("aperture_server_ingest_total", "Server snapshot ingest requests", "status");
    public static readonly Counter FlushTotal = Metrics.CreateCounter("aperture_server_snapshot_flush_total", "Server snapshot flushes to ClickHouse", "status");
    public static readonly Counter FlushedTotal = Metrics.CreateCounter("aperture_server_snapshots_flushed_total", "Server snapshots written to ClickHouse");
    public static readonly Gauge Queued = Metrics.CreateGauge("aperture_server_snapshots_queued", "Server snapshots waiting for ClickHouse");
}
