using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Aperture.Testing;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;

namespace Aperture.Benchmarks;

/// <summary>
/// Job events/s through the site-local jobs API over real HTTP, from the first POST until every event
/// is stored and queryable (GET /v1/jobs answers only once what was acknowledged before it is stored),
/// with several keep-alive clients at once: single-event POSTs, then arrays of 100 events.
/// </summary>
public static class JobsIngestBenchmark
{
    public const int DefaultEvents = 400_000;
    private const int Clients = 8;
    private const int BatchSize = 100;
    private static int _retries;
    private static readonly string[] Kinds = ["started", "progress", "metric", "finished"];

    public static async Task RunAsync(int events)
    {
        var singles = Math.Max(Clients * 4, events / 10 / 4 * 4);
        var batched = events / BatchSize / 4 * BatchSize * 4;
        Console.WriteLine($"## jobs-ingest: {singles:N0} events as single-event POSTs, then {batched:N0} events in arrays of {BatchSize}; {Clients} keep-alive clients at once; jobs of 4 events (started, progress, metric, finished), each with an idempotency key");

        await using var runtime = await RuntimeUnderTest.StartAsync();
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = Clients, PooledConnectionLifetime = TimeSpan.FromMinutes(10) };
        using var http = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{runtime.JobsPort}/"), Timeout = TimeSpan.FromMinutes(2) };
        using var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);

        // Warm-up (JIT, connections, the first parts of the tables), not measured.
        await RunPhaseAsync(http, "warmup", Events("warmup", 4000).Chunk(1).ToArray());
        await RunPhaseAsync(http, "warmup", Events("warmup-b", 8000).Chunk(BatchSize).ToArray());
        await Task.Delay(2000);

        var single = await MeasureAsync(runtime, http, clickhouse, "single", Events("single", singles).Chunk(1).ToArray(), singles);
        await Task.Delay(2000);
        var batch = await MeasureAsync(runtime, http, clickhouse, "batch", Events("batch", batched).Chunk(BatchSize).ToArray(), batched);

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"single-event POSTs: accepted {single.Accepted,9:N0} events/s, stored and queryable {single.Stored,9:N0} events/s  (target >= 20,000)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"arrays of {BatchSize}:     accepted {batch.Accepted,9:N0} events/s, stored and queryable {batch.Stored,9:N0} events/s  (target >= 20,000)"));
    }

    private static async Task<(double Accepted, double Stored)> MeasureAsync(
        RuntimeUnderTest runtime, HttpClient http, ClickHouseClient clickhouse, string site, byte[][][] requests, int count)
    {
        var runtimeCpu = ProcessCpu.Used(runtime.RuntimeProcessId);
        var clickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId);
        var stopwatch = Stopwatch.StartNew();
        await RunPhaseAsync(http, site, requests);
        var accepted = stopwatch.Elapsed;
        // Read-your-writes: this answers once every acknowledged event is stored (503 while storage lags more than the read timeout).
        for (var attempt = 1; ; attempt++)
        {
            using var read = await http.GetAsync($"/v1/jobs?app_name=bench-{site}&limit=1");
            if (read.IsSuccessStatusCode)
            {
                break;
            }

            if (read.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 30)
            {
                throw new InvalidOperationException($"{site}: the read answered {read.StatusCode}: {await read.Content.ReadAsStringAsync()}\n{runtime.RuntimeOutput}");
            }
        }

        var stored = stopwatch.Elapsed;
        runtimeCpu = ProcessCpu.Used(runtime.RuntimeProcessId) - runtimeCpu;
        clickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId) - clickhouseCpu;
        var rows = Convert.ToInt64(await clickhouse.ExecuteScalarAsync($"SELECT count() FROM aperture.job_events WHERE site_id = '{site}'"), CultureInfo.InvariantCulture);
        var jobs = Convert.ToInt64(await clickhouse.ExecuteScalarAsync(
            $"SELECT count() FROM aperture.job_state FINAL WHERE site_id = '{site}' AND status = 'succeeded'"), CultureInfo.InvariantCulture);
        if (rows != count || jobs != count / 4)
        {
            throw new InvalidOperationException($"{site}: {rows} of {count} events and {jobs} of {count / 4} finished jobs stored\n{runtime.RuntimeOutput}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{site}: {Interlocked.Exchange(ref _retries, 0):N0} requests answered 503 and sent again; {count:N0} events accepted in {accepted.TotalSeconds:F2} s, stored and queryable after {stored.TotalSeconds:F2} s " +
            $"(runtime CPU {runtimeCpu.TotalSeconds:F2} s, ClickHouse CPU {clickhouseCpu.TotalSeconds:F2} s); {rows:N0} event rows and {jobs:N0} succeeded jobs in ClickHouse"));
        return (count / accepted.TotalSeconds, count / stored.TotalSeconds);
    }

    private static async Task RunPhaseAsync(HttpClient http, string site, byte[][][] requests)
    {
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, Clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < requests.Length)
            {
                var body = requests[i].Length == 1 ? requests[i][0] : Array(requests[i]);
                using var content = new ByteArrayContent(body);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
                for (var attempt = 1; ; attempt++)
                {
                    // A 503 (the queue or Redis behind) is sent again, as the agent's sidecar does; the idempotency keys make that safe.
                    using var response = await http.PostAsync("/v1/ingest/events", content);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        break;
                    }

                    if (response.StatusCode != HttpStatusCode.ServiceUnavailable || attempt == 20)
                    {
                        throw new InvalidOperationException($"{site}: ingest answered {response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                    }

                    Interlocked.Increment(ref _retries);
                    await Task.Delay(100);
                }
            }
        }));
    }

    private static byte[] Array(byte[][] events)
    {
        var total = events.Sum(e => e.Length + 1) + 1;
        var body = new byte[total];
        body[0] = (byte)'[';
        var at = 1;
        for (var i = 0; i < events.Length; i++)
        {
            events[i].CopyTo(body, at);
            at += events[i].Length;
            body[at++] = (byte)(i == events.Length - 1 ? ']' : ',');
        }

        return body;
    }

    /// <summary>Jobs of four events each, in order within each job, jobs interleaved as concurrent jobs would be.</summary>
    private static List<byte[]> Events(string site, int count)
    {
        var start = new DateTimeOffset(2025, 10, 19, 12, 0, 0, TimeSpan.Zero);
        var events = new List<byte[]>(count);
        var jobs = count / 4;
        for (var k = 0; k < 4; k++)
        {
            for (var j = 0; j < jobs; j++)
            {
                var at = start.AddSeconds(j * 0.01 + k * 30).ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
                var metrics = k switch
                {
                    1 => "{\"cpu_user_s\":1.5,\"mem_max_mb\":256}",
                    2 => "{\"cpu_user_s\":3.5,\"cpu_system_s\":0.4,\"mem_max_mb\":512}",
                    3 => "{\"cpu_user_s\":4.0,\"cpu_system_s\":0.5}",
                    _ => "{}",
                };
                events.Add(Encoding.UTF8.GetBytes(
                    $"{{\"idempotency_key\":\"{site}-{j}-{k}\",\"site_id\":\"{site}\",\"app\":{{\"app_id\":\"a-{j % 16}\",\"name\":\"bench-{site}-{j % 16}\",\"version\":\"1.0.0\"}}," +
                    $"\"entity\":{{\"type\":\"job\",\"id\":\"{site}-job-{j}\",\"parent_id\":null,\"business_key\":\"batch-{j}\",\"sub_key\":null}}," +
                    $"\"event\":{{\"kind\":\"{Kinds[k]}\",\"at\":\"{at}\",\"status\":null,\"metrics\":{metrics},\"metadata\":{{\"node\":\"n{j % 8}\"}}}}}}"));
            }
        }

        return events;
    }
}
