using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 12's intake figures on a central runtime (a process of its own, real ClickHouse and Redis): the Alertmanager
/// webhook's acknowledgement latency (new alerts, each opening an anomaly and queueing its RCA, and repeats), and the
/// JSON import end to end (stored and through the detector) in points per second.
/// </summary>
public static class WatchdogIntakeBenchmark
{
    private const string AdminToken = "bench-admin-token";

    public static async Task RunAsync(int notifications)
    {
        Console.WriteLine($"## watchdog intake: {notifications:N0} Alertmanager notifications, then an import of 1,000 series x 1,440 points");
        await using var central = await RuntimeUnderTest.StartAsync("--role", "central", $"--Aperture:AuthToken={AdminToken}");
        using var webhook = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.WebhookPort}/") };

        // Warm-up: the first requests pay for JIT and connections.
        for (var i = 0; i < 50; i++)
        {
            await PostAlertAsync(webhook, $"warm-{i}", "firing");
        }

        var fresh = await MeasureAsync(webhook, notifications, i => $"new-{i}");
        Report("new alert (opens an anomaly)", fresh);
        var repeats = await MeasureAsync(webhook, notifications, i => $"new-{i % 100}");
        Report("repeat (Alertmanager's resend)", repeats);

        central.Http.DefaultRequestHeaders.Authorization = new("Bearer", AdminToken);
        var start = 1_767_225_600L;
        var random = new Random(3);
        var series = Enumerable.Range(0, 1000).Select(s => new
        {
            service_id = $"svc-{s % 50}",
            metric_name = "cpu_usage_percent",
            labels = new Dictionary<string, string> { ["pod"] = $"pod-{s}" },
            points = Enumerable.Range(0, 1440).Select(m => new[] { (double)(start + (m * 60)), 40 + (random.NextDouble() * 5) }).ToArray(),
        }).ToArray();
        var body = JsonContent.Create(new { series });
        await body.LoadIntoBufferAsync();
        var clock = Stopwatch.StartNew();
        using var response = await central.Http.PostAsync("/api/v1/metrics/import", body);
        response.EnsureSuccessStatusCode();
        clock.Stop();
        var points = 1000 * 1440;
        Console.WriteLine($"import: {points:N0} points stored and watched in {clock.Elapsed.TotalSeconds:F2} s = {points / clock.Elapsed.TotalSeconds:N0} points/s (one request, end to end)");
    }

    private static async Task<List<double>> MeasureAsync(HttpClient webhook, int count, Func<int, string> fingerprint)
    {
        var latencies = new List<double>(count);
        for (var i = 0; i < count; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await PostAlertAsync(webhook, fingerprint(i), "firing");
            latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }

        return latencies;
    }

    private static async Task PostAlertAsync(HttpClient webhook, string fingerprint, string status)
    {
        var json = $$"""
            {"version":"4","groupKey":"{}:{alertname=\"HighCPU\"}","truncatedAlerts":0,"status":"{{status}}","receiver":"aperture",
             "groupLabels":{"alertname":"HighCPU"},"commonLabels":{"alertname":"HighCPU"},"commonAnnotations":{},"externalURL":"http://alertmanager",
             "alerts":[{"status":"{{status}}","labels":{"alertname":"HighCPU","service_id":"payment-api","severity":"critical","instance":"{{fingerprint}}"},
               "annotations":{"summary":"CPU above 85% for 5 minutes"},"startsAt":"2026-04-10T12:00:00Z","endsAt":"0001-01-01T00:00:00Z",
               "generatorURL":"http://prometheus","fingerprint":"{{fingerprint}}"}]}
            """;
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await webhook.PostAsync("/api/v1/alerts/webhook", content);
        response.EnsureSuccessStatusCode();
    }

    private static void Report(string what, List<double> latencies)
    {
        latencies.Sort();
        double At(double q) => latencies[Math.Min(latencies.Count - 1, (int)(q * latencies.Count))];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"webhook {what}: p50 {At(0.5):F2} ms, p99 {At(0.99):F2} ms, max {latencies[^1]:F2} ms over {latencies.Count:N0}"));
    }
}
