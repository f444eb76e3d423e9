using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Jobs;

/// <summary>The site-local jobs API: ingest, state, storage and stream settings (configuration section <c>Aperture:Jobs</c>).</summary>
public sealed class JobsOptions
{
    public const string Section = "Aperture:Jobs";

    /// <summary>How long an idempotency key is remembered; a replay within it is accepted and stored once.</summary>
    [Range(typeof(TimeSpan), "00:01:00", "30.00:00:00")]
    public TimeSpan IdempotencyWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Events one POST may carry (an array); more is a 400.</summary>
    [Range(1, 100_000)]
    public int MaxBatchEvents { get; set; } = 5000;

    /// <summary>Largest request body of the ingest route.</summary>
    [Range(1024, 256L * 1024 * 1024)]
    public long MaxRequestBytes { get; set; } = 16L * 1024 * 1024;

    /// <summary>Accepted events waiting for the state writer; when full, ingest waits up to <see cref="ReadTimeout"/>, then answers 503.</summary>
    [Range(1, 10_000_000)]
    public int QueueCapacity { get; set; } = 200_000;

    /// <summary>A flush to ClickHouse starts when this many events wait…</summary>
    [Range(1, 1_000_000)]
    public int FlushEvents { get; set; } = 20_000;

    /// <summary>…or when the oldest waiting event has waited this long (a read flushes at once).</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The longest wait between retries of a failed flush.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan MaxRetryDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a read waits for the events acknowledged before it to be stored; past it, 503.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:05:00")]
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Job states held in memory (the rest are read back from ClickHouse when an event arrives).</summary>
    [Range(100, 10_000_000)]
    public int StateCacheLimit { get; set; } = 200_000;

    /// <summary>
    /// Stored jobs whose keys are held (as 64-bit hashes) so that a new job's first event needs no
    /// ClickHouse read; with more stored jobs than this, every job not held in memory is looked up.
    /// </summary>
    [Range(0, 100_000_000)]
    public int KnownJobsLimit { get; set; } = 5_000_000;

    /// <summary>Recent events kept for stream clients resuming with Last-Event-ID (older ones are read from ClickHouse).</summary>
    [Range(16, 10_000_000)]
    public int StreamBuffer { get; set; } = 10_000;

    /// <summary>Events a stream subscriber may fall behind before it is disconnected (it resumes with Last-Event-ID).</summary>
    [Range(1, 1_000_000)]
    public int SubscriberQueue { get; set; } = 4096;

    /// <summary>Stream clients connected at once; more are answered 503.</summary>
    [Range(1, 100_000)]
    public int MaxSubscribers { get; set; } = 1000;

    /// <summary>Interval of the comment lines that keep idle streams open through proxies.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Items a query answers by default…</summary>
    [Range(1, 1_000_000)]
    public int DefaultLimit { get; set; } = 1000;

    /// <summary>…and at most.</summary>
    [Range(1, 1_000_000)]
    public int MaxLimit { get; set; } = 10_000;
}

/// <summary>The central API's federation of sites (configuration section <c>Aperture:Central</c>).</summary>
public sealed class CentralOptions
{
    public const string Section = "Aperture:Central";

    /// <summary>Site id → the site's local jobs API endpoint (the operator writes one per Site resource).</summary>
    public Dictionary<string, string> Sites { get; set; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Site id → the site's main HTTP API (profiling and servers, 9090), which the watchdog asks for a root cause's
    /// evidence (the server's bottleneck class, the workload's CPU profile diff). A site without one gives no such evidence.
    /// </summary>
    public Dictionary<string, string> SiteApis { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Site id → bearer token for that site's APIs (jobs and main), where it has one.</summary>
    public Dictionary<string, string> SiteTokens { get; set; } = new(StringComparer.Ordinal);

    /// <summary>How long a forwarded query or health probe waits for a site.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:05:00")]
    public TimeSpan SiteTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>Checks the configured sites on start: every endpoint an absolute http(s) URL.</summary>
public sealed class CentralOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<CentralOptions>
{
    private readonly Platform.SectionAnnotationsValidator<CentralOptions> _annotations = new(CentralOptions.Section);

    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, CentralOptions options)
    {
        var errors = new List<string>();
        var annotations = _annotations.Validate(name, options);
        if (annotations.Failed)
        {
            errors.AddRange(annotations.Failures);
        }

        foreach (var (map, key) in new[] { (options.Sites, "Sites"), (options.SiteApis, "SiteApis") })
        {
            foreach (var (id, endpoint) in map)
            {
                if (!Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
                {
                    errors.Add($"{CentralOptions.Section}:{key}:{id} must be an absolute http(s) URL, not '{endpoint}'");
                }
            }
        }

        return errors.Count == 0
            ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(errors);
    }
}
