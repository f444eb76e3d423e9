using System.Net;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Identity;
using Aperture.Runtime.Watchdog;
using Aperture.Runtime.Watchdog.Export;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>A Site's series for the watchdog: gathered per minute, sent to the central runtime, kept while it is away.</summary>
public sealed class SiteSeriesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public void Gauges_are_a_minutes_mean_and_counts_a_rate_per_second_with_quiet_minutes_zero()
    {
        var time = new FakeTimeProvider(T0);
        var series = new SiteSeries(time);
        series.Gauge("t", "box", "cpu_usage_percent", string.Empty, 10, T0);
        series.Gauge("t", "box", "cpu_usage_percent", string.Empty, 30, T0.AddSeconds(30));
        series.Gauge("t", "box", "cpu_usage_percent", string.Empty, double.NaN, T0.AddSeconds(40));
        series.Gauge("t", "box", "cpu_usage_percent", string.Empty, 50, T0.AddMinutes(1));
        series.Count("t", "agent", "cpu_samples_per_second", string.Empty, 600, T0);
        series.Count("t", "agent", "cpu_samples_per_second", string.Empty, 600, T0.AddSeconds(59));

        var minute = T0.ToUnixTimeSeconds() / 60;
        var first = series.TakeMinutesBefore(minute + 1);
        Assert.Equal(20, Assert.Single(first, p => p.MetricName == "cpu_usage_percent").Value);
        Assert.Equal(20, Assert.Single(first, p => p.MetricName == "cpu_samples_per_second").Value);

        // Minute 1 has a gauge, minutes 1 and 2 no samples: the rate is 0 there, not missing.
        var next = series.TakeMinutesBefore(minute + 3);
        Assert.Equal(50, Assert.Single(next, p => p.MetricName == "cpu_usage_percent").Value);
        Assert.Equal([0.0, 0.0], next.Where(p => p.MetricName == "cpu_samples_per_second").OrderBy(p => p.TimestampMs).Select(p => p.Value));
        Assert.Empty(series.TakeMinutesBefore(minute + 3));
    }

    [Fact]
    public async Task A_sites_server_series_reach_the_central_watchdog_and_wait_while_it_is_away()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, "--Aperture:AuthToken=central-admin-token");
        await using var site = await RuntimeEnvironment.StartAsync(RuntimeOptions.AggregatorRole, "--Aperture:AuthToken=site-token");
        using var keyFolder = new Aperture.Testing.TemporaryDirectory("aperture-export-key");
        var keyFile = await WriteIngestionKeyAsync(central, keyFolder);

        var (_, token) = await Servers.ServerSamples.PutServerAsync(site.Http, "gpu-box", new { name = "GPU box" }, "site-token");
        using (var ingest = await Servers.ServerSamples.IngestAsync(site.Http, "gpu-box", token,
            Servers.ServerSamples.Wrapped(Servers.ServerSamples.Sample(TimeProvider.System.GetUtcNow())).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        }

        // The exporter's clock two minutes on: the sample's minute is over.
        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(2));
        var away = new SeriesExportOptions { CentralUrl = "http://127.0.0.1:1/", TokenFile = keyFile };
        using var exporter = Exporter(site, away, time);
        using (var unreachable = new HttpClient { BaseAddress = new Uri(away.CentralUrl), Timeout = TimeSpan.FromSeconds(5) })
        {
            await exporter.ExportAsync(unreachable, away, Cancel);
        }

        Assert.Equal(0, exporter.Exported);
        using (var reachable = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) })
        {
            await exporter.ExportAsync(reachable, new SeriesExportOptions { CentralUrl = reachable.BaseAddress!.ToString(), TokenFile = keyFile }, Cancel);
        }

        Assert.True(exporter.Exported > 0);
        var (_, listed, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/metrics/series?service_id=gpu-box", "central-admin-token", tenant: "default");
        var names = listed.GetProperty("series").EnumerateArray().Select(s => s.GetProperty("metric_name").GetString()).ToHashSet();
        Assert.Contains("cpu_usage_percent", names);
        Assert.Contains("memory_percent", names);
        Assert.Contains("gpu_util_percent", names);
        Assert.Contains("gpu_temperature_c", names);
        var (_, elsewhere, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/metrics/series", "central-admin-token", tenant: "team-b");
        Assert.Equal(0, elsewhere.GetProperty("series").GetArrayLength());
    }

    [Fact]
    public async Task A_targets_profiles_from_two_agents_reach_the_centre_as_one_series_of_the_workload_labelled_with_the_site()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, "--Aperture:AuthToken=central-admin-token");
        await using var site = await RuntimeEnvironment.StartAsync(RuntimeOptions.AggregatorRole, "--Aperture:AuthToken=site-token");
        using var keyFolder = new Aperture.Testing.TemporaryDirectory("aperture-export-key");
        var keyFile = await WriteIngestionKeyAsync(central, keyFolder);

        var now = (ulong)TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
        async Task<HttpStatusCode> PushAsync(string agent, string target, ulong samples)
        {
            var batch = Profiling.Pushes.Batch(agent, 1, Profiling.Pushes.Cpu((long)now, samples, "main", "pay"));
            batch.Target = target;
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/push") { Content = new ByteArrayContent(Google.Protobuf.MessageExtensions.ToByteArray(batch)) };
            request.Content.Headers.ContentType = new("application/x-protobuf");
            request.Headers.Authorization = new("Bearer", "site-token");
            using var response = await site.Http.SendAsync(request, Cancel);
            return response.StatusCode;
        }

        Assert.Equal(HttpStatusCode.OK, await PushAsync("node-a", "checkout", 600));
        Assert.Equal(HttpStatusCode.OK, await PushAsync("node-b", "checkout", 1200));
        // Without a target (an older agent, or a process no target selects) the agent stays the service.
        Assert.Equal(HttpStatusCode.OK, await PushAsync("node-c", string.Empty, 60));
        Assert.Equal(HttpStatusCode.BadRequest, await PushAsync("node-d", new string('x', 254), 60));

        var time = new FakeTimeProvider(TimeProvider.System.GetUtcNow().AddMinutes(2));
        var settings = new SeriesExportOptions { CentralUrl = $"http://127.0.0.1:{central.HttpPort}/", TokenFile = keyFile, SiteId = "eu-west" };
        using var exporter = Exporter(site, settings, time);
        using (var http = new HttpClient { BaseAddress = new Uri(settings.CentralUrl), Timeout = TimeSpan.FromSeconds(30) })
        {
            await exporter.ExportAsync(http, settings, Cancel);
        }

        Assert.True(exporter.Exported > 0);
        // The centre answers an import once its points are stored: they are all there now.
        var stored = new List<(string Service, string Metric, string Labels, double Total)>();
        using (var reader = await central.App.Services.GetRequiredService<ClickHouseClient>().ExecuteReaderAsync(
            "SELECT toString(service_id), toString(metric_name), labels, sum(value) " +
            $"FROM `{central.Database}`.watchdog_points WHERE tenant = 'default' GROUP BY service_id, metric_name, labels",
            cancellationToken: Cancel))
        {
            while (await reader.ReadAsync(Cancel))
            {
                stored.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetDouble(3)));
            }
        }

        // The minute's rates per second add up to the samples over 60 s, however the pushes fell across minutes.
        var cpu = stored.Where(s => s.Metric == "cpu_samples_per_second").ToList();
        Assert.Equal(["checkout", "node-c"], cpu.Select(s => s.Service).Order(StringComparer.Ordinal));
        var checkout = Assert.Single(cpu, s => s.Service == "checkout");
        Assert.Equal("site=\"eu-west\"", checkout.Labels);
        Assert.Equal(30, checkout.Total, 9);
        Assert.Equal(1, Assert.Single(cpu, s => s.Service == "node-c").Total, 9);
        Assert.Contains(stored, s => s.Service == "checkout" && s.Metric == "lock_wait_seconds_per_second");

        // Every series the Site sends carries its name, the runtime's own refusals among them.
        Assert.All(stored, s => Assert.Equal("eu-west", Aperture.Runtime.Watchdog.SeriesLabels.Parse(s.Labels)["site"]));
        var refusals = Assert.Single(stored, s => s.Metric == "ingest_errors_per_second");
        Assert.Equal((SiteSeries.RuntimeService, "kind=\"profile_invalid\",site=\"eu-west\""), (refusals.Service, refusals.Labels));
    }

    /// <summary>The Site's agent key, as the operator mounts it: an ingestion key of the centre's tenant default, in a file.</summary>
    private static async Task<string> WriteIngestionKeyAsync(RuntimeEnvironment central, Aperture.Testing.TemporaryDirectory folder)
    {
        var keyFile = Path.Combine(folder.Path, "key");
        await File.WriteAllTextAsync(keyFile, await CreateKeyAsync(central.Http, "default", "ingestion"), Cancel);
        return keyFile;
    }

    /// <summary>The Site's exporter on its own clock, driven round by round by the test.</summary>
    private static SiteSeriesExporter Exporter(RuntimeEnvironment site, SeriesExportOptions settings, TimeProvider time) => new(
        site.App.Services.GetRequiredService<SiteSeries>(), site.App.Services.GetRequiredService<ClickHouseClient>(),
        site.App.Services.GetRequiredService<IOptions<ClickHouseOptions>>(), Options.Create(settings), Options.Create(new IdentityOptions()), time,
        NullLogger<SiteSeriesExporter>.Instance);

    [Theory]
    [InlineData("eu-west", true)]
    [InlineData("site.eu-1", true)]
    [InlineData("EU", false)]
    [InlineData("-west", false)]
    [InlineData("west_1", false)]
    public void A_site_id_is_a_kubernetes_name(string id, bool valid)
    {
        var results = new List<System.ComponentModel.DataAnnotations.ValidationResult>();
        var options = new SeriesExportOptions { SiteId = id };
        var ok = System.ComponentModel.DataAnnotations.Validator.TryValidateObject(options, new(options), results, validateAllProperties: true);
        Assert.Equal(valid, ok);
    }
}
