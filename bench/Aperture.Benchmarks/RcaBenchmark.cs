using System.Diagnostics;
using System.Globalization;
using Aperture.Runtime.Watchdog.Rca;

namespace Aperture.Benchmarks;

/// <summary>
/// The watchdog issue's RCA figure: milliseconds per Analyze and per Correlate (p50, p99) over a layered call graph
/// of <c>services</c> services, four metrics each, four hours of minutes, a fault injected at a leaf.
/// </summary>
public static class RcaBenchmark
{
    private const int Minutes = 240;
    private const int Runs = 200;
    private const long Start = 29_000_000;

    public static Task RunAsync(int services)
    {
        Console.WriteLine($"## rca: {services} services, 4 metrics each, {Minutes} minutes, {Runs} runs per call");
        var (series, graph, root, symptom) = Build(services);
        var options = new CorrelationOptions();
        var fault = Start + Minutes - 40;

        IReadOnlyList<RootCause> causes = [];
        var analyze = Measure(() => causes = ServiceCorrelator.Analyze(symptom, "latency_ms", fault + 10, 15, series, graph, options));
        IReadOnlyList<ServiceCorrelation> correlations = [];
        var correlate = Measure(() => correlations = ServiceCorrelator.Correlate(symptom, series, graph, 3, options));
        var correlateAll = Measure(() => ServiceCorrelator.Correlate(symptom, series, new ServiceGraph(), 3, options));

        Print("analyze", analyze);
        Print("correlate (graph, depth 3)", correlate);
        Print("correlate (no graph, all services)", correlateAll);
        Console.WriteLine($"top cause {causes[0].ServiceId} (injected at {root}), {correlations.Count} correlations");
        return Task.CompletedTask;
    }

    private static List<double> Measure(Action call)
    {
        for (var i = 0; i < 10; i++)
        {
            call();
        }

        var times = new List<double>(Runs);
        for (var i = 0; i < Runs; i++)
        {
            var watch = Stopwatch.StartNew();
            call();
            times.Add(watch.Elapsed.TotalMilliseconds);
        }

        times.Sort();
        return times;
    }

    private static void Print(string name, List<double> sorted) =>
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name}: p50 {sorted[sorted.Count / 2]:F2} ms, p99 {sorted[(int)(sorted.Count * 0.99)]:F2} ms"));

    private static (List<MinuteSeries> Series, ServiceGraph Graph, string Root, string Symptom) Build(int services)
    {
        var random = new Random(42);
        var graph = new ServiceGraph();
        var names = Enumerable.Range(0, services).Select(i => $"svc-{i:D2}").ToArray();

        // Each service calls two of the next ones: a layered graph from svc-00 (the entry) to the leaves.
        for (var i = 0; i < services; i++)
        {
            for (var k = 1; k <= 2 && (2 * i) + k < services; k++)
            {
                graph.AddEdge(names[i], names[(2 * i) + k]);
            }
        }

        var root = names[^1];
        var chain = new Dictionary<string, int>(StringComparer.Ordinal);
        var path = graph.CallPath(names[0], root)!;
        for (var i = 0; i < path.Count; i++)
        {
            chain[path[i]] = (path.Count - 1 - i) * 2;
        }

        var series = new List<MinuteSeries>();
        foreach (var name in names)
        {
            foreach (var metric in new[] { "latency_ms", "cpu_usage_percent", "error_rate", "requests_per_second" })
            {
                var phase = random.Next(1440);
                var values = new double[Minutes];
                for (var t = 0; t < Minutes; t++)
                {
                    var noise = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
                    values[t] = 100 + (20 * Math.Sin(2 * Math.PI * (t + phase) / 1440)) + (3 * noise);
                    if (metric == "latency_ms" && chain.TryGetValue(name, out var delay) && t >= Minutes - 40 + delay)
                    {
                        values[t] += 30;
                    }
                }

                series.Add(new MinuteSeries(name, metric, Start, values));
            }
        }

        return (series, graph, root, names[0]);
    }
}
