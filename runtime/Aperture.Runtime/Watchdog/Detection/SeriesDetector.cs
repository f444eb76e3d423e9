namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>
/// The streaming anomaly detector of one series. Not thread-safe; about 3.5 KB; no allocation per sample.
/// <para>
/// Three robust baselines run side by side: a plain one (a Huber-clipped exponentially weighted level and a robust
/// scale, seeded by median and MAD), and two that first subtract an hour-of-day (24 buckets) or hour-of-week (168 buckets)
/// profile, interpolated between bucket centres so that a smooth cycle has no steps at the hour. The profiles are learned
/// from the first sample against a slow level, but a profile is used only once the series has
/// <see cref="DetectorOptions.SeasonalDailyDays"/> or <see cref="DetectorOptions.SeasonalWeeklyDays"/> of history and only
/// while its residual scale is clearly (10%) smaller than the simpler model's: a series without a cycle stays plain.
/// </para>
/// <para>
/// A sample is scored by the chosen model: z = (value − expected) / scale, the scale floored by the minimum deviation.
/// Each sample moves a level by at most <see cref="DetectorOptions.HuberK"/> scales and only isolated samples beyond the open
/// threshold feed the scale (clipped), so a spike neither shifts the baseline nor widens it. A run of
/// <see cref="DetectorOptions.LevelShiftPoints"/> samples on one side re-learns the levels at the run's mean, which is how a
/// level shift opens once and then resolves. Everything depends only on the samples, so a replay gives the same verdicts.
/// </para>
/// </summary>
public sealed class SeriesDetector
{
    private const double MeanAbsToSigma = 1.2533141373155003; // √(π/2): mean |x| of a normal is σ·√(2/π)
    private const double MadToSigma = 1.4826;
    private const int SeedCapacity = 64;
    private const int Models = 3;
    private const int Plain = 0;
    private const int Daily = 1;
    private const int Weekly = 2;
    private const int DayBuckets = 24;
    private const int WeekBuckets = 168;
    private const long DaySeconds = 86_400;
    private const long WeekSeconds = 604_800;
    private const double SlowClip = 6.0;
    private const double ModelMargin = 0.9;

    private readonly MetricDirection _direction;
    private readonly double _openZ;
    private readonly double _resolveZ;
    private readonly int _resolvePoints;
    private readonly int _minHistory;
    private readonly double _levelAlpha;
    private readonly double _scaleAlpha;
    private readonly double _huberK;
    private readonly int _shiftPoints;
    private readonly double _dailyReadySeconds;
    private readonly double _weeklyReadySeconds;
    private readonly double _memoryCycles;
    private readonly double _slowRatePerSecond;
    private readonly double _minRelative;
    private readonly double _minAbsolute;
    private readonly long _gapSeconds;
    private readonly int _rewarmPoints;

    private readonly double[] _level = new double[Models];
    private readonly double[] _scale = new double[Models];
    private readonly double[] _runSum = new double[Models];
    private readonly double[] _day = new double[DayBuckets];
    private readonly double[] _dayWeight = new double[DayBuckets];
    private readonly double[] _week = new double[WeekBuckets];
    private readonly double[] _weekWeight = new double[WeekBuckets];
    private double[]? _seed;
    private readonly int _seedSize;

    private long _count;
    private long _first;
    private double _interval;
    private double _slowLevel;
    private double _slowScale;
    private int _model;
    private bool _open;
    private int _calm;
    private int _run;
    private int _runSign;
    private int _rewarm;
    private double _lastExpected;
    private double _lastScale;

    public SeriesDetector(DetectorOptions options, MetricDirection direction)
    {
        ArgumentNullException.ThrowIfNull(options);
        _direction = direction;
        _openZ = options.OpenZ;
        _resolveZ = Math.Min(options.ResolveZ, options.OpenZ);
        _resolvePoints = Math.Max(1, options.ResolvePoints);
        _minHistory = Math.Max(3, options.MinHistoryPoints);
        _levelAlpha = HalfLifeToAlpha(options.LevelHalfLifePoints);
        _scaleAlpha = HalfLifeToAlpha(options.ScaleHalfLifePoints);
        _huberK = options.HuberK;
        _shiftPoints = Math.Max(2, options.LevelShiftPoints);
        _dailyReadySeconds = options.SeasonalDailyDays * DaySeconds;
        _weeklyReadySeconds = Math.Max(options.SeasonalWeeklyDays, 7) * DaySeconds;
        _memoryCycles = Math.Max(1, options.SeasonalMemoryCycles);
        _slowRatePerSecond = Math.Log(2) / (options.SeasonalLevelHalfLifeHours * 3600);
        _minRelative = options.MinRelativeDeviation;
        _minAbsolute = Math.Max(options.MinAbsoluteDeviation, 1e-12);
        _gapSeconds = Math.Max(1, options.GapSeconds);
        _rewarmPoints = Math.Max(0, options.GapRewarmPoints);
        _seedSize = Math.Min(_minHistory, SeedCapacity);
        _seed = new double[_seedSize];
    }

    /// <summary>The timestamp of the last accepted sample (0 before the first).</summary>
    public long LastTimestamp { get; private set; }

    /// <summary>Accepted samples so far.</summary>
    public long Count => _count;

    /// <summary>Whether an anomaly is open.</summary>
    public bool IsOpen => _open;

    /// <summary>The model scoring the series now: 0 plain, 1 hour-of-day, 2 hour-of-week.</summary>
    public int Seasonality => _model;

    /// <summary>
    /// Scores one sample, which must be later than the last accepted one (an older or equal timestamp is
    /// <see cref="DetectorEvent.OutOfOrder"/> and a NaN or infinite value <see cref="DetectorEvent.Ignored"/>, both changing nothing).
    /// </summary>
    public DetectorVerdict Observe(long unixSeconds, double value)
    {
        if (!double.IsFinite(value))
        {
            return new DetectorVerdict(DetectorEvent.Ignored, 0, 0, _lastExpected, _lastScale);
        }

        if (_count > 0 && unixSeconds <= LastTimestamp)
        {
            return new DetectorVerdict(DetectorEvent.OutOfOrder, 0, 0, _lastExpected, _lastScale);
        }

        var step = _count == 0 ? 0 : unixSeconds - LastTimestamp;
        LastTimestamp = unixSeconds;
        _count++;
        if (_seed is not null)
        {
            return Seed(unixSeconds, value);
        }

        var gap = step > _gapSeconds;
        if (gap)
        {
            _rewarm = _rewarmPoints;
            ResetRun();
        }
        else
        {
            // The typical step sizes the seasonal buckets' memory; a gap says nothing about it.
            _interval += 0.02 * (step - _interval);
        }

        var elapsed = (double)(unixSeconds - _first);
        Position(unixSeconds, DaySeconds, DayBuckets, out var d0, out var d1, out var dw);
        Position(unixSeconds, WeekSeconds, WeekBuckets, out var w0, out var w1, out var ww);
        var dayOffset = ((1 - dw) * _day[d0]) + (dw * _day[d1]);
        var weekOffset = ((1 - ww) * _week[w0]) + (ww * _week[w1]);

        _model = ChooseModel(elapsed);
        var offset = Offset(_model, dayOffset, weekOffset);
        var expected = _level[_model] + offset;
        var scale = Math.Max(_scale[_model], Floor(expected));
        var residual = value - expected;
        var z = residual / scale;
        var directed = _direction switch
        {
            MetricDirection.Up => z,
            MetricDirection.Down => -z,
            _ => Math.Abs(z),
        };

        var scored = _count > _minHistory && _rewarm == 0;
        DetectorEvent verdict;
        if (_open)
        {
            if (directed < _resolveZ)
            {
                _calm++;
                if (_calm >= _resolvePoints)
                {
                    _open = false;
                    verdict = DetectorEvent.Resolved;
                }
                else
                {
                    verdict = DetectorEvent.Ongoing;
                }
            }
            else
            {
                _calm = 0;
                verdict = DetectorEvent.Ongoing;
            }
        }
        else if (!scored)
        {
            verdict = DetectorEvent.Warmup;
        }
        else if (directed >= _openZ)
        {
            _open = true;
            _calm = 0;
            verdict = DetectorEvent.Opened;
        }
        else
        {
            verdict = DetectorEvent.None;
        }

        Learn(value, step, gap, dayOffset, weekOffset, d0, d1, dw, w0, w1, ww, elapsed);
        Track(value, z, dayOffset, weekOffset);
        if (_rewarm > 0)
        {
            _rewarm--;
        }

        _lastExpected = expected;
        _lastScale = scale;
        return verdict == DetectorEvent.Warmup
            ? new DetectorVerdict(verdict, 0, 0, expected, scale)
            : new DetectorVerdict(verdict, z, AnomalyScores.FromZ(Math.Max(directed, 0)), expected, scale);
    }

    private DetectorVerdict Seed(long unixSeconds, double value)
    {
        var seed = _seed!;
        if (_count == 1)
        {
            _first = unixSeconds;
        }

        seed[_count - 1] = value;
        if (_count < _seedSize)
        {
            _lastExpected = seed[0];
            return new DetectorVerdict(DetectorEvent.Warmup, 0, 0, _lastExpected, 0);
        }

        Array.Sort(seed);
        var median = Median(seed);
        for (var i = 0; i < seed.Length; i++)
        {
            seed[i] = Math.Abs(seed[i] - median);
        }

        Array.Sort(seed);
        var sigma = MadToSigma * Median(seed);
        if (sigma == 0)
        {
            // More than half the seed is one value: the mean deviation still sees the rest.
            var sum = 0.0;
            foreach (var deviation in seed)
            {
                sum += deviation;
            }

            sigma = MeanAbsToSigma * sum / seed.Length;
        }

        for (var m = 0; m < Models; m++)
        {
            _level[m] = median;
            _scale[m] = sigma;
        }

        _slowLevel = median;
        _slowScale = sigma;
        _interval = _count > 1 ? Math.Max(1, (double)(unixSeconds - _first) / (_count - 1)) : 60;
        _seed = null;
        _lastExpected = median;
        _lastScale = Math.Max(sigma, Floor(median));
        return new DetectorVerdict(DetectorEvent.Warmup, 0, 0, median, _lastScale);
    }

    private int ChooseModel(double elapsed)
    {
        var best = Plain;
        if (elapsed >= _dailyReadySeconds && _scale[Daily] < ModelMargin * _scale[best])
        {
            best = Daily;
        }

        if (elapsed >= _weeklyReadySeconds && _scale[Weekly] < ModelMargin * _scale[best])
        {
            best = Weekly;
        }

        return best;
    }

    private void Learn(double value, long step, bool gap, double dayOffset, double weekOffset, int d0, int d1, double dw, int w0, int w1, double ww, double elapsed)
    {
        for (var m = 0; m < Models; m++)
        {
            var offset = Offset(m, dayOffset, weekOffset);
            var scale = Math.Max(_scale[m], Floor(_level[m] + offset));
            var residual = value - _level[m] - offset;
            var clip = _huberK * scale;
            _level[m] += _levelAlpha * Math.Clamp(residual, -clip, clip);
            // An isolated outlier feeds the scale (clipped), so that a series with frequent small blips (sparse error
            // counts) learns they are normal; consecutive ones on one side do not, so a level shift cannot widen it.
            if (_run == 0 || Math.Abs(residual) < _openZ * scale)
            {
                _scale[m] += _scaleAlpha * ((MeanAbsToSigma * Math.Min(Math.Abs(residual), clip)) - _scale[m]);
            }
        }

        // The profiles learn against a slow level, so that the fast levels cannot absorb the cycle they are to describe.
        var reference = elapsed >= WeekSeconds ? weekOffset : dayOffset;
        var slowClip = SlowClip * Math.Max(_slowScale, Floor(_slowLevel + reference));
        var slowResidual = value - _slowLevel - reference;
        var slowAlpha = gap ? 0 : -double.ExpM1(-_slowRatePerSecond * step);
        _slowLevel += slowAlpha * Math.Clamp(slowResidual, -slowClip, slowClip);
        _slowScale += _scaleAlpha * ((MeanAbsToSigma * Math.Min(Math.Abs(slowResidual), slowClip)) - _slowScale);

        var pointsPerHour = 3600 / Math.Max(_interval, 1e-3);
        var memory = Math.Max(1, pointsPerHour * _memoryCycles);
        LearnProfile(_day, _dayWeight, d0, d1, dw, Math.Clamp(value - _slowLevel - dayOffset, -slowClip, slowClip), memory);
        LearnProfile(_week, _weekWeight, w0, w1, ww, Math.Clamp(value - _slowLevel - weekOffset, -slowClip, slowClip), memory);
    }

    private static void LearnProfile(double[] profile, double[] weights, int i0, int i1, double w, double error, double memory)
    {
        var w0 = 1 - w;
        if (w0 > 0)
        {
            weights[i0] = Math.Min(weights[i0] + w0, memory);
            profile[i0] += w0 / weights[i0] * error;
        }

        if (w > 0)
        {
            weights[i1] = Math.Min(weights[i1] + w, memory);
            profile[i1] += w / weights[i1] * error;
        }
    }

    private void Track(double value, double z, double dayOffset, double weekOffset)
    {
        var sign = z >= _resolveZ ? 1 : z <= -_resolveZ ? -1 : 0;
        if (sign == 0)
        {
            ResetRun();
            return;
        }

        if (sign != _runSign)
        {
            ResetRun();
            _runSign = sign;
        }

        _run++;
        for (var m = 0; m < Models; m++)
        {
            _runSum[m] += value - Offset(m, dayOffset, weekOffset);
        }

        // Right after a gap the re-warm samples are enough to accept a new level: the series was away, not anomalous.
        var needed = _rewarm > 0 ? Math.Min(_shiftPoints, _rewarmPoints) : _shiftPoints;
        if (_run < needed)
        {
            return;
        }

        var moved = (_runSum[_model] / _run) - _level[_model];
        for (var m = 0; m < Models; m++)
        {
            _level[m] = _runSum[m] / _run;
        }

        _slowLevel += moved;
        ResetRun();
    }

    private void ResetRun()
    {
        _run = 0;
        _runSign = 0;
        Array.Clear(_runSum);
    }

    private double Floor(double expected) => Math.Max(_minAbsolute, _minRelative * Math.Abs(expected)) / _openZ;

    private static double Offset(int model, double dayOffset, double weekOffset) => model switch
    {
        Daily => dayOffset,
        Weekly => weekOffset,
        _ => 0,
    };

    private static void Position(long unixSeconds, long period, int buckets, out int i0, out int i1, out double w)
    {
        var within = ((unixSeconds % period) + period) % period;
        // Bucket i covers [i, i+1) hours; its value sits at the centre, and a sample between two centres reads both.
        var h = (within / 3600.0) - 0.5;
        if (h < 0)
        {
            h += buckets;
        }

        i0 = (int)h;
        if (i0 >= buckets)
        {
            i0 = buckets - 1;
        }

        w = h - i0;
        i1 = i0 + 1 == buckets ? 0 : i0 + 1;
    }

    private static double Median(double[] sorted)
    {
        var n = sorted.Length;
        return n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[(n / 2) - 1] + sorted[n / 2]);
    }

    private static double HalfLifeToAlpha(double halfLife) => -double.ExpM1(-Math.Log(2) / Math.Max(halfLife, 1e-9));
}
