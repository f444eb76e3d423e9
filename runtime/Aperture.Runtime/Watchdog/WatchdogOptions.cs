using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Watchdog;

/// <summary>The watchdog's intake, series and RCA settings (configuration section <c>Aperture:Watchdog</c>).</summary>
public sealed class WatchdogOptions
{
    public const string Section = "Aperture:Watchdog";

    /// <summary>Batches of points waiting for the detector; when full, ingest waits up to <see cref="IngestTimeout"/>, then answers 503.</summary>
    [Range(1, 100_000)]
    public int QueueBatches { get; set; } = 4096;

    /// <summary>How long an ingest request waits for room in the queue.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00")]
    public TimeSpan IngestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long an ingest request waits for its points to be stored and watched once queued; past it, 503 (the points
    /// stay queued and are stored; a sender's retry stores them again, which the detector skips as out of order).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:30:00")]
    public TimeSpan StoreTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Largest body of <c>POST /api/v1/metrics/import</c>.</summary>
    [Range(1024, 512L * 1024 * 1024)]
    public long MaxImportBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Largest (compressed) body of the remote-write receiver.</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxRemoteWriteBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Points one request may carry.</summary>
    [Range(1, 50_000_000)]
    public int MaxPointsPerRequest { get; set; } = 5_000_000;

    /// <summary>Series the detector keeps state for; a point of a new series past it is stored but not watched.</summary>
    [Range(1, 50_000_000)]
    public int MaxSeries { get; set; } = 2_000_000;

    /// <summary>How often the detectors' learnt state is saved (and on stop), so that a restart resumes it.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan StateSaveInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>A series counts in <c>metrics_monitored</c> while a point of it arrived within this.</summary>
    [Range(typeof(TimeSpan), "00:00:10", "1.00:00:00")]
    public TimeSpan LiveWindow { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>The labels a remote-written series' service is taken from, the first one present.</summary>
    public string[] ServiceLabels { get; set; } = ["service_id", "job"];

    /// <summary>The caller and callee labels of metrics that describe calls between services (Istio's by default).</summary>
    [Required]
    public string CallerLabel { get; set; } = "source_workload";

    [Required]
    public string CalleeLabel { get; set; } = "destination_workload";

    /// <summary>The Alertmanager label naming the tenant of an alert (else the receiver's path, else <c>default</c>).</summary>
    [Required]
    public string AlertTenantLabel { get; set; } = "tenant";

    /// <summary>Points stored per insert, and the longest a point waits for one.</summary>
    [Range(1, 10_000_000)]
    public int FlushPoints { get; set; } = 200_000;

    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Minutes before an anomaly that its RCA looks at for the onset of causes.</summary>
    [Range(1, 24 * 60)]
    public int RcaWindowMinutes { get; set; } = 30;

    /// <summary>Minutes of history before that window the RCA compares against (each candidate's normal).</summary>
    [Range(10, 7 * 24 * 60)]
    public int RcaHistoryMinutes { get; set; } = 180;

    /// <summary>RCA runs waiting; past it an anomaly is recorded without one (rca_triggered false).</summary>
    [Range(1, 100_000)]
    public int RcaQueue { get; set; } = 1000;
}
