using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Aperture.Runtime.Identity;
using Aperture.Storage;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog.Export;

/// <summary>Where a Site's runtime sends its series (configuration section <c>Aperture:Watchdog:Export</c>).</summary>
public sealed partial class SeriesExportOptions : IValidatableObject
{
    public const string Section = "Aperture:Watchdog:Export";

    /// <summary>The central runtime's HTTP address; unset: <c>Aperture:Identity:CentralUrl</c>; neither: no export.</summary>
    [Url]
    public string? CentralUrl { get; set; }

    /// <summary>A file holding an ingestion API key of the central runtime that may write into the Site's tenants (the Site's agent key).</summary>
    public string? TokenFile { get; set; }

    [Range(typeof(TimeSpan), "00:00:01", "00:10:00")]
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(20);

    [Range(typeof(TimeSpan), "00:00:01", "00:05:00")]
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Points held while the central runtime cannot be reached; past it the oldest are dropped (and counted).</summary>
    [Range(1000, 50_000_000)]
    public int MaxPendingPoints { get; set; } = 1_000_000;

    /// <summary>
    /// The Site's name (the operator sets its Site object's): every series sent carries it as the label <c>site</c>,
    /// so the centre knows which Site to ask for a series' evidence. Unset: no label.
    /// </summary>
    public string? SiteId { get; set; }

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (SiteId is not null && !SiteIdPattern().IsMatch(SiteId))
        {
            yield return new ValidationResult(
                "must be a Kubernetes object name: at most 253 lower-case letters, digits, '-' and '.', starting and ending with a letter or digit",
                [nameof(SiteId)]);
        }
    }

    [GeneratedRegex("^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex SiteIdPattern();
}

/// <summary>
/// Sends each finished minute of the Site's series to the central watchdog's import (servers and profiles as they
/// arrived; job failure ratio, duration and throughput per site and kind, read from the jobs' state). Points the
/// centre did not take are sent again with the next minute, in time order, so the detector sees each series in order.
/// With <see cref="SeriesExportOptions.SiteId"/> set, every series carries the label <c>site</c>.
/// </summary>
public sealed partial class SiteSeriesExporter(
    SiteSeries series, ClickHouseClient clickHouse, IOptions<ClickHouseOptions> clickHouseOptions, IOptions<SeriesExportOptions> options,
    IOptions<IdentityOptions> identity, TimeProvider time, ILogger<SiteSeriesExporter> logger) : BackgroundService
{
    // Job states are read two minutes behind: a job's last event may reach the Site a little after it ended.
    private const long JobLagMinutes = 2;
    private readonly List<MetricSample> _pending = [];
    private long? _jobsFromMinute;
    private long _dropped;

    public long Exported { get; private set; }

    public long Dropped => Interlocked.Read(ref _dropped) + series.DroppedPoints;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if ((settings.CentralUrl ?? identity.Value.CentralUrl) is not { } central)
        {
            return;
        }

        using var http = new HttpClient { BaseAddress = new Uri(central.TrimEnd('/') + "/"), Timeout = settings.Timeout };
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await Task.Delay(settings.Interval, time, stoppingToken);
                await ExportAsync(http, settings, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One round: take the finished minutes, add the jobs', send what is pending.</summary>
    public async Task ExportAsync(HttpClient http, SeriesExportOptions settings, CancellationToken cancellationToken)
    {
        var minute = time.GetUtcNow().ToUnixTimeSeconds() / 60;
        _pending.AddRange(WithSite(series.TakeMinutesBefore(minute), settings.SiteId));
        try
        {
            _pending.AddRange(WithSite(await JobMinutesAsync(minute - JobLagMinutes, cancellationToken), settings.SiteId));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogJobsReadFailed(e.Message);
        }

        if (_pending.Count > settings.MaxPendingPoints)
        {
            var excess = _pending.Count - settings.MaxPendingPoints;
            _pending.Sort((a, b) => a.TimestampMs.CompareTo(b.TimestampMs));
            _pending.RemoveRange(0, excess);
            Interlocked.Add(ref _dropped, excess);
            LogDropped(excess);
        }

        if (_pending.Count == 0)
        {
            return;
        }

        var body = new ImportJson([.. _pending
            .GroupBy(p => SeriesKey.Of(p))
            .Select(g => new ImportSeriesJson(g.Key.Tenant, g.Key.ServiceId, g.Key.MetricName, SeriesLabels.Parse(g.Key.Labels),
                [.. g.OrderBy(p => p.TimestampMs).Select(p => new[] { p.TimestampMs / 1000.0, p.Value })]))]);
        using var request = new HttpRequestMessage(HttpMethod.Post, "api/v1/metrics/import") { Content = JsonContent.Create(body) };
        if (settings.TokenFile is { } file)
        {
            try
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(file, cancellationToken)).Trim());
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not there yet (the Secret is mounted after the pod started): the points wait for the next round.
                LogSendFailed($"the key file cannot be read: {e.Message}", _pending.Count);
                return;
            }
        }

        try
        {
            using var response = await http.SendAsync(request, cancellationToken);
            if (response.IsSuccessStatusCode)
            {
                Exported += _pending.Count;
                _pending.Clear();
            }
            else if ((int)response.StatusCode is >= 400 and < 500 and not 408 and not 429)
            {
                // Refused for what it is (a tenant the key may not write, a bad name): sending it again would not help.
                LogRefused((int)response.StatusCode, _pending.Count);
                Interlocked.Add(ref _dropped, _pending.Count);
                _pending.Clear();
            }
            else
            {
                LogSendFailed($"HTTP {(int)response.StatusCode}", _pending.Count);
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            LogSendFailed(e.Message, _pending.Count);
        }
    }

    /// <summary>The points with the label <c>site</c> added (or set: the Site's name wins over one a series had).</summary>
    private static IEnumerable<MetricSample> WithSite(List<MetricSample> points, string? siteId)
    {
        if (siteId is null)
        {
            return points;
        }

        // Series share their label sets: each distinct set is rewritten once.
        var rewritten = new Dictionary<string, string>(StringComparer.Ordinal);
        return points.Select(p =>
        {
            if (!rewritten.TryGetValue(p.Labels, out var labels))
            {
                var parsed = SeriesLabels.Parse(p.Labels);
                parsed["site"] = siteId;
                labels = SeriesLabels.Canonical(parsed);
                rewritten[p.Labels] = labels;
            }

            return p with { Labels = labels };
        });
    }

    private async Task<List<MetricSample>> JobMinutesAsync(long beforeMinute, CancellationToken cancellationToken)
    {
        var from = _jobsFromMinute ?? beforeMinute - 1;
        if (from >= beforeMinute)
        {
            return [];
        }

        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("from", from * 60);
        parameters.AddParameter("to", beforeMinute * 60);
        using var reader = await clickHouse.ExecuteReaderAsync(
            "SELECT tenant, site_id, app_name, toInt64(toUnixTimestamp(toStartOfMinute(ended_at))), count(), countIf(status = 'failed'), avg(duration_s) " +
            $"FROM `{clickHouseOptions.Value.Database}`.job_state FINAL " +
            "WHERE entity_type = 'job' AND ended_at >= toDateTime64({from:Int64}, 3, 'UTC') AND ended_at < toDateTime64({to:Int64}, 3, 'UTC') " +
            "GROUP BY tenant, site_id, app_name, 4",
            parameters,
            cancellationToken: cancellationToken);
        var points = new List<MetricSample>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var (tenant, site, kind) = (reader.GetString(0), reader.GetString(1), reader.GetString(2));
            var at = reader.GetInt64(3) * 1000;
            var finished = Convert.ToDouble(reader.GetValue(4), CultureInfo.InvariantCulture);
            var failed = Convert.ToDouble(reader.GetValue(5), CultureInfo.InvariantCulture);
            var labels = SeriesLabels.Canonical([new("kind", kind.Length == 0 ? "unknown" : kind)]);
            points.Add(new MetricSample(tenant, site, "job_throughput_per_minute", labels, at, finished));
            points.Add(new MetricSample(tenant, site, "job_failure_ratio", labels, at, failed / finished));
            if (reader.GetValue(6) is double duration && double.IsFinite(duration))
            {
                points.Add(new MetricSample(tenant, site, "job_duration_seconds", labels, at, duration));
            }
        }

        _jobsFromMinute = beforeMinute;
        return points;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Series export to the central runtime failed ({Reason}); {Points} points kept for the next round")]
    private partial void LogSendFailed(string reason, int points);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The central runtime refused the series export (HTTP {Status}); {Points} points dropped")]
    private partial void LogRefused(int status, int points);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Series export held too many points while the central runtime was away: the {Points} oldest dropped")]
    private partial void LogDropped(int points);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the job series failed: {Reason}")]
    private partial void LogJobsReadFailed(string reason);
}
