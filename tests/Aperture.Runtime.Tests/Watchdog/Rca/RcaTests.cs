using Aperture.Runtime.Watchdog.Rca;

namespace Aperture.Runtime.Tests.Watchdog.Rca;

/// <summary>
/// A five-service call graph (frontend → checkout → payment → database, frontend → catalog) plus a service the
/// graph does not know, each with seeded noise and its own diurnal phase; a fault starts at the database and
/// reaches payment, checkout and frontend with known delays.
/// </summary>
public sealed class RcaTests
{
    private const long Start = 29_000_000;
    private const int Minutes = 240;
    private const int Fault = 200;
    private const long FaultMinute = Start + Fault;

    // Minutes after the database's onset at which each service's latency moves.
    private static readonly Dictionary<string, int> Delays = new(StringComparer.Ordinal)
    {
        ["database"] = 0,
        ["payment"] = 2,
        ["checkout"] = 4,
        ["frontend"] = 5,
    };

    private static readonly CorrelationOptions Options = new();

    private static ServiceGraph Graph()
    {
        var graph = new ServiceGraph();
        graph.AddEdge("frontend", "checkout");
        graph.AddEdge("checkout", "payment");
        graph.AddEdge("payment", "database");
        graph.AddEdge("frontend", "catalog");
        return graph;
    }

    private static List<MinuteSeries> Series(int seed = 7, double missing = 0)
    {
        var random = new Random(seed);
        var all = new List<MinuteSeries>();
        string[] services = ["frontend", "checkout", "payment", "database", "catalog", "batch-jobs"];
        for (var s = 0; s < services.Length; s++)
        {
            var service = services[s];
            var phase = s * 190;
            all.Add(Metric(service, "latency_ms", 50, 2, 15, phase, service is "database" ? 20 : 12));
            all.Add(Metric(service, "cpu_usage_percent", 40, 3, 10, phase + 60, service is "database" ? 18 : 0));
            all.Add(Metric(service, "error_rate", 0.5, 0.1, 0.05, phase, 0));
        }

        return all;

        MinuteSeries Metric(string service, string name, double level, double noise, double diurnal, int phase, double fault)
        {
            var values = new double[Minutes];
            for (var t = 0; t < Minutes; t++)
            {
                values[t] = level + (diurnal * Math.Sin(2 * Math.PI * (t + phase) / 1440 * 3)) + (noise * Gaussian(random));
                if (fault > 0 && Delays.TryGetValue(service, out var delay))
                {
                    // A short ramp, as a saturating dependency shows: half the shift in the first minute.
                    var since = t - (Fault + delay);
                    values[t] += since < 0 ? 0 : since == 0 ? fault / 2 : fault;
                }

                if (service == "batch-jobs" && t % 37 == 0)
                {
                    values[t] += noise * 6;
                }

                if (missing > 0 && random.NextDouble() < missing)
                {
                    values[t] = double.NaN;
                }
            }

            return new MinuteSeries(service, name, Start, values);
        }
    }

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static ServiceCorrelation Related(IReadOnlyList<ServiceCorrelation> correlations, string service) =>
        Assert.Single(correlations, c => c.RelatedService == service);

    [Fact]
    public void The_fault_s_root_ranks_first_from_the_frontend_s_symptom()
    {
        var causes = ServiceCorrelator.Analyze("frontend", "latency_ms", FaultMinute + 8, 15, Series(), Graph(), Options);

        Assert.Equal("database", causes[0].ServiceId);
        Assert.InRange(causes[0].LagMinutes, -6, -4);
        Assert.Contains(causes[0].Evidence, e => e.Contains("min before the symptom", StringComparison.Ordinal));
        Assert.Contains(causes[0].Evidence, e => e.Contains("deepest anomaly", StringComparison.Ordinal));
        Assert.DoesNotContain(causes, c => c.ServiceId == "batch-jobs");
        var order = causes.Select(c => c.ServiceId).ToList();
        Assert.True(order.IndexOf("payment") < order.IndexOf("checkout"), string.Join(",", order));
        Assert.True(order.IndexOf("checkout") < order.IndexOf("frontend"), string.Join(",", order));
        Assert.All(causes, c => Assert.InRange(c.Score, 0, 1));
    }

    [Fact]
    public void Correlations_from_payment_have_the_known_lags_and_the_graph_s_directions()
    {
        var correlations = ServiceCorrelator.Correlate("payment", Series(), Graph(), 3, Options);

        var database = Related(correlations, "database");
        Assert.InRange(database.LagMinutes, -3, -1);
        Assert.Equal(CorrelationDirection.Upstream, database.Direction);
        Assert.True(database.CorrelationScore > 0.35, $"{database}");

        var checkout = Related(correlations, "checkout");
        Assert.InRange(checkout.LagMinutes, 1, 3);
        Assert.Equal(CorrelationDirection.Downstream, checkout.Direction);

        var frontend = Related(correlations, "frontend");
        Assert.InRange(frontend.LagMinutes, 2, 4);
        Assert.Equal(CorrelationDirection.Downstream, frontend.Direction);

        // Three hops away through the frontend: listed because the graph puts it in reach, but it did not move.
        Assert.True(Related(correlations, "catalog").CorrelationScore < 0.3);
    }

    [Fact]
    public void Without_a_graph_direction_comes_from_the_lag_s_sign()
    {
        var correlations = ServiceCorrelator.Correlate("payment", Series(), new ServiceGraph(), 3, Options);

        var database = Related(correlations, "database");
        Assert.InRange(database.LagMinutes, -3, -1);
        Assert.Equal(CorrelationDirection.Upstream, database.Direction);
        var checkout = Related(correlations, "checkout");
        Assert.InRange(checkout.LagMinutes, 1, 3);
        Assert.Equal(CorrelationDirection.Downstream, checkout.Direction);
    }

    [Fact]
    public void An_unrelated_noisy_service_scores_low()
    {
        var correlations = ServiceCorrelator.Correlate("payment", Series(), new ServiceGraph(), 3, Options);

        Assert.DoesNotContain(correlations, c => c.RelatedService is "batch-jobs" or "catalog");

        var everything = ServiceCorrelator.Correlate("payment", Series(), new ServiceGraph(), 3, new CorrelationOptions { MinCorrelation = 0 });
        Assert.True(Related(everything, "batch-jobs").CorrelationScore < 0.3, string.Join("\n", everything));
        Assert.True(Related(everything, "database").CorrelationScore > 1.5 * Related(everything, "batch-jobs").CorrelationScore, string.Join("\n", everything));
    }

    [Fact]
    public void Missing_minutes_are_skipped_not_fatal()
    {
        var series = Series(seed: 11, missing: 0.15);

        var correlations = ServiceCorrelator.Correlate("payment", series, Graph(), 3, Options);
        Assert.InRange(Related(correlations, "database").LagMinutes, -3, -1);
        Assert.InRange(Related(correlations, "checkout").LagMinutes, 1, 3);

        var causes = ServiceCorrelator.Analyze("frontend", "latency_ms", FaultMinute + 8, 15, series, Graph(), Options);
        Assert.Equal("database", causes[0].ServiceId);
    }

    [Fact]
    public void An_all_missing_series_and_an_unknown_origin_answer_nothing_rather_than_fail()
    {
        var series = Series();
        series.Add(new MinuteSeries("payment", "queue_depth", Start, Enumerable.Repeat(double.NaN, Minutes).ToArray()));

        Assert.NotEmpty(ServiceCorrelator.Correlate("payment", series, Graph(), 3, Options));
        Assert.Empty(ServiceCorrelator.Correlate("nobody", series, Graph(), 3, Options));
        Assert.NotEmpty(ServiceCorrelator.Analyze("payment", "no_such_metric", FaultMinute + 8, 15, series, Graph(), Options));
    }

    [Fact]
    public void Depth_limits_how_far_the_graph_is_walked()
    {
        var correlations = ServiceCorrelator.Correlate("payment", Series(), Graph(), 1, Options);

        Assert.Equal(["checkout", "database"], correlations.Select(c => c.RelatedService).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Without_a_graph_the_earliest_mover_that_moves_with_the_symptom_ranks_first()
    {
        var causes = ServiceCorrelator.Analyze("frontend", "latency_ms", FaultMinute + 8, 15, Series(), new ServiceGraph(), Options);

        Assert.Equal("database", causes[0].ServiceId);
        Assert.Contains(causes[0].Evidence, e => e.Contains("no call graph", StringComparison.Ordinal));
    }

    [Fact]
    public void The_symptom_s_own_service_is_the_cause_when_nothing_it_calls_moved()
    {
        var series = Series();
        var random = new Random(3);
        // Only the frontend's latency moves; nothing it calls is touched.
        var quiet = series.Select(s => Delays.ContainsKey(s.ServiceId) && s.ServiceId != "frontend"
            ? s with { Values = s.Values.Select((v, t) => 50 + (2 * Gaussian(random))).ToArray() }
            : s).ToList();

        var causes = ServiceCorrelator.Analyze("frontend", "latency_ms", FaultMinute + 8, 15, quiet, Graph(), Options);

        Assert.True(causes[0].ServiceId == "frontend", string.Join("\n", causes.Select(c => $"{c.ServiceId} {c.MetricName} {c.Score} {string.Join("; ", c.Evidence)}")));
        Assert.Contains(causes[0].Evidence, e => e.Contains("the symptom's own service", StringComparison.Ordinal));
    }

    [Fact]
    public void Edges_come_from_caller_and_callee_labels()
    {
        var istio = new Dictionary<string, string> { ["source_workload"] = "frontend", ["destination_workload"] = "checkout", ["response_code"] = "200" };
        Assert.Equal(("frontend", "checkout"), TopologyEdges.FromLabels(istio, TopologyEdges.DefaultCallerLabel, TopologyEdges.DefaultCalleeLabel));
        Assert.Null(TopologyEdges.FromLabels(new Dictionary<string, string>(istio) { ["source_workload"] = "unknown" }, "source_workload", "destination_workload"));
        Assert.Null(TopologyEdges.FromLabels(new Dictionary<string, string> { ["source_workload"] = "a" }, "source_workload", "destination_workload"));
        Assert.Null(TopologyEdges.FromLabels(new Dictionary<string, string> { ["source_workload"] = "a", ["destination_workload"] = "a" }, "source_workload", "destination_workload"));

        var custom = new Dictionary<string, string> { ["client"] = "api", ["server"] = "db" };
        Assert.Equal(("api", "db"), TopologyEdges.FromLabels(custom, "client", "server"));
        var graph = new ServiceGraph();
        Assert.True(graph.AddFromLabels(custom, "client", "server"));
        Assert.Contains("db", graph.CalleesOf("api"));
        Assert.Contains("api", graph.CallersOf("db"));
    }

    [Fact]
    public void The_graph_answers_hops_paths_and_both_sides()
    {
        var graph = Graph();

        Assert.True(graph.Contains("catalog"));
        Assert.False(graph.Contains("batch-jobs"));
        Assert.Equal(3, graph.HopDistance("payment", "catalog"));
        Assert.Null(graph.HopDistance("payment", "batch-jobs"));
        Assert.Equal(["frontend", "checkout", "payment", "database"], graph.CallPath("frontend", "database"));
        Assert.Null(graph.CallPath("database", "frontend"));
        Assert.Equal(["database"], graph.Upstream("payment", 5).Keys);
        Assert.Equal(2, graph.Downstream("payment", 5)["frontend"]);
    }
}
