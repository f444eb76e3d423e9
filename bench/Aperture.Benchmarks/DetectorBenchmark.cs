using System.Diagnostics;
using System.Globalization;
using Aperture.Runtime.Watchdog.Detection;

namespace Aperture.Benchmarks;

/// <summary>
/// The watchdog detector's figures: (a) Observe calls per second on one thread over 10,000 series round-robin, and
/// (b) precision, recall and detection delay on labelled synthetic one-minute series (two weeks each, anomalies injected
/// in the second week), per scenario and overall.
/// </summary>
public static class DetectorBenchmark
{
    private const long Start = 1_700_438_400;
    private const int Day = 1440;
    private const int Points = 14 * Day;
    private const int Tolerance = 5;

    public static Task RunAsync(int points)
    {
        Throughput(Math.Max(points, 1_000_000));
        Labelled(Math.Max(4, points / 200_000));
        return Task.CompletedTask;
    }

    private static void Throughput(int points)
    {
        const int SeriesCount = 10_000;
        var options = new DetectorOptions();
        var detectors = new SeriesDetector[SeriesCount];
        for (var s = 0; s < SeriesCount; s++)
        {
            detectors[s] = new SeriesDetector(options, MetricDirection.Both);
        }

        var random = new Random(1);
        var noise = new double[4096];
        for (var i = 0; i < noise.Length; i++)
        {
            noise[i] = 100 + (5 * random.NextDouble());
        }

        var rounds = Math.Max(1, points / SeriesCount);
        var opened = 0;
        var clock = Stopwatch.StartNew();
        for (var r = 0; r < rounds; r++)
        {
            var at = Start + (r * 60L);
            for (var s = 0; s < SeriesCount; s++)
            {
                if (detectors[s].Observe(at, noise[(r + (s * 7)) & 4095]).Event == DetectorEvent.Opened)
                {
                    opened++;
                }
            }
        }

        clock.Stop();
        var total = (double)rounds * SeriesCount;
        Console.WriteLine($"## detector: throughput {total / clock.Elapsed.TotalSeconds:N0} points/s on one thread ({total:N0} points, {SeriesCount:N0} series round-robin, {opened} opened)");
    }

    private sealed record Scenario(string Name, Func<Random, (double[] Values, bool[] Missing, List<(int Start, int End)> Windows)> Make);

    private static double Gaussian(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());

    private static double[] Seasonal(Random r, double level, double daily, double weekly, double trendPerDay, Func<Random, double> noise)
    {
        var values = new double[Points];
        var phase = r.NextDouble() * 2 * Math.PI;
        for (var i = 0; i < Points; i++)
        {
            var p = (2 * Math.PI * (i % Day) / Day) + phase;
            var weekend = i / Day % 7 >= 5 ? 1 - weekly : 1;
            values[i] = level + (trendPerDay * i / Day) + (weekend * daily * (Math.Sin(p) + (0.3 * Math.Sin(2 * p)))) + noise(r);
        }

        return values;
    }

    private static int InSecondWeek(Random r, int length) => (8 * Day) + r.Next((6 * Day) - length);

    private static List<Scenario> Scenarios() =>
    [
        new("spikes on a cycle", r =>
        {
            var v = Seasonal(r, 200, 40, 0.3, 0, x => 3 * Gaussian(x));
            var w = new List<(int, int)>();
            for (var k = 0; k < 5; k++)
            {
                var at = InSecondWeek(r, 1);
                v[at] += (r.Next(2) == 0 ? 1 : -1) * (8 + (8 * r.NextDouble())) * 3;
                w.Add((at, at));
            }

            return (v, new bool[Points], w);
        }),
        new("level shift", r =>
        {
            var v = Seasonal(r, 50, 10, 0.2, 0, x => 1.5 * Gaussian(x));
            var at = InSecondWeek(r, 120);
            var size = (r.Next(2) == 0 ? 1 : -1) * (6 + (6 * r.NextDouble())) * 1.5;
            for (var i = at; i < Points; i++)
            {
                v[i] += size;
            }

            return (v, new bool[Points], [(at, at + 60)]);
        }),
        new("slow drift", r =>
        {
            var v = Seasonal(r, 500, 50, 0.2, 2, x => 5 * Gaussian(x));
            var length = 240 + r.Next(240);
            var at = InSecondWeek(r, length);
            var size = (10 + (10 * r.NextDouble())) * 5;
            for (var i = at; i < Points; i++)
            {
                v[i] += size * Math.Min(1.0, (double)(i - at) / length);
            }

            return (v, new bool[Points], [(at, at + length)]);
        }),
        new("heavy-tailed latency", r =>
        {
            // Log-normal noise: routine bursts to twice the median that are not incidents.
            var v = Seasonal(r, 0, 0, 0, 0, x => 120 * Math.Exp(0.25 * Gaussian(x)));
            var w = new List<(int, int)>();
            for (var k = 0; k < 3; k++)
            {
                var at = InSecondWeek(r, 30);
                var length = 5 + r.Next(25);
                for (var i = at; i < at + length; i++)
                {
                    v[i] *= 4;
                }

                w.Add((at, at + length));
            }

            return (v, new bool[Points], w);
        }),
        new("error rate (sparse counts)", r =>
        {
            var v = new double[Points];
            for (var i = 0; i < Points; i++)
            {
                v[i] = r.NextDouble() < 0.05 ? 1 : 0;
            }

            var at = InSecondWeek(r, 30);
            for (var i = at; i < at + 20; i++)
            {
                v[i] = 20 + r.Next(10);
            }

            return (v, new bool[Points], [(at, at + 20)]);
        }),
        new("wandering level and spikes", r =>
        {
            // A random walk (a queue depth, a memory footprint) is not an incident however far it wanders; spikes on it are.
            var v = new double[Points];
            var level = 100.0;
            for (var i = 0; i < Points; i++)
            {
                level += 0.3 * Gaussian(r);
                v[i] = level + Gaussian(r);
            }

            var w = new List<(int, int)>();
            for (var k = 0; k < 4; k++)
            {
                var at = InSecondWeek(r, 1);
                v[at] += (r.Next(2) == 0 ? 1 : -1) * 15;
                w.Add((at, at));
            }

            return (v, new bool[Points], w);
        }),
        new("flat and constant", r =>
        {
            var flat = r.Next(3);
            var v = Seasonal(r, 1000 * r.NextDouble(), 0, 0, 0, x => flat == 0 ? 0 : flat == 1 ? 1e-3 * Gaussian(x) : Math.Round(Gaussian(x) * 0.3));
            return (v, new bool[Points], []);
        }),
        new("gaps and spikes", r =>
        {
            var v = Seasonal(r, 80, 15, 0.2, 0, x => 2 * Gaussian(x));
            var missing = new bool[Points];
            for (var k = 0; k < 6; k++)
            {
                var at = r.Next(Points - 600);
                var length = 10 + r.Next(480);
                for (var i = at; i < at + length; i++)
                {
                    missing[i] = true;
                }
            }

            var w = new List<(int, int)>();
            for (var k = 0; k < 4; k++)
            {
                var at = InSecondWeek(r, 1);
                if (missing[at])
                {
                    continue;
                }

                v[at] += 30;
                w.Add((at, at));
            }

            return (v, missing, w);
        }),
    ];

    private static void Labelled(int seriesPerScenario)
    {
        Console.WriteLine($"## detector: labelled synthetic series, {seriesPerScenario} per scenario, 1-minute samples over 14 days, anomalies in days 8-14 (a detection may come up to {Tolerance} samples after a window)");
        Console.WriteLine("scenario                      windows  found  recall  opened  precision  delay median/p90 (points)  (minutes)");
        var options = new DetectorOptions();
        var all = new Tally();
        var seed = 100;
        foreach (var scenario in Scenarios())
        {
            var tally = new Tally();
            for (var s = 0; s < seriesPerScenario; s++)
            {
                var random = new Random(seed++);
                var (values, missing, windows) = scenario.Make(random);
                var detector = new SeriesDetector(options, MetricDirection.Both);
                var detected = new bool[windows.Count];
                for (var i = 0; i < Points; i++)
                {
                    if (missing[i] || detector.Observe(Start + (i * 60L), values[i]).Event != DetectorEvent.Opened)
                    {
                        continue;
                    }

                    tally.Opened++;
                    var hit = windows.FindIndex(w => i >= w.Start && i <= w.End + Tolerance);
                    if (hit < 0)
                    {
                        continue;
                    }

                    tally.Inside++;
                    if (!detected[hit])
                    {
                        detected[hit] = true;
                        tally.Delays.Add(i - windows[hit].Start);
                    }
                }

                tally.Windows += windows.Count;
            }

            Print(scenario.Name, tally);
            all.Add(tally);
        }

        Print("overall", all);
    }

    private static void Print(string name, Tally t)
    {
        var delays = t.Delays.Order().ToList();
        string At(double q) => delays.Count == 0 ? "-" : delays[(int)Math.Min(delays.Count - 1, Math.Floor(q * delays.Count))].ToString(CultureInfo.InvariantCulture);
        var recall = t.Windows == 0 ? "-" : ((double)t.Delays.Count / t.Windows).ToString("P0", CultureInfo.InvariantCulture);
        var precision = t.Opened == 0 ? "-" : ((double)t.Inside / t.Opened).ToString("P0", CultureInfo.InvariantCulture);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{name,-28} {t.Windows,8} {t.Delays.Count,6} {recall,7} {t.Opened,7} {precision,10}  {At(0.5),6} / {At(0.9),-6}                {At(0.5),6} / {At(0.9),-6}"));
    }

    private sealed class Tally
    {
        public int Windows { get; set; }
        public int Opened { get; set; }
        public int Inside { get; set; }
        public List<int> Delays { get; } = [];

        public void Add(Tally other)
        {
            Windows += other.Windows;
            Opened += other.Opened;
            Inside += other.Inside;
            Delays.AddRange(other.Delays);
        }
    }
}
