namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>The numeric pieces of correlation and anomaly scoring; arrays hold one value per minute, NaN = missing.</summary>
internal static class SeriesMath
{
    // Makes the median absolute deviation a standard deviation for Gaussian noise.
    private const double MadToSigma = 1.4826;

    /// <summary>The values of <paramref name="series"/> from <paramref name="from"/> (inclusive) to <paramref name="to"/> (exclusive), NaN outside it.</summary>
    public static double[] Slice(MinuteSeries series, long from, long to)
    {
        var result = new double[Math.Max(0, to - from)];
        for (var i = 0; i < result.Length; i++)
        {
            var index = from + i - series.StartMinute;
            result[i] = index >= 0 && index < series.Values.Length ? series.Values[index] : double.NaN;
        }

        return result;
    }

    /// <summary>
    /// Each value less the mean of the <paramref name="window"/> values before it, as a robust z-score clipped at
    /// ±<paramref name="clip"/>. A diurnal cycle moves a few percent of its amplitude over such a window, so it
    /// (and any shared slow trend) nearly vanishes, while a step keeps a sharp leading edge at its onset that
    /// decays over the window: unlike plain differencing, which leaves a step as one sample lost in the noise.
    /// </summary>
    public static double[] EdgeTransform(double[] values, int window, double clip, int detrend = 0)
    {
        if (detrend > 0)
        {
            values = LessCentredMean(values, detrend / 2);
        }

        var n = values.Length;
        var residual = new double[n];
        double sum = 0;
        var count = 0;
        var need = Math.Max(1, window / 2);
        for (var t = 0; t < n; t++)
        {
            residual[t] = !double.IsNaN(values[t]) && count >= need ? values[t] - (sum / count) : double.NaN;
            if (!double.IsNaN(values[t]))
            {
                sum += values[t];
                count++;
            }

            var leaving = t - window;
            if (leaving >= 0 && !double.IsNaN(values[leaving]))
            {
                sum -= values[leaving];
                count--;
            }
        }

        var (centre, scale) = RobustLocationScale(residual);
        if (scale <= 0)
        {
            Array.Fill(residual, double.NaN);
            return residual;
        }

        for (var t = 0; t < n; t++)
        {
            if (!double.IsNaN(residual[t]))
            {
                residual[t] = Math.Clamp((residual[t] - centre) / scale, -clip, clip);
            }
        }

        return residual;
    }

    /// <summary>
    /// Each value less the mean of the values within <paramref name="halfWidth"/> minutes either side. A diurnal
    /// cycle is nearly linear over an hour, so it cancels, along with the phase-shifted slow components that
    /// otherwise tilt a cross-correlation towards one lag; a step keeps its edge.
    /// </summary>
    public static double[] LessCentredMean(double[] values, int halfWidth)
    {
        var n = values.Length;
        var result = new double[n];
        double sum = 0;
        var count = 0;
        var hi = -1;
        var lo = 0;
        for (var t = 0; t < n; t++)
        {
            while (hi < Math.Min(n - 1, t + halfWidth))
            {
                hi++;
                if (!double.IsNaN(values[hi]))
                {
                    sum += values[hi];
                    count++;
                }
            }

            while (lo < t - halfWidth)
            {
                if (!double.IsNaN(values[lo]))
                {
                    sum -= values[lo];
                    count--;
                }

                lo++;
            }

            result[t] = double.IsNaN(values[t]) || count == 0 ? double.NaN : values[t] - (sum / count);
        }

        return result;
    }

    /// <summary>Median and MAD-based sigma of the non-NaN values; the sigma falls back to the mean absolute deviation when most values are equal.</summary>
    public static (double Centre, double Scale) RobustLocationScale(ReadOnlySpan<double> values)
    {
        var present = new List<double>(values.Length);
        foreach (var v in values)
        {
            if (!double.IsNaN(v))
            {
                present.Add(v);
            }
        }

        if (present.Count < 3)
        {
            return (0, 0);
        }

        present.Sort();
        var median = Median(present);
        var deviations = new List<double>(present.Count);
        double absSum = 0;
        foreach (var v in present)
        {
            var d = Math.Abs(v - median);
            deviations.Add(d);
            absSum += d;
        }

        deviations.Sort();
        var scale = Median(deviations) * MadToSigma;
        if (scale <= 0)
        {
            // A mostly constant series (an error rate that sits at zero): any deviation is news, so a small scale is right.
            scale = absSum / present.Count * 1.2533;
        }

        return (median, scale);
    }

    /// <summary>
    /// The lag in [-maxLag, maxLag] at which |Pearson| of a[t] against b[t + lag] is greatest (a smaller |lag| wins
    /// ties), both arrays starting at the same minute; (0, 0) when no lag has <paramref name="minOverlap"/> pairs.
    /// </summary>
    public static (double Correlation, int Lag) BestLag(double[] a, double[] b, int maxLag, int minOverlap)
    {
        double best = 0;
        var bestLag = 0;
        var found = false;
        for (var step = 0; step <= 2 * maxLag; step++)
        {
            // 0, -1, +1, -2, +2, ... so that a strict improvement is needed to move away from zero.
            var lag = (step + 1) / 2 * (step % 2 == 1 ? -1 : 1);
            var r = Pearson(a, b, lag, minOverlap);
            if (double.IsNaN(r))
            {
                continue;
            }

            if (!found || Math.Abs(r) > Math.Abs(best) + 1e-12)
            {
                best = r;
                bestLag = lag;
                found = true;
            }
        }

        return found ? (best, bestLag) : (0, 0);
    }

    /// <summary>
    /// The lag within ±<paramref name="radius"/> of <paramref name="coarse"/> (and within ±<paramref name="maxLag"/>)
    /// at which the summed |Pearson| of both representations is greatest. The edge transform's pulse is as wide as
    /// its window, so its peak is flat to a minute or two; first differences turn an onset into one sample, which
    /// pins the minute but alone would be lost in noise over a long window.
    /// </summary>
    public static int RefineLag(double[] edgeA, double[] edgeB, double[] diffA, double[] diffB, int coarse, int radius, int maxLag, int minOverlap)
    {
        var bestLag = coarse;
        var best = double.NegativeInfinity;
        for (var step = 0; step <= 2 * radius; step++)
        {
            var lag = coarse + ((step + 1) / 2 * (step % 2 == 1 ? -1 : 1));
            if (Math.Abs(lag) > maxLag)
            {
                continue;
            }

            var edge = Pearson(edgeA, edgeB, lag, minOverlap);
            var diff = Pearson(diffA, diffB, lag, minOverlap);
            if (double.IsNaN(edge))
            {
                continue;
            }

            var combined = Math.Abs(edge) + (double.IsNaN(diff) ? 0 : Math.Abs(diff));
            if (combined > best + 1e-12)
            {
                best = combined;
                bestLag = lag;
            }
        }

        return bestLag;
    }

    /// <summary>
    /// A step detector: the mean of the <paramref name="k"/> values from t less the mean of the k before t, as a
    /// robust z-score. It peaks at the minute a level shift begins, with k times less noise than a single
    /// difference, so two series' largest shifts date a propagation delay to the minute where a whole-window
    /// cross-correlation (dominated by the many minutes nothing happens) cannot.
    /// </summary>
    public static double[] StepScores(double[] values, int k)
    {
        var n = values.Length;
        var prefix = new double[n + 1];
        var counts = new int[n + 1];
        for (var t = 0; t < n; t++)
        {
            var present = !double.IsNaN(values[t]);
            prefix[t + 1] = prefix[t] + (present ? values[t] : 0);
            counts[t + 1] = counts[t] + (present ? 1 : 0);
        }

        var scores = new double[n];
        Array.Fill(scores, double.NaN);
        for (var t = k; t + k <= n; t++)
        {
            var before = counts[t] - counts[t - k];
            var after = counts[t + k] - counts[t];
            if (before * 2 >= k && after * 2 >= k)
            {
                scores[t] = ((prefix[t + k] - prefix[t]) / after) - ((prefix[t] - prefix[t - k]) / before);
            }
        }

        var (centre, scale) = RobustLocationScale(scores);
        for (var t = 0; t < n; t++)
        {
            scores[t] = scale <= 0 || double.IsNaN(scores[t]) ? double.NaN : (scores[t] - centre) / scale;
        }

        return scores;
    }

    /// <summary>
    /// The delay from a's largest step to b's largest step within ±<paramref name="maxLag"/> minutes of it, when
    /// both reach <paramref name="minSigma"/>; null when either series shows no clear shift.
    /// </summary>
    public static int? StepLag(double[] stepsA, double[] stepsB, int maxLag, double minSigma)
    {
        var at = -1;
        double peak = 0;
        for (var t = 0; t < stepsA.Length; t++)
        {
            if (!double.IsNaN(stepsA[t]) && Math.Abs(stepsA[t]) > peak)
            {
                peak = Math.Abs(stepsA[t]);
                at = t;
            }
        }

        if (at < 0 || peak < minSigma)
        {
            return null;
        }

        int? best = null;
        double bestPeak = 0;
        for (var lag = -maxLag; lag <= maxLag; lag++)
        {
            var t = at + lag;
            if (t >= 0 && t < stepsB.Length && !double.IsNaN(stepsB[t]) && Math.Abs(stepsB[t]) > bestPeak + 1e-12)
            {
                bestPeak = Math.Abs(stepsB[t]);
                best = lag;
            }
        }

        if (best is not { } coarse || bestPeak < minSigma)
        {
            return null;
        }

        // Between whole minutes: a shift that began mid-minute peaks on two minutes alike, and which of them noise
        // favours differs between the two series.
        return (int)Math.Round(coarse + Vertex(stepsB, at + coarse) - Vertex(stepsA, at), MidpointRounding.AwayFromZero);
    }

    private static double Vertex(double[] steps, int t)
    {
        if (t <= 0 || t >= steps.Length - 1 || double.IsNaN(steps[t - 1]) || double.IsNaN(steps[t + 1]))
        {
            return 0;
        }

        double left = Math.Abs(steps[t - 1]), centre = Math.Abs(steps[t]), right = Math.Abs(steps[t + 1]);
        var curvature = left - (2 * centre) + right;
        return curvature >= 0 ? 0 : Math.Clamp(0.5 * (left - right) / curvature, -0.5, 0.5);
    }

    /// <summary>Pearson correlation of a[t] with b[t + lag] over the pairs where both are present; NaN when too few or either is flat.</summary>
    public static double Pearson(double[] a, double[] b, int lag, int minOverlap)
    {
        var start = Math.Max(0, -lag);
        var end = Math.Min(a.Length, b.Length - lag);
        double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0;
        var n = 0;
        for (var t = start; t < end; t++)
        {
            var x = a[t];
            var y = b[t + lag];
            if (double.IsNaN(x) || double.IsNaN(y))
            {
                continue;
            }

            sx += x;
            sy += y;
            sxx += x * x;
            syy += y * y;
            sxy += x * y;
            n++;
        }

        if (n < minOverlap)
        {
            return double.NaN;
        }

        var cov = sxy - (sx * sy / n);
        var vx = sxx - (sx * sx / n);
        var vy = syy - (sy * sy / n);
        return vx <= 1e-12 || vy <= 1e-12 ? double.NaN : Math.Clamp(cov / Math.Sqrt(vx * vy), -1, 1);
    }

    /// <summary>Ordinary least squares line through the present values, x being the index; (NaN, NaN) with fewer than 3.</summary>
    public static (double Intercept, double Slope) LinearFit(double[] values, int from, int to)
    {
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        var n = 0;
        for (var t = from; t < to; t++)
        {
            if (double.IsNaN(values[t]))
            {
                continue;
            }

            sx += t;
            sy += values[t];
            sxx += (double)t * t;
            sxy += t * values[t];
            n++;
        }

        if (n < 3)
        {
            return (double.NaN, double.NaN);
        }

        var denominator = (n * sxx) - (sx * sx);
        var slope = denominator <= 0 ? 0 : ((n * sxy) - (sx * sy)) / denominator;
        return ((sy - (slope * sx)) / n, slope);
    }

    private static double Median(List<double> sorted) =>
        sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
}
