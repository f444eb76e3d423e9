namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>
/// One metric of one service, one value per minute from <paramref name="StartMinute"/> (unix minutes);
/// <see cref="double.NaN"/> marks a missing minute.
/// </summary>
public sealed record MinuteSeries(string ServiceId, string MetricName, long StartMinute, double[] Values)
{
    /// <summary>The unix minute just after the last value.</summary>
    public long EndMinute => StartMinute + Values.Length;
}

/// <summary>
/// A service whose metrics move with the origin's. <paramref name="LagMinutes"/> is how many minutes the related
/// service's movement comes after the origin's (negative: before). <paramref name="Direction"/> is
/// <c>upstream</c> for the cause side (the origin's callees, where its faults come from) and <c>downstream</c>
/// for the side the origin's faults reach (its callers).
/// </summary>
public sealed record ServiceCorrelation(string RelatedService, double CorrelationScore, int LagMinutes, string Direction);

/// <summary>
/// A root-cause candidate for a symptom. <paramref name="LagMinutes"/> follows the same convention as
/// <see cref="ServiceCorrelation.LagMinutes"/> with the symptom as the origin: a cause normally has a negative lag.
/// </summary>
public sealed record RootCause(string ServiceId, string MetricName, double Score, int LagMinutes, IReadOnlyList<string> Evidence);

/// <summary>The two values of <see cref="ServiceCorrelation.Direction"/>.</summary>
public static class CorrelationDirection
{
    public const string Upstream = "upstream";
    public const string Downstream = "downstream";
}
