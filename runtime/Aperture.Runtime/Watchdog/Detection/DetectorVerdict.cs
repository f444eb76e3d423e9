namespace Aperture.Runtime.Watchdog.Detection;

/// <summary>What one sample did to a series' anomaly state.</summary>
public enum DetectorEvent
{
    /// <summary>Scored, and nothing is open or opens.</summary>
    None,

    /// <summary>Not scored: the minimum history is not there yet, or the series is re-learning after a long gap.</summary>
    Warmup,

    /// <summary>This sample crossed the open threshold: its timestamp is the anomaly's <c>detected_at</c>.</summary>
    Opened,

    /// <summary>An anomaly is open and this sample does not end it.</summary>
    Ongoing,

    /// <summary>The series has returned (the last <see cref="DetectorOptions.ResolvePoints"/> samples all below <see cref="DetectorOptions.ResolveZ"/>): the anomaly is resolved at this sample.</summary>
    Resolved,

    /// <summary>The timestamp is not after the last accepted one; the sample changed nothing.</summary>
    OutOfOrder,

    /// <summary>The value is NaN or infinite; the sample changed nothing.</summary>
    Ignored,
}

/// <summary>
/// The detector's answer for one sample. <see cref="ZScore"/> is signed, (value − <see cref="Expected"/>) / <see cref="Scale"/>,
/// and <see cref="AnomalyScore"/> is <see cref="AnomalyScores.FromZ"/> of the part of it in the metric's direction (0 when the
/// deviation is in the direction that does not matter). <see cref="Scale"/> is the one the z-score was divided by, the
/// minimum deviation floor included. Warm-up, out-of-order and ignored samples carry a zero z-score and score.
/// </summary>
public readonly record struct DetectorVerdict(DetectorEvent Event, double ZScore, double AnomalyScore, double Expected, double Scale);
