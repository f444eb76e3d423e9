using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>
/// The streaming anomaly detector (configuration section <c>Aperture:Watchdog:Detector</c>). The defaults are meant
/// for operations metrics sampled every 10 seconds to a minute; thresholds are in robust standard deviations.
/// </summary>
public sealed class DetectorOptions : IValidatableObject
{
    public const string Section = "Aperture:Watchdog:Detector";

    /// <summary>The |z| in the metric's direction at which an anomaly opens (4.5: a Gaussian series opens about once in 150,000 samples).</summary>
    [Range(1.0, 1000.0)]
    public double OpenZ { get; set; } = 4.5;

    /// <summary>The |z| below which a sample counts as returned (hysteresis: lower than <see cref="OpenZ"/>).</summary>
    [Range(0.0, 1000.0)]
    public double ResolveZ { get; set; } = 2.0;

    /// <summary>How many samples in a row below <see cref="ResolveZ"/> resolve an open anomaly.</summary>
    [Range(1, 100_000)]
    public int ResolvePoints { get; set; } = 3;

    /// <summary>How many samples a series needs before it is scored. The first 64 of them seed the baseline by median and MAD.</summary>
    [Range(3, 1_000_000)]
    public int MinHistoryPoints { get; set; } = 60;

    /// <summary>The half-life, in samples, of the baseline level: short, so that it follows slow cycles and drifts.</summary>
    [Range(1.0, 1_000_000.0)]
    public double LevelHalfLifePoints { get; set; } = 15;

    /// <summary>The half-life, in samples, of the robust scale (mean absolute residual × √(π/2)).</summary>
    [Range(1.0, 1_000_000.0)]
    public double ScaleHalfLifePoints { get; set; } = 120;

    /// <summary>A residual moves the level by at most this many scales, so that a spike barely moves the baseline.</summary>
    [Range(0.5, 100.0)]
    public double HuberK { get; set; } = 3.0;

    /// <summary>
    /// After this many samples in a row beyond <see cref="ResolveZ"/> on one side, the baseline re-learns at their mean:
    /// a sustained level shift opens one anomaly and then becomes the new normal (the anomaly resolves).
    /// </summary>
    [Range(2, 1_000_000)]
    public int LevelShiftPoints { get; set; } = 30;

    /// <summary>Days of history after which the hour-of-day profile may be used (when it explains the series better than the plain baseline).</summary>
    [Range(1.0, 365.0)]
    public double SeasonalDailyDays { get; set; } = 3;

    /// <summary>Days of history after which the hour-of-week profile may be used; at least a week, so every hour of the week was seen.</summary>
    [Range(7.0, 365.0)]
    public double SeasonalWeeklyDays { get; set; } = 7;

    /// <summary>How many cycles (days for the daily profile, weeks for the weekly one) a seasonal bucket remembers.</summary>
    [Range(1.0, 1000.0)]
    public double SeasonalMemoryCycles { get; set; } = 4;

    /// <summary>The half-life, in hours, of the slow level the seasonal profiles are learned against.</summary>
    [Range(1.0, 10_000.0)]
    public double SeasonalLevelHalfLifeHours { get; set; } = 12;

    /// <summary>
    /// The smallest deviation that can open, as a fraction of the expected value (0.05: 5%): the scale is never taken
    /// below <c>max(MinAbsoluteDeviation, MinRelativeDeviation × |expected|) / OpenZ</c>, so a flat series does not alarm on noise.
    /// </summary>
    [Range(0.0, 100.0)]
    public double MinRelativeDeviation { get; set; } = 0.05;

    /// <summary>The smallest deviation that can open, in the metric's unit; also keeps a constant series' scale above zero.</summary>
    [Range(1e-12, double.MaxValue)]
    public double MinAbsoluteDeviation { get; set; } = 1e-9;

    /// <summary>A step between samples longer than this (seconds) is a gap: the baseline is kept, but the next samples re-warm.</summary>
    [Range(1, 31_536_000)]
    public int GapSeconds { get; set; } = 3600;

    /// <summary>
    /// How many samples after a gap are not scored. If they all sit on one side beyond <see cref="ResolveZ"/>, the baseline
    /// re-learns from them (a restart at a new level is not an anomaly).
    /// </summary>
    [Range(0, 10_000)]
    public int GapRewarmPoints { get; set; } = 5;

    /// <summary>
    /// How many samples in a row must stand beyond <see cref="OpenZ"/> against the slow level (half-life
    /// <see cref="SeasonalLevelHalfLifeHours"/>) to open a drift: a change over hours that the fast level follows.
    /// </summary>
    [Range(1, 100_000)]
    public int DriftPoints { get; set; } = 10;

    /// <summary>Hours of history before drifts are looked for: the slow level and its scale must have seen a day's cycle.</summary>
    [Range(1.0, 10_000.0)]
    public double DriftReadyHours { get; set; } = 24;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (ResolveZ >= OpenZ)
        {
            yield return new ValidationResult("must be below OpenZ", [nameof(ResolveZ)]);
        }

        if (SeasonalWeeklyDays < SeasonalDailyDays)
        {
            yield return new ValidationResult("must not be below SeasonalDailyDays", [nameof(SeasonalWeeklyDays)]);
        }
    }
}
