using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Profiling;

/// <summary>The aggregator's ingest, buffer and flush settings (configuration section <c>Aperture:Profiling</c>).</summary>
public sealed class ProfilingOptions
{
    public const string Section = "Aperture:Profiling";

    /// <summary>Batches the in-memory buffer holds; past it, new batches are dropped and counted.</summary>
    [Range(1, 10_000_000)]
    public int BufferCapacity { get; set; } = 10_000;

    /// <summary>How long a batch already in storage stays in the buffer for queries.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan BufferRetention { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>When false, nothing is written to ClickHouse and /api/diff answers that storage is off.</summary>
    public bool StorageEnabled { get; set; } = true;

    /// <summary>A flush starts when this many rows wait…</summary>
    [Range(1, 10_000_000)]
    public int FlushRows { get; set; } = 200_000;

    /// <summary>…or when the oldest waiting row has waited this long.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// …or when no batch has come for this long: the end of a burst is stored at once instead of
    /// waiting out the interval, while a steady stream still makes large inserts.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan FlushIdle { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between retries of a failed flush.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Days profiling samples are kept (ClickHouse TTL; whole day partitions are dropped).</summary>
    [Range(1, 3650)]
    public int RetentionDays { get; set; } = 30;

    /// <summary>How long a pushed (agent, sequence) is remembered, so a replay is not counted twice.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long after its last heartbeat an aggregator counts as gone, and its unstored batches may be taken again.</summary>
    [Range(typeof(TimeSpan), "00:00:00.300", "00:10:00")]
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(15);

    [Range(1, 10_000_000)]
    public int MaxEventsPerBatch { get; set; } = 100_000;

    [Range(1, 10_000)]
    public int MaxFramesPerStack { get; set; } = 512;

    /// <summary>The largest HTTP body or gRPC message accepted.</summary>
    [Range(1024, 1024 * 1024 * 1024)]
    public int MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>How often alert rules are evaluated in the background.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "1.00:00:00")]
    public TimeSpan AlertEvaluationInterval { get; set; } = TimeSpan.FromSeconds(30);
}
