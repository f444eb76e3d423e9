namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>
/// The streaming anomaly detector of one series. Not thread-safe; about 3.7 KB; no allocation per sample.
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
/// level shift opens once and then resolves. Each model's scale is widened to its tracked 99th and 99.9th percentiles of
/// |residual| (over a normal series' values), so heavy-tailed and sparse series alarm on what is rare for them; and a
/// slow level beside the fast ones catches drifts the fast level follows. Everything depends only on the samples, so a
/// replay gives the same verdicts.
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
    private const byte StateVersion = 1;
    private const double SlowClip = 6.0;
    private const int SlowHoldPoints = 720;
    private const long DriftHoldSeconds = 43_200;
    private const double ModelMargin = 0.9;

    // Each model's tail tracker follows the 99th percentile of its |residual| (2.576 σ for a normal series) in the log
    // domain: up by TailStep × 0.99 on an exceedance, down by TailStep × 0.01 otherwise, so one spike raises it 5 % at most.
    private const double TailQuantile = 0.99;
    private const double TailNormal = 2.5758293035489004;
    private const double TailStep = 0.05;
    private static readonly double TailUp = Math.Exp(TailStep * TailQuantile);
    private static readonly double TailDown = Math.Exp(-TailStep * (1 - TailQuantile));

    // A second tracker follows the 99.9th percentile (3.29 σ for a normal series): a tail heavier than a normal one's grows
    // faster beyond the 99th, and an alarm threshold extrapolated from the 99th alone would open on its routine bursts.
    private const double FarQuantile = 0.999;
    private const double FarNormal = 3.2905267314918945;
    private static readonly double FarUp = Math.Exp(TailStep * FarQuantile);
    private static readonly double FarDown = Math.Exp(-TailStep * (1 - FarQuantile));

    // The rate of isolated exceedances, averaged over about 50 samples, is 1 % where the tracker is right. At four times
    // that, blips that frequent are the series' normal (sparse counts with a seed that held none): the tail jumps to them.
    private const double TailRateAlpha = 1.0 / 50;
    private const double TailJumpRate = 0.04;

    // Every sample beyond the tracker for this long (longer than a level shift takes to be re-learnt): it sits below the
    // series' noise (a seed of one value), and moves up to it.
    private const int TailStuckPoints = 60;

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
    private readonly int _driftPoints;
    private readonly double _driftReadySeconds;

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
    private readonly double[] _tail = new double[Models];
    private readonly int[] _tailRun = new int[Models];
    private readonly double[] _tailRate = new double[Models];
    private readonly double[] _far = new double[Models];
    private readonly int[] _farRun = new int[Models];
    private int _driftRun;
    private int _slowRun;
    private long _driftHoldUntil;

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
        _driftPoints = Math.Max(1, options.DriftPoints);
        _driftReadySeconds = options.DriftReadyHours * 3600;
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
        var scale = Scale(_model, expected);
        var residual = value - expected;
        var z = residual / scale;
        var directed = Directed(z);

        // The drift check: the same sample against the slow level (hours, not minutes) and the seasonal profile, which a
        // change over hours leaves behind while the fast level follows it.
        var reference = _model == Weekly ? weekOffset : dayOffset;
        var slowExpected = _slowLevel + reference;
        var slowBase = Math.Max(_slowScale, Floor(slowExpected));
        var slowResidual = value - slowExpected;
        var slowZ = slowResidual / Math.Max(slowBase, scale);
        // A run of samples on one side beyond ResolveZ of the slow scale (signed: + above, − below) is a departure the slow
        // scale must not learn from, for up to half a day; longer, and it is how the series moves.
        var slowSign = slowResidual >= _resolveZ * slowBase ? 1 : slowResidual <= -_resolveZ * slowBase ? -1 : 0;
        _slowRun = slowSign == 0 ? 0 : Math.Sign(_slowRun) == slowSign ? _slowRun + slowSign : slowSign;
        var slowHeld = Math.Abs(_slowRun) is > 1 and <= SlowHoldPoints;
        _driftRun = Directed(slowZ) >= _openZ ? _driftRun + 1 : 0;

        var scored = _count > _minHistory && _rewarm == 0;
        var drifted = scored && elapsed >= _driftReadySeconds && _driftRun >= _driftPoints && unixSeconds >= _driftHoldUntil;
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
        else if (directed >= _openZ || drifted)
        {
            _open = true;
            _calm = 0;
            verdict = DetectorEvent.Opened;
            if (directed < _openZ)
            {
                // Opened by the drift: the slow level is what stood out.
                (z, directed, expected, scale) = (slowZ, Directed(slowZ), slowExpected, slowResidual / slowZ);
            }
        }
        else
        {
            verdict = DetectorEvent.None;
        }

        if (drifted)
        {
            _driftHoldUntil = unixSeconds + DriftHoldSeconds;
        }

        Learn(value, step, gap, dayOffset, weekOffset, d0, d1, dw, w0, w1, ww, elapsed, slowHeld);
        if (unixSeconds < _driftHoldUntil)
        {
            // A drift is reported once, not once per stretch of it: for half a day the slow level rides on the fast one
            // (a drift that goes on is reported again after that).
            _slowLevel = _level[_model] + offset - reference;
            _driftRun = 0;
            _slowRun = 0;
        }

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

    /// <summary>
    /// Writes what the detector has learnt (not its configuration), so that a restart resumes it instead of re-learning
    /// days of seasonal profile; <see cref="TryRestore"/> reads it back.
    /// </summary>
    public void Save(BinaryWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Write(StateVersion);
        writer.Write(LastTimestamp);
        foreach (var value in (ReadOnlySpan<long>)[_count, _first, _driftHoldUntil])
        {
            writer.Write(value);
        }

        foreach (var value in (ReadOnlySpan<double>)[_interval, _slowLevel, _slowScale, _lastExpected, _lastScale])
        {
            writer.Write(value);
        }

        foreach (var value in (ReadOnlySpan<int>)[_model, _calm, _run, _runSign, _rewarm, _driftRun, _slowRun])
        {
            writer.Write(value);
        }

        writer.Write(_open);
        foreach (var array in new[] { _level, _scale, _runSum, _day, _dayWeight, _week, _weekWeight, _tail, _tailRate, _far })
        {
            Write(writer, array);
        }

        foreach (var array in new[] { _tailRun, _farRun })
        {
            foreach (var value in array)
            {
                writer.Write(value);
            }
        }

        writer.Write(_seed is not null);
        if (_seed is not null)
        {
            Write(writer, _seed);
        }
    }

    /// <summary>A detector with the learnt state <see cref="Save"/> wrote; null where the state is of another version or shape (it re-learns).</summary>
    public static SeriesDetector? TryRestore(DetectorOptions options, MetricDirection direction, byte[] state)
    {
        ArgumentNullException.ThrowIfNull(state);
        var detector = new SeriesDetector(options, direction);
        try
        {
            using var reader = new BinaryReader(new MemoryStream(state, writable: false));
            return reader.ReadByte() == StateVersion && detector.Read(reader) && reader.BaseStream.Position == state.Length ? detector : null;
        }
        catch (EndOfStreamException)
        {
            return null;
        }
    }

    private bool Read(BinaryReader reader)
    {
        LastTimestamp = reader.ReadInt64();
        (_count, _first, _driftHoldUntil) = (reader.ReadInt64(), reader.ReadInt64(), reader.ReadInt64());
        (_interval, _slowLevel, _slowScale, _lastExpected, _lastScale) = (reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble(), reader.ReadDouble());
        (_model, _calm, _run, _runSign, _rewarm, _driftRun, _slowRun) =
            (reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt32());
        _open = reader.ReadBoolean();
        foreach (var array in new[] { _level, _scale, _runSum, _day, _dayWeight, _week, _weekWeight, _tail, _tailRate, _far })
        {
            if (!Read(reader, array))
            {
                return false;
            }
        }

        foreach (var array in new[] { _tailRun, _farRun })
        {
            for (var i = 0; i < array.Length; i++)
            {
                array[i] = reader.ReadInt32();
            }
        }

        if (!reader.ReadBoolean())
        {
            _seed = null;
            return _model is >= Plain and <= Weekly;
        }

        // Still seeding: the seed must be of this configuration's size.
        return Read(reader, _seed!) && _count < _seedSize;
    }

    private static void Write(BinaryWriter writer, double[] values)
    {
        writer.Write(values.Length);
        foreach (var value in values)
        {
            writer.Write(value);
        }
    }

    private static bool Read(BinaryReader reader, double[] into)
    {
        if (reader.ReadInt32() != into.Length)
        {
            return false;
        }

        for (var i = 0; i < into.Length; i++)
        {
            into[i] = reader.ReadDouble();
        }

        return true;
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
        var mad = Median(seed);
        var sigma = MadToSigma * mad;
        if (mad == 0)
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
        // The seed's third-largest deviation starts the tails (two spikes in the seed do not blind it), its second-largest
        // where more than half the seed is one value: a sparse series starts wide, not at one alarm per blip; a normal one
        // starts a little below a normal tail.
        var typical = mad == 0 ? seed[^2] : seed[^3];
        for (var m = 0; m < Models; m++)
        {
            _tail[m] = Math.Max(typical, TailNormal * Floor(median));
            _far[m] = Math.Max(typical * (FarNormal / TailNormal), FarNormal * Floor(median));
            _tailRate[m] = 1 - TailQuantile;
        }

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

    private void Learn(double value, long step, bool gap, double dayOffset, double weekOffset, int d0, int d1, double dw, int w0, int w1, double ww, double elapsed, bool slowHeld)
    {
        for (var m = 0; m < Models; m++)
        {
            var offset = Offset(m, dayOffset, weekOffset);
            var scale = Scale(m, _level[m] + offset);
            var residual = value - _level[m] - offset;
            LearnTail(m, Math.Abs(residual), _level[m] + offset);
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
        var reference = _model == Weekly ? weekOffset : dayOffset;
        var slowClip = SlowClip * Math.Max(_slowScale, Floor(_slowLevel + reference));
        var slowResidual = value - _slowLevel - reference;
        var slowAlpha = gap ? 0 : -double.ExpM1(-_slowRatePerSecond * step);
        _slowLevel += slowAlpha * Math.Clamp(slowResidual, -slowClip, slowClip);
        // As for the fast scale: a sustained departure from the slow level (a drift) must not widen the slow scale.
        if (!slowHeld)
        {
            _slowScale += _scaleAlpha * ((MeanAbsToSigma * Math.Min(Math.Abs(slowResidual), slowClip)) - _slowScale);
        }

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

    private double Directed(double z) => _direction switch
    {
        MetricDirection.Up => z,
        MetricDirection.Down => -z,
        _ => Math.Abs(z),
    };

    /// <summary>
    /// A model's scale: its robust σ, widened for heavy tails (latencies, sparse counts) to its 99th and 99.9th percentiles
    /// of |residual| over a normal series' 2.576 and 3.29 (never narrower, so a normal series is unchanged and routine bursts
    /// of a heavy-tailed one are not anomalies), and never below the minimum-deviation floor.
    /// </summary>
    private double Scale(int model, double expected) =>
        Math.Max(Math.Max(_scale[model], Math.Max(_tail[model] / TailNormal, _far[model] / FarNormal)), Floor(expected));

    /// <summary>
    /// Moves a model's tracked 99th percentile of |residual| by one sample. Only the first of consecutive exceedances
    /// raises it, so that a level shift or an incident cannot teach the series that it is normal.
    /// </summary>
    private void LearnTail(int model, double magnitude, double expected)
    {
        var exceeded = magnitude > _tail[model];
        var isolated = exceeded && _tailRun[model] == 0;
        if (!exceeded)
        {
            _tail[model] = Math.Max(TailNormal * Floor(expected), _tail[model] * TailDown);
        }
        else if (isolated)
        {
            _tail[model] = _tailRate[model] >= TailJumpRate ? magnitude : _tail[model] * TailUp;
        }
        else if (_tailRun[model] >= TailStuckPoints)
        {
            _tail[model] = magnitude * TailUp;
        }

        _tailRate[model] += TailRateAlpha * ((isolated ? 1 : 0) - _tailRate[model]);
        _tailRun[model] = exceeded && _tailRun[model] < TailStuckPoints ? _tailRun[model] + 1 : 0;

        var far = magnitude > _far[model];
        if (!far)
        {
            _far[model] = Math.Max(FarNormal * Floor(expected), _far[model] * FarDown);
        }
        else if (_farRun[model] == 0)
        {
            _far[model] *= FarUp;
        }
        else if (_farRun[model] >= TailStuckPoints)
        {
            _far[model] = magnitude * FarUp;
        }

        _farRun[model] = far && _farRun[model] < TailStuckPoints ? _farRun[model] + 1 : 0;
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
