using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>
/// Root-cause analysis through the API: five services in a call graph (frontend → checkout → payment → database,
/// frontend → catalog) and one outside it, a fault at the database reaching payment, checkout and frontend 2, 4 and
/// 5 minutes later, imported as live series; the graph given through the API.
/// </summary>
public sealed class WatchdogRcaApiTests
{
    private const string Token = "central-admin-token";
    private const int Minutes = 240;
    private const int Fault = 200;

    private static readonly Dictionary<string, int> Delays = new(StringComparer.Ordinal) { ["database"] = 0, ["payment"] = 2, ["checkout"] = 4, ["frontend"] = 5 };

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_root_ranks_first_its_lags_are_within_a_minute_and_an_anomaly_downstream_carries_the_ranking()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        var (put, _, _) = await SendAsync(central.Http, HttpMethod.Put, "/api/v1/rca/topology", Token, new
        {
            edges = new[]
            {
                new { from = "frontend", to = "checkout" }, new { from = "checkout", to = "payment" },
                new { from = "payment", to = "database" }, new { from = "frontend", to = "catalog" },
            },
        }, "team-a");
        Assert.Equal(HttpStatusCode.OK, put);

        var startMinute = (TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60) - Minutes + 1;
        var (imported, answer, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token, new { series = Series(startMinute) }, "team-a");
        Assert.Equal(HttpStatusCode.OK, imported);
        Assert.NotEmpty(answer.GetProperty("anomalies_opened").EnumerateArray());

        var symptomAt = DateTimeOffset.FromUnixTimeSeconds((startMinute + Fault + Delays["frontend"]) * 60);
        var (analyzed, analysis, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/rca/analyze", Token,
            new { service_id = "frontend", metric_name = "latency_ms", at = symptomAt, window_minutes = 30 }, "team-a");
        Assert.Equal(HttpStatusCode.OK, analyzed);
        var causes = analysis.GetProperty("causes");
        Assert.Equal("database", causes[0].GetProperty("service_id").GetString());
        Assert.InRange(causes[0].GetProperty("lag_minutes").GetInt32(), -6, -4);
        Assert.NotEmpty(causes[0].GetProperty("evidence").EnumerateArray());

        var (_, correlations, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rca/correlations?service_id=payment&depth=3", Token, tenant: "team-a");
        Assert.Equal("payment", correlations.GetProperty("service_id").GetString());
        var related = correlations.GetProperty("correlations").EnumerateArray().ToDictionary(c => c.GetProperty("related_service").GetString()!);
        Assert.Equal("upstream", related["database"].GetProperty("direction").GetString());
        Assert.InRange(related["database"].GetProperty("lag_minutes").GetInt32(), -3, -1);
        Assert.Equal("downstream", related["checkout"].GetProperty("direction").GetString());
        Assert.InRange(related["checkout"].GetProperty("lag_minutes").GetInt32(), 1, 3);
        Assert.Equal("downstream", related["frontend"].GetProperty("direction").GetString());
        Assert.InRange(related["frontend"].GetProperty("lag_minutes").GetInt32(), 2, 4);
        Assert.InRange(related["database"].GetProperty("correlation_score").GetDouble(), 0.3, 1);

        // The detector opened anomalies downstream of the database; their RCA (run after the import's answer) names the root.
        JsonElement downstream = default;
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?metric_name=latency_ms&limit=100", Token, tenant: "team-a");
            downstream = page.GetProperty("anomalies").EnumerateArray()
                .FirstOrDefault(a => a.GetProperty("service_id").GetString() is "payment" or "checkout" or "frontend" && a.TryGetProperty("causes", out _));
            return downstream.ValueKind == JsonValueKind.Object;
        }, TimeSpan.FromSeconds(60), "an RCA of an anomaly downstream of the database");
        Assert.True(downstream.GetProperty("rca_triggered").GetBoolean());
        // Within the fault's reach: from the database's onset to the frontend's ramp.
        var faultAt = (startMinute + Fault) * 60;
        Assert.InRange(downstream.GetProperty("detected_at").GetDateTimeOffset().ToUnixTimeSeconds(), faultAt, faultAt + 600);
        Assert.Equal("database", downstream.GetProperty("causes")[0].GetProperty("service_id").GetString());

        var (_, otherTenant, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/rca/analyze", Token,
            new { service_id = "frontend", metric_name = "latency_ms", at = symptomAt, window_minutes = 30 }, "team-b");
        Assert.Equal(0, otherTenant.GetProperty("causes").GetArrayLength());
    }

    private static object[] Series(long startMinute)
    {
        var random = new Random(11);
        var series = new List<object>();
        string[] services = ["frontend", "checkout", "payment", "database", "catalog", "batch-jobs"];
        for (var s = 0; s < services.Length; s++)
        {
            var service = services[s];
            series.Add(Metric(service, "latency_ms", 50, 2, 15, s * 190, service == "database" ? 20 : 12));
            series.Add(Metric(service, "cpu_usage_percent", 40, 3, 10, (s * 190) + 60, service == "database" ? 18 : 0));
        }

        return [.. series];

        object Metric(string service, string name, double level, double noise, double diurnal, int phase, double fault)
        {
            var points = new double[Minutes][];
            for (var t = 0; t < Minutes; t++)
            {
                var value = level + (diurnal * Math.Sin(2 * Math.PI * (t + phase) / 1440 * 3)) + (noise * Gaussian(random));
                if (fault > 0 && Delays.TryGetValue(service, out var delay))
                {
                    var since = t - (Fault + delay);
                    value += since < 0 ? 0 : since == 0 ? fault / 2 : fault;
                }

                if (service == "batch-jobs" && t % 37 == 0)
                {
                    value += noise * 6;
                }

                points[t] = [(startMinute + t) * 60, value];
            }

            return new { service_id = service, metric_name = name, points };
        }
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}
