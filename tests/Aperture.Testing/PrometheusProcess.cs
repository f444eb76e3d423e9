using System.Globalization;
using System.Text;

namespace Aperture.Testing;

/// <summary>
/// Debian's Prometheus as a child process on a free loopback port, scraping itself every
/// <c>scrapeInterval</c> and remote-writing everything it scrapes to one URL; its TSDB lives in a temp folder.
/// </summary>
public sealed class PrometheusProcess : IAsyncDisposable
{
    private readonly TemporaryDirectory _directory;
    private readonly ServerProcess _process;

    private PrometheusProcess(TemporaryDirectory directory, ServerProcess process, int port)
    {
        _directory = directory;
        _process = process;
        Port = port;
    }

    /// <summary>Debian's prometheus, or APERTURE_PROMETHEUS when set.</summary>
    public static string Binary =>
        Environment.GetEnvironmentVariable("APERTURE_PROMETHEUS") is { Length: > 0 } configured ? configured : "/usr/bin/prometheus";

    public int Port { get; }

    public Uri BaseAddress => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{Port}/"));

    /// <summary>Its log, for a failure message.</summary>
    public string Output => _process.Output;

    public static async Task<PrometheusProcess> StartAsync(string remoteWriteUrl, string? bearerToken = null, TimeSpan? scrapeInterval = null)
    {
        var interval = Duration(scrapeInterval ?? TimeSpan.FromSeconds(1));
        var port = FreePort.Next();
        var directory = new TemporaryDirectory("aperture-prometheus");
        var config = new StringBuilder()
            .AppendLine("global:")
            .AppendLine(CultureInfo.InvariantCulture, $"  scrape_interval: {interval}")
            .AppendLine(CultureInfo.InvariantCulture, $"  evaluation_interval: {interval}")
            .AppendLine("scrape_configs:")
            .AppendLine("  - job_name: prometheus")
            .AppendLine("    static_configs:")
            .AppendLine(CultureInfo.InvariantCulture, $"      - targets: ['127.0.0.1:{port}']")
            .AppendLine("remote_write:")
            .AppendLine(CultureInfo.InvariantCulture, $"  - url: {Quote(remoteWriteUrl)}");
        if (bearerToken is not null)
        {
            config.AppendLine("    authorization:")
                .AppendLine(CultureInfo.InvariantCulture, $"      credentials: {Quote(bearerToken)}");
        }

        // Defaults wait 5 s per batch and back off up to 5 s: a test would wait on them, not on Prometheus.
        config.AppendLine("    queue_config:")
            .AppendLine("      batch_send_deadline: 1s")
            .AppendLine("      min_backoff: 100ms")
            .AppendLine("      max_backoff: 1s");
        var configPath = Path.Combine(directory.Path, "prometheus.yml");
        await File.WriteAllTextAsync(configPath, config.ToString());

        ServerProcess? process = null;
        try
        {
            (process, _) = await ServerProcess.StartAsync(
                Binary,
                [
                    $"--config.file={configPath}",
                    string.Create(CultureInfo.InvariantCulture, $"--web.listen-address=127.0.0.1:{port}"),
                    $"--storage.tsdb.path={Path.Combine(directory.Path, "data")}",
                ],
                isReadyLine: null,
                TimeSpan.FromSeconds(30));
            var prometheus = new PrometheusProcess(directory, process, port);
            await ReadyProbe.WaitAsync(prometheus.BaseAddress, process, "prometheus");
            return prometheus;
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

    public async ValueTask DisposeAsync()
    {
        await _process.DisposeAsync();
        _directory.Dispose();
    }

    private static string Duration(TimeSpan interval) =>
        string.Create(CultureInfo.InvariantCulture, $"{Math.Max(1, (long)interval.TotalMilliseconds)}ms");

    // YAML single-quoted: only the quote itself needs escaping, so a URL or token cannot break the file.
    internal static string Quote(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";
}

/// <summary>Waits for a Prometheus-family server's <c>/-/ready</c>, failing early with its log if it exits.</summary>
internal static class ReadyProbe
{
    public static async Task WaitAsync(Uri baseAddress, ServerProcess process, string name)
    {
        using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            await Eventually.HoldsAsync(
                async () =>
                {
                    if (process.HasExited)
                    {
                        throw new InvalidOperationException($"{name} exited before it was ready:\n{process.Output}");
                    }

                    try
                    {
                        using var response = await http.GetAsync(new Uri("-/ready", UriKind.Relative));
                        return response.IsSuccessStatusCode;
                    }
                    catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                    {
                        return false;
                    }
                },
                TimeSpan.FromSeconds(30),
                $"{name} ready on {baseAddress}");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}\n{process.Output}", e);
        }
    }
}
