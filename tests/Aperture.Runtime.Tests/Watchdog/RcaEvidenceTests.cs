using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Tests.Profiling;
using Aperture.Runtime.Tests.Servers;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>
/// The RCA asks the Site a cause's series came from (its <c>site</c> label) for what it holds: a real Site with a
/// monitored server that turns CPU-bound at the onset and a workload whose profile shifts to one stack, and a real
/// central runtime that knows the Site's API.
/// </summary>
public sealed class RcaEvidenceTests
{
    private const string CentralToken = "central-admin-token";
    private const string SiteToken = "site-token";
    private const string Site = "eu-west";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_servers_cause_carries_its_bottleneck_class_and_a_workloads_cause_the_stacks_whose_share_grew()
    {
        await using var site = await RuntimeEnvironment.StartAsync(RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={SiteToken}");
        await using var central = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.CentralRole, $"--Aperture:AuthToken={CentralToken}",
            $"--Aperture:Central:SiteApis:{Site}=http://127.0.0.1:{site.HttpPort}", $"--Aperture:Central:SiteTokens:{Site}={SiteToken}");

        // The onset five minutes ago, so that the minutes from it are all in the past.
        var now = TimeProvider.System.GetUtcNow();
        var onsetMinute = (now.ToUnixTimeSeconds() / 60) - 5;
        var onset = DateTimeOffset.FromUnixTimeSeconds(onsetMinute * 60);

        // The server: balanced before the onset, CPU-bound from it (snapshots a minute apart, in order).
        var (_, ingestToken) = await ServerSamples.PutServerAsync(site.Http, "train01", new { name = "Train 01" }, SiteToken);
        for (var m = -4; m <= 3; m++)
        {
            var sample = ServerSamples.Sample(onset.AddMinutes(m).AddSeconds(10), cpu: m < 0 ? 50 : 97);
            await ServerSamples.IngestOkAsync(site.Http, "train01", ingestToken!, sample);
        }

        // The workload: a tenth of its CPU samples in main;encode before, more than half from the onset.
        const string Agent = "node-evidence";
        var before = Pushes.Batch(Agent, 1, Pushes.Cpu(Ns(onset.AddMinutes(-3)), 90, "main", "serve"), Pushes.Cpu(Ns(onset.AddMinutes(-3)) + 1, 10, "main", "encode"));
        var during = Pushes.Batch(Agent, 2, Pushes.Cpu(Ns(onset.AddMinutes(1)), 90, "main", "serve"), Pushes.Cpu(Ns(onset.AddMinutes(1)) + 1, 110, "main", "encode"));
        foreach (var batch in new[] { before, during })
        {
            batch.Target = "checkout";
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/push") { Content = new ByteArrayContent(Google.Protobuf.MessageExtensions.ToByteArray(batch)) };
            request.Content.Headers.ContentType = new("application/x-protobuf");
            request.Headers.Authorization = new("Bearer", SiteToken);
            using var pushed = await site.Http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, pushed.StatusCode);
        }

        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, stored, _) = await SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", SiteToken, new { agent_id = Agent, source = "storage" });
            return stored.ValueKind == JsonValueKind.Object && stored.GetProperty("total_events").GetUInt64() == 300;
        }, TimeSpan.FromSeconds(30), "the workload's samples in the Site's storage");
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, history, _) = await SendAsync(site.Http, HttpMethod.Get, "/api/metrics/history/?server=train01&minutes=30", SiteToken);
            return history.ValueKind == JsonValueKind.Object && history.GetProperty("points").GetArrayLength() == 8;
        }, TimeSpan.FromSeconds(30), "the server's snapshots in the Site's history");

        // The centre's series, as the Site sends them: labelled with the Site.
        var (imported, _, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", CentralToken, new
        {
            series = new[]
            {
                Series("train01", "cpu_usage_percent", onsetMinute, 50, 97),
                Series("checkout", "cpu_samples_per_second", onsetMinute, 100, 200),
            },
        });
        Assert.Equal(HttpStatusCode.OK, imported);

        var server = await AnalyzeAsync(central, "train01", "cpu_usage_percent", onset);
        var bottleneck = server.GetProperty("server_bottleneck");
        Assert.Equal((Site, "cpu-bound", 4, 4, "balanced"), (
            bottleneck.GetProperty("site").GetString(), bottleneck.GetProperty("label").GetString(),
            bottleneck.GetProperty("samples").GetInt32(), bottleneck.GetProperty("of").GetInt32(), bottleneck.GetProperty("before").GetString()));
        Assert.Contains(server.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("cpu-bound", StringComparison.Ordinal));

        var workload = await AnalyzeAsync(central, "checkout", "cpu_samples_per_second", onset);
        var grown = workload.GetProperty("profile_changes")[0];
        Assert.Equal("main;encode", grown.GetProperty("stack").GetString());
        Assert.Equal(0.1, grown.GetProperty("share_before").GetDouble(), 3);
        Assert.Equal(0.55, grown.GetProperty("share_during").GetDouble(), 3);
        Assert.Equal(1, workload.GetProperty("profile_changes").GetArrayLength());
        Assert.Contains(workload.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("main;encode", StringComparison.Ordinal));

        // The anomaly the import opened on the server's series carries the same evidence in its RCA.
        JsonElement anomaly = default;
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?service_id=train01&limit=10", CentralToken);
            anomaly = page.GetProperty("anomalies").EnumerateArray().FirstOrDefault(a => a.TryGetProperty("causes", out _));
            return anomaly.ValueKind == JsonValueKind.Object;
        }, TimeSpan.FromSeconds(60), "the RCA of the server's anomaly");
        var own = anomaly.GetProperty("causes").EnumerateArray().Single(c => c.GetProperty("service_id").GetString() == "train01");
        Assert.Equal("cpu-bound", own.GetProperty("server_bottleneck").GetProperty("label").GetString());
    }

    [Fact]
    public async Task A_site_that_is_away_costs_the_cause_its_evidence_not_the_analysis()
    {
        await using var central = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.CentralRole, $"--Aperture:AuthToken={CentralToken}", $"--Aperture:Central:SiteApis:{Site}=http://127.0.0.1:1", "--Aperture:Central:SiteTimeout=00:00:02");
        var onsetMinute = (TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60) - 5;
        var (imported, _, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", CentralToken, new
        {
            series = new[] { Series("train01", "cpu_usage_percent", onsetMinute, 50, 97) },
        });
        Assert.Equal(HttpStatusCode.OK, imported);

        var cause = await AnalyzeAsync(central, "train01", "cpu_usage_percent", DateTimeOffset.FromUnixTimeSeconds(onsetMinute * 60));
        Assert.False(cause.TryGetProperty("server_bottleneck", out _));
        Assert.Contains(cause.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.StartsWith($"site {Site} gave no evidence", StringComparison.Ordinal));
    }

    private static async Task<JsonElement> AnalyzeAsync(RuntimeEnvironment central, string service, string metric, DateTimeOffset at)
    {
        var (status, analysis, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/rca/analyze", CentralToken,
            new { service_id = service, metric_name = $"{metric}{{site=\"{Site}\"}}", at, window_minutes = 10 });
        Assert.Equal(HttpStatusCode.OK, status);
        return analysis.GetProperty("causes").EnumerateArray().Single(c => c.GetProperty("service_id").GetString() == service);
    }

    /// <summary>Three hours of a noisy level up to the onset, then the raised level for four minutes.</summary>
    private static object Series(string service, string metric, long onsetMinute, double level, double raised)
    {
        var random = new Random(3);
        var points = new List<double[]>();
        for (var m = onsetMinute - 180; m <= onsetMinute + 3; m++)
        {
            points.Add([m * 60, (m < onsetMinute ? level : raised) + (random.NextDouble() - 0.5)]);
        }

        return new { service_id = service, metric_name = metric, labels = new Dictionary<string, string> { ["site"] = Site }, points };
    }

    private static long Ns(DateTimeOffset at) => at.ToUnixTimeMilliseconds() * 1_000_000;
}
