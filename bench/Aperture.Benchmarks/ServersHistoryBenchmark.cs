using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Runtime.Servers;
using ClickHouse.Driver;

namespace Aperture.Benchmarks;

/// <summary>
/// /api/metrics/history/ over 7 days of 2-second samples of one server (302,400 rows with 2 GPUs
/// and 2 disks each, written with the runtime's own RowBinary writer), downsampled to at most 500 points.
/// </summary>
public static class ServersHistoryBenchmark
{
    private const int Requests = 50;
    private const int InsertChunk = 25_200;
    private const string Slug = "bench-box";

    public static async Task RunAsync(int days)
    {
        var samples = days * 24 * 3600 / 2;
        Console.WriteLine($"## servers-history: {samples:N0} snapshots ({days} days every 2 s, 2 GPUs, 2 disks), {Requests} requests of minutes={days * 1440}");
        await using var runtime = await RuntimeUnderTest.StartAsync();
        using (var put = await runtime.Http.PutAsJsonAsync($"/api/admin/servers/{Slug}", new { name = "Bench Box" }))
        {
            var registered = JsonDocument.Parse(await put.Content.ReadAsStringAsync()).RootElement;
            var serverId = registered.GetProperty("server").GetProperty("id").GetInt64();
            using var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);
            var store = new ServerSnapshotStore(clickhouse, "aperture");
            var end = DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());
            var start = end.AddSeconds(-2.0 * (samples - 1));
            var load = Stopwatch.StartNew();
            for (var first = 0; first < samples; first += InsertChunk)
            {
                var chunk = Enumerable.Range(first, Math.Min(InsertChunk, samples - first))
                    .Select(i => Snapshot(serverId, i, start.AddSeconds(2.0 * i)))
                    .ToList();
                await store.WriteAsync(chunk, $"bench-{first}", CancellationToken.None);
            }

            var stored = Convert.ToInt64(await clickhouse.ExecuteScalarAsync("SELECT count() FROM aperture.server_snapshots"), CultureInfo.InvariantCulture);
            if (stored != samples)
            {
                throw new InvalidOperationException($"{stored} snapshots stored, not {samples}");
            }

            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loaded {stored:N0} snapshots in {load.Elapsed.TotalSeconds:F1} s"));
        }

        var path = $"/api/metrics/history/?server={Slug}&minutes={days * 1440}";
        (int Points, int Stride) answer = default;
        for (var i = 0; i < 3; i++)
        {
            answer = await GetAsync(runtime, path);
        }

        var latencies = new List<double>();
        for (var i = 0; i < Requests; i++)
        {
            var stopwatch = Stopwatch.StartNew();
            answer = await GetAsync(runtime, path);
            latencies.Add(stopwatch.Elapsed.TotalMilliseconds);
        }

        latencies.Sort();
        double P(double q) => latencies[Math.Min(latencies.Count - 1, (int)Math.Ceiling(q * latencies.Count) - 1)];
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"history {days * 1440} min: {answer.Points} points, stride {answer.Stride}   p50 {P(0.50),8:F1} ms   p99 {P(0.99),8:F1} ms  (target p50 < 200 ms)"));
    }

    private static async Task<(int Points, int Stride)> GetAsync(RuntimeUnderTest runtime, string path)
    {
        using var response = await runtime.Http.GetAsync(path);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            await Console.Error.WriteLineAsync(runtime.RuntimeOutput);
            throw new InvalidOperationException($"unexpected answer {(int)response.StatusCode}: {text[..Math.Min(300, text.Length)]}");
        }

        var body = JsonDocument.Parse(text).RootElement;
        var points = body.GetProperty("point_count").GetInt32();
        if (points is 0 or > 500 || body.GetProperty("points").GetArrayLength() != points)
        {
            throw new InvalidOperationException($"{points} points: not downsampled to 1..500");
        }

        return (points, body.GetProperty("stride").GetInt32());
    }

    private static ServerSnapshot Snapshot(long serverId, int i, DateTimeOffset at)
    {
        var wave = (Math.Sin(i / 900.0) + 1) * 50;
        var sample = new ServerSample
        {
            CollectedAt = at,
            CpuUsagePercent = wave * 0.8,
            CpuUserPercent = wave * 0.6,
            CpuSystemPercent = wave * 0.2,
            CpuIowaitPercent = 2,
            CpuLoad1 = 6,
            CpuLoad5 = 5,
            CpuLoad15 = 4,
            CpuCountLogical = 64,
            CpuCountPhysical = 32,
            MemoryTotalBytes = 274_877_906_944,
            MemoryUsedBytes = 137_438_953_472,
            MemoryPercent = 50,
            SwapPercent = 0,
            NetworkRxBytesTotal = (ulong)i * 1_000_000,
            NetworkTxBytesTotal = (ulong)i * 100_000,
            ProcessCount = 400,
            Disks =
            [
                new DiskSample("nvme0n1", (ulong)i * 2_000_000, (ulong)i * 500_000, (ulong)i * 100, (ulong)i * 50, (ulong)i * 600),
                new DiskSample("nvme1n1", (ulong)i * 1_000_000, (ulong)i * 250_000, (ulong)i * 50, (ulong)i * 25, (ulong)i * 300),
            ],
            Gpus = [Gpu(0, wave), Gpu(1, 100 - wave)],
        };
        var rates = new SnapshotRates(1_500_000, 375_000, 30, 500_000, 50_000,
            [new DiskRates("nvme0n1", 1_000_000, 250_000, 30), new DiskRates("nvme1n1", 500_000, 125_000, 15)]);
        return new ServerSnapshot((ulong)i + 1, serverId, at, 2, "0.1.0", sample, rates, BottleneckClassifier.Classify(BottleneckInputs.Of(sample, rates)));
    }

    private static GpuSample Gpu(ushort index, double util) =>
        new(index, "NVIDIA H100 80GB HBM3", $"GPU-{index}", util, util / 2, 85_899_345_920, 42_949_672_960, 50, 40 + (util / 5), 100 + (util * 5), 700);
}
