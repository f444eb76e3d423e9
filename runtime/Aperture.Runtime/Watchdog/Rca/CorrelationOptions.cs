using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>Root-cause correlation (configuration section <c>Aperture:Watchdog:Rca</c>).</summary>
public sealed class CorrelationOptions
{
    public const string Section = "Aperture:Watchdog:Rca";

    /// <summary>The widest lead or lag, in minutes, searched between two series.</summary>
    [Range(1, 120)]
    public int MaxLagMinutes { get; set; } = 10;

    /// <summary>The fewest minutes both series must have at a lag for its correlation to count.</summary>
    [Range(3, 100_000)]
    public int MinOverlapPoints { get; set; } = 30;

    /// <summary>
    /// The least score at which a service the graph does not connect to the origin is reported
    /// (services the graph puts within the depth are always reported, with whatever score they have).
    /// </summary>
    [Range(0.0, 1.0)]
    public double MinCorrelation { get; set; } = 0.3;

    /// <summary>
    /// Each value is compared with the mean of this many minutes before it, which removes diurnal cycles and
    /// slow drift while a fault's onset stays a sharp edge: the edge is what aligns two series to the minute.
    /// </summary>
    [Range(2, 240)]
    public int TrailingWindowMinutes { get; set; } = 10;

    /// <summary>
    /// Before correlating, each value has the mean of this many minutes centred on it taken off (0: not), which
    /// cancels diurnal cycles that would otherwise pull the best lag towards their phase difference.
    /// </summary>
    [Range(0, 1440)]
    public int DetrendMinutes { get; set; } = 60;

    /// <summary>
    /// The lag of a correlated pair is dated by their largest level shifts (the mean of this many minutes after a
    /// minute against this many before it) when both have one; by the cross-correlation's peak otherwise.
    /// </summary>
    [Range(2, 60)]
    public int StepWindowMinutes { get; set; } = 5;

    /// <summary>The robust z-score at which a level shift counts as clear enough to date a lag by.</summary>
    [Range(1.0, 100.0)]
    public double StepSigma { get; set; } = 5;

    /// <summary>Robust z-scores are clipped here so that one wild sample cannot carry a correlation alone.</summary>
    [Range(1.0, 100.0)]
    public double ClipSigma { get; set; } = 8;

    /// <summary>Analyze: the minutes before the onset window that stand for a metric's normal behaviour.</summary>
    [Range(5, 1440)]
    public int BaselineMinutes { get; set; } = 60;

    /// <summary>Analyze: robust z-score (sustained over two minutes) at which a metric counts as anomalous.</summary>
    [Range(1.0, 50.0)]
    public double OnsetSigma { get; set; } = 3;

    /// <summary>Analyze: how many caller → callee hops are walked from the symptom.</summary>
    [Range(1, 64)]
    public int MaxUpstreamDepth { get; set; } = 8;

    /// <summary>Analyze: the most candidates answered.</summary>
    [Range(1, 1000)]
    public int MaxCauses { get; set; } = 10;

    /// <summary>The correlation depth the API uses when a request names none (aiops-api.md: 3).</summary>
    [Range(1, 16)]
    public int DefaultDepth { get; set; } = 3;

    /// <summary>The metric label naming the calling workload.</summary>
    [Required]
    public string CallerLabel { get; set; } = TopologyEdges.DefaultCallerLabel;

    /// <summary>The metric label naming the called workload.</summary>
    [Required]
    public string CalleeLabel { get; set; } = TopologyEdges.DefaultCalleeLabel;
}
