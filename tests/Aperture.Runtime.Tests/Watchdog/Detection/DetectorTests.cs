using System.ComponentModel.DataAnnotations;
using Aperture.Runtime.Watchdog.Detection;

namespace Aperture.Runtime.Tests.Watchdog.Detection;

/// <summary>The streaming detector on crafted one-minute series with seeded noise.</summary>
public sealed class DetectorTests
{
    // A Monday 00:00 UTC, so that hours and days in the tests read as wall-clock ones.
    private const long Start = 1_700_438_400;
    private const int Minute = 60;
    private const int Day = 1440;

    private static readonly DetectorOptions Defaults = new();

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static List<(long At, DetectorVerdict Verdict)> Run(SeriesDetector detector, IEnumerable<(long At, double Value)> samples) =>
        [.. samples.Select(s => (s.At, detector.Observe(s.At, s.Value)))];

    private static List<(long At, DetectorVerdict Verdict)> Run(IEnumerable<(long At, double Value)> samples, MetricDirection direction = MetricDirection.Both) =>
        Run(new SeriesDetector(Defaults, direction), samples);

    private static IEnumerable<(long At, double Value)> Series(int points, Func<int, Random, double> value, int seed = 7)
    {
        var random = new Random(seed);
        for (var i = 0; i < points; i++)
        {
            yield return (Start + ((long)i * Minute), value(i, random));
        }
    }

    private static List<long> Opened(List<(long At, DetectorVerdict Verdict)> run) =>
        [.. run.Where(r => r.Verdict.Event == DetectorEvent.Opened).Select(r => r.At)];

    private static long At(int index) => Start + ((long)index * Minute);

    [Fact]
    public void A_spike_opens_on_its_own_sample_and_a_second_one_an_hour_later_is_still_seen()
    {
        var run = Run(Series(3000, (i, r) => 100 + (2 * Gaussian(r)) + (i == 1500 ? 40 : 0) + (i == 1560 ? 20 : 0)));

        Assert.Equal([At(1500), At(1560)], Opened(run));
        var spike = run[1500].Verdict;
        Assert.True(spike.ZScore > 10, $"z {spike.ZScore}");
        Assert.InRange(spike.AnomalyScore, 0.99, 1.0);
        Assert.InRange(spike.Expected, 98, 102);
        Assert.Contains(run.Skip(1501).Take(10), r => r.Verdict.Event == DetectorEvent.Resolved);
        // The spike barely moved the baseline.
        Assert.InRange(run[1559].Verdict.Expected, 98, 102);
        Assert.InRange(run[1559].Verdict.Scale, 1.5, 3.0);
    }

    [Fact]
    public void A_daily_cycle_is_not_flagged_once_a_week_of_history_exists_and_a_spike_on_it_is()
    {
        // A daily wave with a second harmonic (a morning peak), weekend days quieter, and a spike in the second week.
        static double Value(int i, Random r)
        {
            var phase = 2 * Math.PI * (i % Day) / Day;
            var amplitude = i / Day % 7 >= 5 ? 0.6 : 1.0;
            var spike = i == (10 * Day) + (3 * 60) ? 60 : 0;
            return 100 + (amplitude * ((30 * Math.Sin(phase)) + (10 * Math.Sin(2 * phase)))) + (1.5 * Gaussian(r)) + spike;
        }

        var run = Run(Series(14 * Day, Value));

        Assert.Equal([At((10 * Day) + (3 * 60))], Opened(run).Where(t => t >= At(7 * Day)));
    }

    [Fact]
    public void A_level_shift_opens_once_then_becomes_the_new_normal()
    {
        var run = Run(Series(6000, (i, r) => (i < 3000 ? 100 : 160) + (3 * Gaussian(r))));

        Assert.Equal([At(3000)], Opened(run));
        var resolved = run.FindIndex(r => r.Verdict.Event == DetectorEvent.Resolved);
        Assert.InRange(resolved, 3001, 3000 + Defaults.LevelShiftPoints + 10);
        Assert.All(run.Skip(resolved + 1), r => Assert.Equal(DetectorEvent.None, r.Verdict.Event));
        Assert.InRange(run[^1].Verdict.Expected, 157, 163);
    }

    [Fact]
    public void Routine_blips_of_a_sparse_count_do_not_open_and_a_burst_does()
    {
        // An error count that is 1 in one minute of twenty and 0 otherwise, then 25 a minute for a quarter of an hour.
        var burst = 5 * Day;
        var run = Run(Series(6 * Day, (i, r) => i >= burst && i < burst + 15 ? 25 : r.NextDouble() < 0.05 ? 1 : 0, seed: 202));

        Assert.Equal([At(burst)], Opened(run).Where(t => t >= At(Day)));
    }

    [Fact]
    public void Routine_bursts_of_a_heavy_tailed_latency_do_not_open_and_a_fourfold_rise_does()
    {
        // Log-normal latency (bursts to twice the median are routine), then four times the median for ten minutes.
        var incident = 6 * Day;
        var run = Run(Series(7 * Day, (i, r) => 120 * Math.Exp(0.25 * Gaussian(r)) * (i >= incident && i < incident + 10 ? 4 : 1)), MetricDirection.Up);

        var opened = Opened(run).Where(t => t >= At(Day)).ToList();
        Assert.Contains(At(incident), opened);
        Assert.True(opened.Count <= 3, $"{opened.Count} opened: {string.Join(", ", opened)}");
    }

    [Fact]
    public void A_slow_drift_the_fast_level_follows_opens_once_against_the_slow_level()
    {
        // A daily cycle with noise 2, then a climb of 60 over eight hours (a rise per minute well inside the noise).
        var from = 9 * Day;
        var run = Run(Series(11 * Day, (i, r) => 200 + (20 * Math.Sin(2 * Math.PI * (i % Day) / Day)) + (2 * Gaussian(r)) + (60 * Math.Clamp((i - from) / 480.0, 0, 1))));

        var opened = Opened(run).Where(t => t >= At(2 * Day)).ToList();
        Assert.True(opened.Count == 1, string.Join(", ", opened.Select(t => $"{(t - Start) / 60} z {run.Single(r => r.At == t).Verdict.ZScore:F1}")));
        var drift = opened[0];
        Assert.InRange(drift, At(from), At(from + 480));
        var verdict = run.Single(r => r.At == drift).Verdict;
        Assert.True(verdict.ZScore >= Defaults.OpenZ, $"z {verdict.ZScore}");
    }

    [Fact]
    public void A_saved_and_restored_detector_goes_on_exactly_as_the_one_that_never_stopped()
    {
        static double Value(int i, Random r) =>
            100 + (30 * Math.Sin(2 * Math.PI * (i % Day) / Day)) + (1.5 * Gaussian(r)) + (i == (9 * Day) + 77 ? 40 : 0) + (i > 9 * Day + 500 ? 25 : 0);
        var samples = Series(10 * Day, Value).ToList();
        foreach (var cut in new[] { 30, 8 * Day })
        {
            var whole = Run(samples);
            var first = new SeriesDetector(Defaults, MetricDirection.Both);
            var before = Run(first, samples.Take(cut));
            using var buffer = new MemoryStream();
            using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
            {
                first.Save(writer);
            }

            var resumed = SeriesDetector.TryRestore(Defaults, MetricDirection.Both, buffer.ToArray());
            Assert.NotNull(resumed);
            var after = Run(resumed, samples.Skip(cut));
            Assert.Equal(whole.Select(r => r.Verdict), before.Concat(after).Select(r => r.Verdict));
        }

        Assert.Contains(Opened(Run(samples)), t => t >= At(9 * Day));
        Assert.Null(SeriesDetector.TryRestore(Defaults, MetricDirection.Both, [9, 1, 2]));
        Assert.Null(SeriesDetector.TryRestore(Defaults, MetricDirection.Both, []));
    }

    [Fact]
    public void A_flat_or_constant_series_is_never_flagged()
    {
        Assert.Empty(Opened(Run(Series(5000, (_, _) => 42))));
        Assert.Empty(Opened(Run(Series(5000, (_, _) => 0))));
        // Measurement noise far below the minimum relative deviation, and a quantised series that ticks by one.
        Assert.Empty(Opened(Run(Series(5000, (_, r) => 50 + (0.01 * Gaussian(r))))));
        Assert.Empty(Opened(Run(Series(5000, (i, _) => 1000 + (i % 97 == 0 ? 1 : 0)))));
    }

    [Fact]
    public void Out_of_order_and_non_finite_samples_change_nothing()
    {
        var samples = Series(2000, (i, r) => 100 + (2 * Gaussian(r)) + (i == 1500 ? 40 : 0)).ToList();
        var clean = Run(samples);

        var detector = new SeriesDetector(Defaults, MetricDirection.Both);
        var noisy = new List<(long, DetectorVerdict)>();
        foreach (var (at, value) in samples)
        {
            noisy.Add((at, detector.Observe(at, value)));
            Assert.Equal(DetectorEvent.OutOfOrder, detector.Observe(at, value + 500).Event);
            Assert.Equal(DetectorEvent.OutOfOrder, detector.Observe(at - 30, value - 500).Event);
            Assert.Equal(DetectorEvent.Ignored, detector.Observe(at + 1, double.NaN).Event);
            Assert.Equal(DetectorEvent.Ignored, detector.Observe(at + 2, double.PositiveInfinity).Event);
            Assert.Equal(at, detector.LastTimestamp);
        }

        Assert.Equal(clean, noisy);
    }

    [Fact]
    public void A_long_gap_keeps_the_baseline_and_a_restart_at_a_new_level_is_not_an_anomaly()
    {
        var random = new Random(12);
        var samples = new List<(long, double)>();
        for (var i = 0; i < 1000; i++)
        {
            samples.Add((At(i), 100 + (2 * Gaussian(random))));
        }

        // Six hours missing, back at the same level; a day missing, back at another level; then a spike.
        for (var i = 1360; i < 2000; i++)
        {
            samples.Add((At(i), 100 + (2 * Gaussian(random))));
        }

        for (var i = 3440; i < 4500; i++)
        {
            samples.Add((At(i), 130 + (2 * Gaussian(random)) + (i == 4000 ? 40 : 0)));
        }

        var run = Run(samples);

        Assert.Equal([At(4000)], Opened(run));
        Assert.Equal(DetectorEvent.Warmup, run[1000].Verdict.Event);
        Assert.InRange(run[1000].Verdict.Expected, 98, 102);
    }

    [Fact]
    public void The_same_history_replayed_gives_the_same_anomalies()
    {
        static double Value(int i, Random r) =>
            100 + (20 * Math.Sin(2 * Math.PI * i / Day)) + (3 * Gaussian(r)) + (i % 1777 == 0 ? 50 : 0) + (i > 6000 ? 25 : 0);

        var first = Run(Series(10_000, Value, seed: 3));
        var second = Run(Series(10_000, Value, seed: 3));

        Assert.NotEmpty(Opened(first));
        Assert.Equal(first, second);
    }

    [Fact]
    public void An_up_metric_ignores_a_drop_and_a_down_metric_ignores_a_rise()
    {
        static double Dip(int i, Random r) => 60 + (2 * Gaussian(r)) + (i == 1000 ? -40 : 0) + (i == 1500 ? 40 : 0);

        var up = Run(Series(2000, Dip), MetricDirection.Up);
        Assert.Equal([At(1500)], Opened(up));
        Assert.Equal(0, up[1000].Verdict.AnomalyScore);
        Assert.True(up[1000].Verdict.ZScore < -10, "the z-score keeps its sign");

        Assert.Equal([At(1000)], Opened(Run(Series(2000, Dip), MetricDirection.Down)));
        Assert.Equal([At(1000), At(1500)], Opened(Run(Series(2000, Dip), MetricDirection.Both)));
    }

    [Fact]
    public void Nothing_opens_before_the_minimum_history()
    {
        var run = Run(Series(200, (i, r) => 100 + (2 * Gaussian(r)) + (i is 10 or 40 ? 80 : 0) + (i == 150 ? 80 : 0)));

        Assert.All(run.Take(Defaults.MinHistoryPoints), r => Assert.Equal(DetectorEvent.Warmup, r.Verdict.Event));
        Assert.Equal([At(150)], Opened(run));
    }

    [Fact]
    public void The_score_is_zero_below_two_half_at_four_and_rises_monotonically_to_one()
    {
        Assert.Equal(0, AnomalyScores.FromZ(0));
        Assert.Equal(0, AnomalyScores.FromZ(-2));
        Assert.Equal(0, AnomalyScores.FromZ(double.NaN));
        Assert.Equal(0.5, AnomalyScores.FromZ(4), 12);
        Assert.Equal(0.5, AnomalyScores.FromZ(-4), 12);
        Assert.Equal(1, AnomalyScores.FromZ(double.PositiveInfinity));
        var previous = 0.0;
        for (var z = 0.0; z < 50; z += 0.01)
        {
            var score = AnomalyScores.FromZ(z);
            Assert.InRange(score, previous, 1.0);
            previous = score;
        }

        Assert.True(previous > 0.999);
    }

    [Theory]
    [InlineData("node_cpu_usage_percent", MetricDirection.Up)]
    [InlineData("http_request_duration_seconds", MetricDirection.Up)]
    [InlineData("http_request_errors_per_second", MetricDirection.Up)]
    [InlineData("job_failures_total", MetricDirection.Up)]
    [InlineData("gpu_temperature_celsius", MetricDirection.Up)]
    [InlineData("gpu_power_watts", MetricDirection.Up)]
    [InlineData("lock_wait_seconds", MetricDirection.Up)]
    [InlineData("syscall_latency_p99", MetricDirection.Up)]
    [InlineData("memory_used_bytes", MetricDirection.Up)]
    [InlineData("memory_available_bytes", MetricDirection.Down)]
    [InlineData("disk_free_bytes", MetricDirection.Down)]
    [InlineData("cpu_idle_percent", MetricDirection.Down)]
    [InlineData("requests_per_second", MetricDirection.Down)]
    [InlineData("checkout_success_rate", MetricDirection.Down)]
    [InlineData("network_receive_bytes_per_second", MetricDirection.Both)]
    [InlineData("widgets", MetricDirection.Both)]
    public void Directions_follow_the_metric_name(string name, MetricDirection expected) =>
        Assert.Equal(expected, MetricDirections.Of(name));

    [Fact]
    public void The_options_validate_their_ranges_and_hysteresis()
    {
        static List<ValidationResult> Errors(DetectorOptions options)
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(options, new ValidationContext(options), results, validateAllProperties: true);
            return results;
        }

        Assert.Empty(Errors(new DetectorOptions()));
        Assert.Contains(Errors(new DetectorOptions { ResolveZ = 5 }), e => e.MemberNames.Contains(nameof(DetectorOptions.ResolveZ)));
        Assert.Contains(Errors(new DetectorOptions { OpenZ = 0.5 }), e => e.MemberNames.Contains(nameof(DetectorOptions.OpenZ)));
        Assert.Contains(Errors(new DetectorOptions { SeasonalWeeklyDays = 3 }), e => e.MemberNames.Contains(nameof(DetectorOptions.SeasonalWeeklyDays)));
    }

    [Fact]
    public void Observing_allocates_nothing()
    {
        var detector = new SeriesDetector(Defaults, MetricDirection.Up);
        var random = new Random(5);
        for (var i = 0; i < 100; i++)
        {
            detector.Observe(At(i), random.NextDouble());
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 100; i < 100_000; i++)
        {
            detector.Observe(At(i), random.NextDouble() + (i % 5000 == 0 ? 10 : 0));
        }

        Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
    }
}
