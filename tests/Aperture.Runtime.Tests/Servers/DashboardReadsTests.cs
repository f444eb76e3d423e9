using System.Net;
using System.Text.Json;
using Aperture.Runtime.Servers;
using ClickHouse.Driver;
using static Aperture.Runtime.Tests.Servers.ServerSamples;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>The dashboard reads, each test on its own runtime so the registry starts empty.</summary>
public sealed class DashboardReadsTests
{
    private static DateTimeOffset Now => DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());

    [Fact]
    public async Task Latest_selects_the_named_server_else_the_one_with_snapshots_else_the_first_active()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        var http = runtime.Http;

        var (status, none) = await GetAsync(http, "/api/metrics/latest/");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("not_found", none.GetProperty("error").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(http, "/api/metrics/history/")).Status);
        var (listStatus, emptyList) = await GetAsync(http, "/api/servers/");
        Assert.Equal(HttpStatusCode.OK, listStatus);
        Assert.Equal(0, emptyList.GetProperty("servers").GetArrayLength());

        var (alpha, _) = await PutServerAsync(http, "alpha", new { name = "Alpha" });
        var (beta, betaToken) = await PutServerAsync(http, "beta", new { name = "Beta" });

        // No snapshots anywhere: the first active server is selected, and it has nothing to show.
        (status, var noSnapshot) = await GetAsync(http, "/api/metrics/latest/");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("alpha", noSnapshot.GetProperty("message").GetString(), StringComparison.Ordinal);
        (status, var emptyHistory) = await GetAsync(http, "/api/metrics/history/");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("alpha", emptyHistory.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(0, emptyHistory.GetProperty("point_count").GetInt32());

        await IngestOkAsync(http, "beta", betaToken!, Wrapped(Sample(Now, cpu: 99, gpu: 5)));

        // Now the server with snapshots is selected.
        (status, var latest) = await GetAsync(http, "/api/metrics/latest/");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("beta", latest.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(["alpha", "beta"], latest.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("slug").GetString()));
        var snapshot = latest.GetProperty("snapshot");
        Assert.Equal("beta", snapshot.GetProperty("server").GetProperty("slug").GetString());
        Assert.Equal("cpu-bound", snapshot.GetProperty("bottleneck").GetProperty("label").GetString());
        Assert.Equal("Cpu Bound", snapshot.GetProperty("bottleneck").GetProperty("title").GetString());
        Assert.InRange(snapshot.GetProperty("age_seconds").GetDouble(), 0, 60);
        Assert.Equal(99.0, snapshot.GetProperty("cpu").GetProperty("usage_percent").GetDouble());
        Assert.Equal(6.2, snapshot.GetProperty("cpu").GetProperty("load_1").GetDouble());
        Assert.Equal(50.0, snapshot.GetProperty("memory").GetProperty("percent").GetDouble());
        var gpu = snapshot.GetProperty("gpu");
        Assert.True(gpu.GetProperty("present").GetBoolean());
        Assert.Equal(2, gpu.GetProperty("count").GetInt32());
        Assert.Equal(5.0, gpu.GetProperty("top_util_percent").GetDouble());
        Assert.Equal("NVIDIA A100-SXM4-80GB", gpu.GetProperty("devices")[0].GetProperty("name").GetString());

        // By slug, by numeric id, unknown, and a server without snapshots.
        Assert.Equal("beta", (await GetAsync(http, $"/api/metrics/latest/?server={beta.GetProperty("id").GetInt64()}")).Body.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(http, $"/api/metrics/latest/?server={alpha.GetProperty("id").GetInt64()}")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(http, "/api/metrics/latest/?server=gamma")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(http, "/api/metrics/latest/?server=9999")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(http, "/api/metrics/history/?server=gamma")).Status);

        // A disabled server leaves the list and the fallback.
        await PutServerAsync(http, "beta", new { is_active = false });
        var (_, list) = await GetAsync(http, "/api/servers/");
        Assert.Equal(["alpha"], list.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("slug").GetString()));
        Assert.Equal("alpha", (await GetAsync(http, "/api/metrics/history/")).Body.GetProperty("selected_server").GetProperty("slug").GetString());
    }

    [Fact]
    public async Task History_is_downsampled_in_ClickHouse_to_at_most_the_maximum_points()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Servers:MaxHistoryPoints=100", "--Aperture:Servers:MaxHistoryMinutes=240");
        var http = runtime.Http;
        var (server, _) = await PutServerAsync(http, "dense", new { name = "Dense" });
        var id = server.GetProperty("id").GetInt64();

        // 3,600 samples two seconds apart: the last two hours, written as the runtime writes them.
        const int samples = 3_600;
        var end = Now;
        var start = end.AddSeconds(-2 * (samples - 1));
        using (var client = new ClickHouseClient(runtime.ClickHouse.ConnectionString))
        {
            var store = new ServerSnapshotStore(client, runtime.Database);
            var snapshots = Enumerable.Range(0, samples).Select(i => Snapshot(id, (ulong)i + 1, start.AddSeconds(2 * i), i)).ToList();
            await store.WriteAsync(snapshots, "history-test", Cancel);
        }

        async Task<(int Stride, long Samples, List<JsonElement> Points, List<DateTimeOffset> Times, JsonElement Body)> ReadAsync(string query)
        {
            var (status, body) = await GetAsync(http, "/api/metrics/history/?server=dense&" + query);
            Assert.Equal(HttpStatusCode.OK, status);
            var points = body.GetProperty("points").EnumerateArray().ToList();
            Assert.Equal(points.Count, body.GetProperty("point_count").GetInt32());
            Assert.InRange(points.Count, 1, 100);
            var times = points.Select(p => DateTimeOffset.Parse(p.GetProperty("collected_at").GetString()!, System.Globalization.CultureInfo.InvariantCulture)).ToList();
            Assert.Equal(times.Order(), times);
            var count = body.GetProperty("sample_count").GetInt64();
            var stride = body.GetProperty("stride").GetInt32();
            Assert.Equal((int)Math.Max(1, (count + 99) / 100), stride);
            // Every point is a stored snapshot with its own values: sample i has CPU i % 100 and reads i kB/s on nvme1n1.
            foreach (var (point, time) in points.Zip(times))
            {
                var i = (int)((time - start).TotalSeconds / 2);
                Assert.Equal(start.AddSeconds(2 * i), time);
                Assert.Equal(i % 100, point.GetProperty("cpu_usage_percent").GetDouble());
                Assert.Equal(i * 1000.0, point.GetProperty("disks")[1].GetProperty("read_bps").GetDouble());
            }

            return (stride, count, points, times, body);
        }

        // An hour: ~1,830 samples into 100 buckets of ~36.6 s, the first sample of each.
        var hour = await ReadAsync("minutes=61");
        Assert.InRange(hour.Samples, 1_800, 1_831);
        Assert.Equal(19, hour.Stride);
        Assert.InRange(hour.Points.Count, 99, 100);
        Assert.All(hour.Times.Zip(hour.Times.Skip(1)), pair => Assert.InRange((pair.Second - pair.First).TotalSeconds, 34, 40));

        var first = hour.Points[0];
        Assert.Equal(["collected_at", "cpu_usage_percent", "cpu_iowait_percent", "memory_percent", "swap_percent", "disk_read_bps", "disk_write_bps",
            "disk_util_percent", "network_rx_bps", "network_tx_bps", "gpu_top_util_percent", "bottleneck", "gpus", "disks"], first.EnumerateObject().Select(p => p.Name));
        Assert.Equal(["gpu_index", "utilization_gpu_percent", "memory_percent", "temperature_c"], first.GetProperty("gpus")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal(["device", "read_bps", "write_bps", "util_percent"], first.GetProperty("disks")[0].EnumerateObject().Select(p => p.Name));
        Assert.Equal([0, 1], first.GetProperty("gpus").EnumerateArray().Select(g => g.GetProperty("gpu_index").GetInt32()));
        Assert.Equal(["nvme0n1", "nvme1n1"], first.GetProperty("disks").EnumerateArray().Select(d => d.GetProperty("device").GetString()));

        // Two hours: buckets of ~72 s come from the one-per-minute table, whose rows are each minute's first sample.
        var twoHours = await ReadAsync("minutes=121");
        Assert.Equal(samples, twoHours.Samples);
        Assert.Equal(36, twoHours.Stride);
        Assert.InRange(twoHours.Points.Count, 90, 100);
        Assert.All(twoHours.Times, t => Assert.True(t.Second < 2, $"{t:O} is not the first sample of its minute"));

        // Ten minutes hold ~300 samples: ~100 points.
        var tenMinutes = await ReadAsync("minutes=10");
        Assert.InRange(tenMinutes.Stride, 3, 4);
        Assert.InRange(tenMinutes.Points.Count, 95, 100);

        // A short window needs no striding; the window is clamped to 1..MaxHistoryMinutes.
        var oneMinute = await ReadAsync("minutes=0");
        Assert.Equal(1, oneMinute.Body.GetProperty("minutes").GetInt32());
        Assert.Equal(1, oneMinute.Stride);
        Assert.Equal(oneMinute.Samples, oneMinute.Points.Count);
        Assert.InRange(oneMinute.Points.Count, 28, 31);
        var clamped = await ReadAsync("minutes=100000");
        Assert.Equal(240, clamped.Body.GetProperty("minutes").GetInt32());
        Assert.Equal(samples, clamped.Samples);
        Assert.Equal(HttpStatusCode.BadRequest, (await GetAsync(http, "/api/metrics/history/?minutes=many")).Status);
    }

    /// <summary>Sample i: CPU i % 100, disk nvme1n1 reading i kB/s, GPU 1 at (i % 50)%.</summary>
    internal static ServerSnapshot Snapshot(long serverId, ulong id, DateTimeOffset at, int i)
    {
        var sample = new ServerSample
        {
            CollectedAt = at,
            CpuUsagePercent = i % 100,
            CpuIowaitPercent = 1,
            MemoryPercent = 40,
            SwapPercent = 0,
            Disks = [new DiskSample("nvme0n1", 0, 0, 0, 0, 0), new DiskSample("nvme1n1", 0, 0, 0, 0, 0)],
            Gpus = [Gpu(0, 90), Gpu(1, i % 50)],
        };
        var rates = new SnapshotRates(i * 1000.0, 10, 20, 100, 100, [new DiskRates("nvme0n1", 0, 10, 5), new DiskRates("nvme1n1", i * 1000.0, 0, 20)]);
        return new ServerSnapshot(id, serverId, at, 2, "0.1.0", sample, rates, BottleneckClassifier.Classify(BottleneckInputs.Of(sample, rates)));
    }

    private static GpuSample Gpu(ushort index, double util) => new(index, "NVIDIA H100", $"GPU-{index}", util, 50, 80_000_000_000, 40_000_000_000, 50, 60, 300, 700);
}
