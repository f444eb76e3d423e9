using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>The watchdog's HTTP routes on a central runtime with a real ClickHouse and Redis: import, anomalies, status, topology.</summary>
public sealed class WatchdogApiTests
{
    private const string Token = "watchdog-admin-token";
    private const long Start = 1_767_225_600; // 2026-01-01T00:00:00Z
    private const int SpikeMinute = 2 * 24 * 60 + 600;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>Three days of a noisy per-minute series with one spike, as the import takes it.</summary>
    internal static object History(string service, string metric, int minutes, int spikeMinute, int seed = 7, string? tenant = null)
    {
        var random = new Random(seed);
        var points = new List<double[]>(minutes);
        for (var m = 0; m < minutes; m++)
        {
            var value = 40 + (random.NextDouble() * 4) - 2;
            points.Add([Start + (m * 60), m == spikeMinute ? 95 : value]);
        }

        return new { series = new[] { new { tenant, service_id = service, metric_name = metric, labels = new Dictionary<string, string> { ["pod"] = "a" }, points } } };
    }

    [Fact]
    public async Task An_imported_history_goes_through_the_detector_and_a_replay_after_a_restart_gives_the_same_anomalies()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        var history = History("payment-api", "cpu_usage_percent", 3 * 24 * 60, SpikeMinute);

        var (status, imported, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, history, "team-a");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3 * 24 * 60, imported.GetProperty("points").GetInt32());
        var opened = imported.GetProperty("anomalies_opened").EnumerateArray().Select(e => e.GetString()!).ToList();
        var spikeId = Assert.Single(opened);

        var (_, list, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?service_id=payment-api", Token, tenant: "team-a");
        Assert.Equal(1, list.GetProperty("total").GetInt64());
        var anomaly = Assert.Single(list.GetProperty("anomalies").EnumerateArray());
        Assert.Equal(spikeId, anomaly.GetProperty("anomaly_id").GetString());
        Assert.Equal("cpu_usage_percent", anomaly.GetProperty("metric_name").GetString());
        // detected_at is the time of the sample that opened it, not when the runtime saw it.
        Assert.Equal(DateTimeOffset.FromUnixTimeSeconds(Start + (SpikeMinute * 60)), anomaly.GetProperty("detected_at").GetDateTimeOffset());
        Assert.True(anomaly.GetProperty("z_score").GetDouble() > 4);
        Assert.InRange(anomaly.GetProperty("anomaly_score").GetDouble(), 0.5, 1);
        Assert.Equal("a", anomaly.GetProperty("labels").GetProperty("pod").GetString());
        Assert.True(anomaly.GetProperty("resolved").GetBoolean());

        // Another tenant sees none of it.
        var (_, other, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-b");
        Assert.Equal(0, other.GetProperty("total").GetInt64());

        // The same history replayed into another tenant's fresh series gives the same anomaly, at the same sample.
        var (_, elsewhere, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, history, "team-c");
        var (_, theirs, _) = await SendAsync(central.Http, HttpMethod.Get, $"/api/v1/anomalies/{Assert.Single(elsewhere.GetProperty("anomalies_opened").EnumerateArray()).GetString()}", Token, tenant: "team-c");
        Assert.Equal(anomaly.GetProperty("detected_at").GetDateTimeOffset(), theirs.GetProperty("detected_at").GetDateTimeOffset());

        // A restart resumes each series' detector where it was: the history sent again is all older than the series'
        // last point (stored, not watched twice), and a spike right after it opens at once, with no re-learning.
        await central.RestartRuntimeAsync();
        var (_, repeated, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, history, "team-a");
        Assert.Equal(3 * 24 * 60, repeated.GetProperty("out_of_order").GetInt32());
        Assert.Empty(repeated.GetProperty("anomalies_opened").EnumerateArray());
        var next = new
        {
            series = new[]
            {
                new
                {
                    service_id = "payment-api", metric_name = "cpu_usage_percent", labels = new Dictionary<string, string> { ["pod"] = "a" },
                    points = new[] { new double[] { Start + (3 * 24 * 60 * 60), 41 }, [Start + (3 * 24 * 60 * 60) + 60, 95] },
                },
            },
        };
        var (_, resumed, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, next, "team-a");
        Assert.Single(resumed.GetProperty("anomalies_opened").EnumerateArray());
        var (_, again, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-a");
        Assert.Equal(2, again.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task The_listing_pages_with_a_stable_token_and_filters_as_the_spec_says()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        // Five services, each with its own spike a day apart in minutes: five anomalies with known times.
        var minutes = 3 * 24 * 60;
        var series = Enumerable.Range(0, 5).Select(i =>
        {
            var random = new Random(i);
            return new
            {
                service_id = $"svc-{i}",
                metric_name = "latency_seconds",
                labels = new Dictionary<string, string>(),
                points = Enumerable.Range(0, minutes).Select(m => new double[] { Start + (m * 60), m == SpikeMinute + (i * 30) ? 9 : 1 + (random.NextDouble() * 0.1) }).ToArray(),
            };
        }).ToArray();
        var (status, _, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, new { series }, "team-a");
        Assert.Equal(HttpStatusCode.OK, status);

        var seen = new List<string>();
        string? token = null;
        do
        {
            var path = "/api/v1/anomalies?limit=2" + (token is null ? string.Empty : $"&page_token={Uri.EscapeDataString(token)}");
            var (pageStatus, page, _) = await SendAsync(central.Http, HttpMethod.Get, path, Token, tenant: "team-a");
            Assert.Equal(HttpStatusCode.OK, pageStatus);
            Assert.Equal(5, page.GetProperty("total").GetInt64());
            seen.AddRange(page.GetProperty("anomalies").EnumerateArray().Select(a => a.GetProperty("service_id").GetString()!));
            token = page.TryGetProperty("page_token", out var next) && next.ValueKind == JsonValueKind.String ? next.GetString() : null;
        }
        while (token is not null);

        // Newest first, each once.
        Assert.Equal(["svc-4", "svc-3", "svc-2", "svc-1", "svc-0"], seen);

        var since = DateTimeOffset.FromUnixTimeSeconds(Start + ((SpikeMinute + 30) * 60)).ToString("O");
        var until = DateTimeOffset.FromUnixTimeSeconds(Start + ((SpikeMinute + 90) * 60)).ToString("O");
        var (_, window, _) = await SendAsync(central.Http, HttpMethod.Get, $"/api/v1/anomalies?since={Uri.EscapeDataString(since)}&until={Uri.EscapeDataString(until)}", Token, tenant: "team-a");
        Assert.Equal(["svc-3", "svc-2", "svc-1"], window.GetProperty("anomalies").EnumerateArray().Select(a => a.GetProperty("service_id").GetString()!));
        var (_, high, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?min_score=1.0", Token, tenant: "team-a");
        Assert.All(high.GetProperty("anomalies").EnumerateArray(), a => Assert.Equal(1.0, a.GetProperty("anomaly_score").GetDouble()));

        var (_, first, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?limit=1", Token, tenant: "team-a");
        var firstToken = first.GetProperty("page_token").GetString();
        foreach (var bad in new[] { "limit=0", "limit=1001", "min_score=2", "since=yesterday", "page_token=nonsense", $"service_id=svc-1&page_token={firstToken}" })
        {
            var (badStatus, error, _) = await SendAsync(central.Http, HttpMethod.Get, $"/api/v1/anomalies?{bad}", Token, tenant: "team-a");
            Assert.Equal(HttpStatusCode.BadRequest, badStatus);
            Assert.Equal("invalid_request", error.GetProperty("error").GetString());
        }
    }

    [Fact]
    public async Task Status_shows_each_component_and_the_tenants_own_figures_and_bad_imports_are_400()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        var (_, before, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-a");
        Assert.Equal("running", before.GetProperty("components").GetProperty("watchdog").GetString());
        Assert.Equal("ok", before.GetProperty("components").GetProperty("clickhouse").GetString());
        Assert.Equal("not_configured", before.GetProperty("components").GetProperty("llm").GetString());
        Assert.Equal(0, before.GetProperty("watchdog").GetProperty("metrics_monitored").GetInt32());

        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        var live = new
        {
            series = new[]
            {
                new { service_id = "checkout", metric_name = "requests_per_second", labels = new Dictionary<string, string>(), points = new[] { new double[] { now - 60, 10 }, [now, 11] } },
                new { service_id = "checkout", metric_name = "errors_per_second", labels = new Dictionary<string, string>(), points = new[] { new double[] { now, 0 } } },
            },
        };
        var (status, _, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, live, "team-a");
        Assert.Equal(HttpStatusCode.OK, status);
        var (_, after, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-a");
        Assert.Equal(2, after.GetProperty("watchdog").GetProperty("metrics_monitored").GetInt32());
        Assert.True(after.GetProperty("watchdog").GetProperty("last_run").GetDateTimeOffset() > TimeProvider.System.GetUtcNow().AddMinutes(-1));
        var (_, otherTenant, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-b");
        Assert.Equal(0, otherTenant.GetProperty("watchdog").GetProperty("metrics_monitored").GetInt32());
        var (_, listed, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/metrics/series?service_id=checkout", Token, tenant: "team-a");
        Assert.Equal(2, listed.GetProperty("series").GetArrayLength());

        foreach (var (bad, field) in new (object, string)[]
        {
            (new { series = new[] { new { service_id = "x", metric_name = "1bad", points = new[] { new double[] { now, 1 } } } } }, "series[0].metric_name"),
            (new { series = new[] { new { service_id = "x", metric_name = "ok" } } }, "series[0].points"),
            (new { series = new[] { new { service_id = "x", metric_name = "ok", points = new[] { new double[] { now } } } } }, "series[0].points[0]"),
            (new { series = new[] { new { service_id = "", metric_name = "ok", points = new[] { new double[] { now, 1 } } } } }, "series[0].service_id"),
            (new { other = 1 }, "series"),
        })
        {
            var (badStatus, error, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, bad, "team-a");
            Assert.Equal(HttpStatusCode.BadRequest, badStatus);
            Assert.Equal(field, error.GetProperty("details").GetProperty("field").GetString());
        }
    }

    [Fact]
    public async Task The_topology_is_given_through_the_api_and_learnt_from_caller_and_callee_labels()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        var (put, _, _) = await SendAsync(central.Http, HttpMethod.Put, "/api/v1/rca/topology", Token,
            new { edges = new[] { new { from = "frontend", to = "checkout" }, new { from = "checkout", to = "payment" } } }, "team-a");
        Assert.Equal(HttpStatusCode.OK, put);
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        var istio = new
        {
            series = new[]
            {
                new
                {
                    service_id = "payment", metric_name = "istio_requests_total",
                    labels = new Dictionary<string, string> { ["source_workload"] = "payment", ["destination_workload"] = "database" },
                    points = new[] { new double[] { now, 1 } },
                },
            },
        };
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, istio, "team-a")).Status);

        var (_, topology, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rca/topology", Token, tenant: "team-a");
        var edges = topology.GetProperty("edges").EnumerateArray()
            .Select(e => $"{e.GetProperty("from").GetString()}>{e.GetProperty("to").GetString()}:{e.GetProperty("origin").GetString()}").Order().ToList();
        Assert.Equal(["checkout>payment:api", "frontend>checkout:api", "payment>database:metrics"], edges);

        // A PUT replaces the API's edges; those learnt from metrics stay.
        await SendAsync(central.Http, HttpMethod.Put, "/api/v1/rca/topology", Token, new { edges = new[] { new { from = "frontend", to = "checkout" } } }, "team-a");
        var (_, replaced, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rca/topology", Token, tenant: "team-a");
        Assert.Equal(2, replaced.GetProperty("edges").GetArrayLength());
        var (_, otherTenant, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rca/topology", Token, tenant: "team-b");
        Assert.Equal(0, otherTenant.GetProperty("edges").GetArrayLength());

        var (badEdge, _, _) = await SendAsync(central.Http, HttpMethod.Put, "/api/v1/rca/topology", Token, new { edges = new[] { new { from = "a", to = "a" } } }, "team-a");
        Assert.Equal(HttpStatusCode.BadRequest, badEdge);
        var (noService, _, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rca/correlations", Token, tenant: "team-a");
        Assert.Equal(HttpStatusCode.BadRequest, noService);
    }
}
