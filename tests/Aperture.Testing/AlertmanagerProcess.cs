using System.Globalization;
using System.Net.Http.Json;
using System.Text;

namespace Aperture.Testing;

/// <summary>
/// Debian's prometheus-alertmanager as a child process on a free loopback port, without clustering, routing
/// every alert to one webhook receiver (<c>send_resolved: true</c>) with short group and repeat intervals.
/// </summary>
public sealed class AlertmanagerProcess : IAsyncDisposable
{
    private readonly TemporaryDirectory _directory;
    private readonly ServerProcess _process;
    private readonly HttpClient _http;

    private AlertmanagerProcess(TemporaryDirectory directory, ServerProcess process, int port)
    {
        _directory = directory;
        _process = process;
        Port = port;
        _http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>Debian's prometheus-alertmanager, or APERTURE_ALERTMANAGER when set.</summary>
    public static string Binary =>
        Environment.GetEnvironmentVariable("APERTURE_ALERTMANAGER") is { Length: > 0 } configured ? configured : "/usr/bin/prometheus-alertmanager";

    public int Port { get; }

    public Uri BaseAddress => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/"));

    /// <summary>Its log, for a failure message.</summary>
    public string Output => _process.Output;

    public static async Task<AlertmanagerProcess> StartAsync(
        string webhookUrl, TimeSpan? groupWait = null, TimeSpan? groupInterval = null, TimeSpan? repeatInterval = null)
    {
        var port = FreePort.Next();
        var directory = new TemporaryDirectory("aperture-alertmanager");
        var config = new StringBuilder()
            .AppendLine("route:")
            .AppendLine("  receiver: webhook")
            .AppendLine("  group_by: ['alertname']")
            .AppendLine(CultureInfo.InvariantCulture, $"  group_wait: {Duration(groupWait ?? TimeSpan.FromSeconds(1))}")
            .AppendLine(CultureInfo.InvariantCulture, $"  group_interval: {Duration(groupInterval ?? TimeSpan.FromSeconds(1))}")
            .AppendLine(CultureInfo.InvariantCulture, $"  repeat_interval: {Duration(repeatInterval ?? TimeSpan.FromSeconds(2))}")
            .AppendLine("receivers:")
            .AppendLine("  - name: webhook")
            .AppendLine("    webhook_configs:")
            .AppendLine(CultureInfo.InvariantCulture, $"      - url: {PrometheusProcess.Quote(webhookUrl)}")
            .AppendLine("        send_resolved: true");
        var configPath = Path.Combine(directory.Path, "alertmanager.yml");
        await File.WriteAllTextAsync(configPath, config.ToString());

        ServerProcess? process = null;
        try
        {
            (process, _) = await ServerProcess.StartAsync(
                Binary,
                [
                    $"--config.file={configPath}",
                    $"--storage.path={Path.Combine(directory.Path, "data")}",
                    string.Create(CultureInfo.InvariantCulture, $"--web.listen-address=127.0.0.1:{port}"),
                    // Empty turns the gossip cluster off; otherwise it binds 9094 on every interface and waits to settle.
                    "--cluster.listen-address=",
                ],
                isReadyLine: null,
                TimeSpan.FromSeconds(30));
            var alertmanager = new AlertmanagerProcess(directory, process, port);
            await ReadyProbe.WaitAsync(alertmanager.BaseAddress, process, "alertmanager");
            return alertmanager;
        }
        catch
        {
            if (process is not null)
            {
                await process.DisposeAsync();
            }

            directory.Dispose();
            throw;
        }
    }

    /// <summary>Posts one alert as Prometheus' rule evaluation would (API v2); an <paramref name="endsAt"/> in the past resolves it.</summary>
    public async Task PostAlertAsync(
        IReadOnlyDictionary<string, string> labels,
        IReadOnlyDictionary<string, string>? annotations,
        DateTimeOffset startsAt,
        DateTimeOffset? endsAt = null,
        string generatorUrl = "http://127.0.0.1/graph")
    {
        var alert = new Dictionary<string, object>
        {
            ["labels"] = labels,
            ["annotations"] = annotations ?? new Dictionary<string, string>(),
            ["startsAt"] = startsAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture),
            ["generatorURL"] = generatorUrl,
        };
        if (endsAt is { } end)
        {
            alert["endsAt"] = end.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);
        }

        using var response = await _http.PostAsJsonAsync(new Uri("api/v2/alerts", UriKind.Relative), new[] { alert });
        if (!response.IsSuccessStatusCode)
        {
            throw new HttpRequestException(
                $"alertmanager answered {(int)response.StatusCode} to the alert: {await response.Content.ReadAsStringAsync()}");
        }
    }

    /// <summary>
    /// What its own /metrics counts as sent to webhook receivers (<c>alertmanager_notifications_total</c>),
    /// failed ones included.
    /// </summary>
    public async Task<long> NotificationsSentAsync()
    {
        var text = await _http.GetStringAsync(new Uri("metrics", UriKind.Relative));
        var total = 0L;
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith("alertmanager_notifications_total{", StringComparison.Ordinal)
                && line.Contains("integration=\"webhook\"", StringComparison.Ordinal)
                && double.TryParse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                total += (long)value;
            }
        }

        return total;
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _process.DisposeAsync();
        _directory.Dispose();
    }

    private static string Duration(TimeSpan interval) =>
        string.Create(CultureInfo.InvariantCulture, $"{Math.Max(1, (long)interval.TotalMilliseconds)}ms");
}
