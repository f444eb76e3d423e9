namespace Aperture.Runtime.Watchdog;

/// <summary>Past incidents like a new one, from the incident memory (the resolutions webhook).</summary>
public sealed class IncidentRecall
{
    /// <summary>The text a new anomaly is compared by: what moved and what the RCA blames.</summary>
    public static string Describe(AnomalyRecord anomaly, IReadOnlyList<CauseJson> causes)
    {
        var text = $"{anomaly.ServiceId} {anomaly.MetricName} {(anomaly.Value > anomaly.Expected ? "rose" : "fell")}";
        if (anomaly.Details.Alert is { } alert)
        {
            text += " " + string.Join(' ', alert.Annotations.Values);
        }

        return causes.Count == 0 ? text : $"{text}; likely cause {causes[0].ServiceId} {causes[0].MetricName}: {string.Join("; ", causes[0].Evidence)}";
    }

    public string VectorizerState => "not_loaded";

    public Task<IReadOnlyList<SimilarIncidentJson>> RecallAsync(string tenant, string serviceId, string text, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<SimilarIncidentJson>>([]);
}
