using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using ClickHouse.Driver;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 3's query figure: /api/aggregate latency (p50, p99) answered from ClickHouse over
/// 10,000,000 stored samples in 10,000 batches of 8 agents.
/// </summary>
public static class AggregateLatencyBenchmark
{
    private const int Requests = 100;
    private const int SamplesPerBatch = 1000;

    public static async Task RunAsync(int samples)
    {
        var batches = samples / SamplesPerBatch;
        Console.WriteLine($"## aggregate-latency: {samples:N0} stored samples in {batches:N0} batches, {Requests} requests per query shape");
        await using var runtime = await RuntimeUnderTest.StartAsync();
        using var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);
        var baseNs = (TimeProvider.System.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100 - ((long)batches * 1_000_000_000L) - 3_600_000_000_000L;
        var b = baseNs.ToString(CultureInfo.InvariantCulture);

        var load = Stopwatch.StartNew();
        await clickhouse.ExecuteNonQueryAsync(
            "INSERT INTO aperture.profile_stacks SELECT 'default', cityHash64(number), arrayMap(i -> toUInt64(4194304 + number * 64 + i), range(16)), " +
            "arrayMap(i -> if(i = 0, 'main', concat('service::module', toString(number % 31), '::function_', toString(number), '_', toString(i))), range(16)), " +
            "arrayMap(i -> if(i < 4, '/usr/bin/app', '/usr/lib/libservice.so'), range(16)) FROM numbers(2000)");
        await clickhouse.ExecuteNonQueryAsync(
            $"INSERT INTO aperture.profile_samples SELECT 'default', concat('agent-', toString(intDiv(number, {SamplesPerBatch}) % 8)), intDiv(number, {SamplesPerBatch}), " +
            $"if(number % 10 = 0, 'lock', 'cpu'), {b} + intDiv(number, {SamplesPerBatch}) * 1000000000 + (number % {SamplesPerBatch}) * 1000000, " +
            $"cityHash64((number * 7) % 2000), 1 + number % 3, if(number % 10 = 0, 1500, 0), '', 42, number % 8, 10101010 FROM numbers({samples}) " +
            "SETTINGS max_insert_threads = 2");
        await clickhouse.ExecuteNonQueryAsync(
            $"INSERT INTO aperture.profile_batches SELECT 'default', concat('agent-', toString(number % 8)), number, {b} + number * 1000000000 + 999000001, " +
            $"{SamplesPerBatch}, 2000, {b} + number * 1000000000, {b} + number * 1000000000 + 999000000, 6, 10101010 FROM numbers({batches})");
        var stored = Convert.ToInt64(await clickhouse.ExecuteScalarAsync("SELECT count() FROM aperture.profile_samples"), CultureInfo.InvariantCulture);
        if (stored != samples)
        {
            throw new InvalidOperationException($"{stored} samples stored, not {samples}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loaded {stored:N0} samples in {load.Elapsed.TotalSeconds:F1} s"));

        var midNs = baseNs + ((long)batches / 2 * 1_000_000_000L);
        (string Name, object Body)[] shapes =
        [
            ("newest 100 batches, all agents", new { source = "storage" }),
            ("one agent, cpu only", new { agent_id = "agent-3", event_type = "cpu", source = "storage" }),
            ("a 200-batch time window", new { time_start_ns = midNs, time_end_ns = midNs + 200_000_000_000L }),
        ];
        var all = new List<double>();
        foreach (var (name, body) in shapes)
        {
            try
            {
                for (var i = 0; i < 3; i++)
                {
                    await PostAsync(runtime.Http, body);
                }
            }
            catch (InvalidOperationException)
            {
                await Console.Error.WriteLineAsync(runtime.RuntimeOutput);
                throw;
            }

            var latencies = new List<double>();
            for (var i = 0; i < Requests; i++)
            {
                var stopwatch = Stopwatch.StartNew();
                await PostAsync(runtime.Http, body);
                latencies.Add(stopwatch.Elapsed.TotalMilliseconds);
            }

            all.AddRange(latencies);
            Report(name, latencies);
        }

        Report("all shapes", all);
    }

    private static async Task PostAsync(HttpClient http, object body)
    {
        using var response = await http.PostAsJsonAsync("/api/aggregate", body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode || !text.Contains("\"source\":\"storage\"", StringComparison.Ordinal) || text.Contains("\"total_events\":0,", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"unexpected answer {(int)response.StatusCode}: {text[..Math.Min(300, text.Length)]}");
        }
    }

    private static void Report(string name, List<double> latencies)
    {
        latencies.Sort();
        double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name,-32} p50 {P(0.50),8:F1} ms   p99 {P(0.99),8:F1} ms  (target p50 < 300 ms)"));
    }
}
