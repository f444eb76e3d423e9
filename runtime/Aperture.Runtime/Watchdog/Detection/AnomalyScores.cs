namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>The <c>anomaly_score</c> (0 to 1) derived from a <c>z_score</c>.</summary>
public static class AnomalyScores
{
    /// <summary>Below this |z| the score is 0: ordinary noise is not a little anomalous.</summary>
    public const double FloorZ = 2.0;

    /// <summary>How far above <see cref="FloorZ"/> the score reaches one half (|z| = 4 scores 0.5; the default open threshold, 4.5, scores 0.66).</summary>
    public const double HalfWidth = 2.0;

    /// <summary>
    /// <c>score = 1 − 2^(−((|z| − 2) / 2)²)</c> for |z| above 2, and 0 at or below it: continuous, non-decreasing in |z|,
    /// within [0, 1]. Figures: |z| = 3 → 0.16, 4 → 0.5, 5 → 0.79, 6 → 0.94, 8 → 0.998; infinite |z| → 1; NaN → 0.
    /// The mapping is fixed (not tied to the configured thresholds) so that scores of detectors configured apart still compare.
    /// </summary>
    public static double FromZ(double z)
    {
        var magnitude = Math.Abs(z);
        if (!(magnitude > FloorZ))
        {
            return 0;
        }

        if (double.IsPositiveInfinity(magnitude))
        {
            return 1;
        }

        var t = (magnitude - FloorZ) / HalfWidth;
        return 1 - Math.Pow(2, -(t * t));
    }
}
