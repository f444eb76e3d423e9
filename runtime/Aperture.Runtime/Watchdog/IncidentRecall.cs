using Aperture.Runtime.Watchdog.Memory;

namespace Aperture.Runtime.Watchdog;

/// <summary>Past incidents like a new one, from the incident memory (the resolutions webhook).</summary>
public sealed partial class IncidentRecall(IncidentMemory memory, IncidentVectorizer vectorizer, ILogger<IncidentRecall> logger)
{
    public string VectorizerState => vectorizer.State;

    /// <summary>The text a new anomaly is compared by: what moved and what the RCA blames.</summary>
    public static string Describe(AnomalyRecord anomaly, IReadOnlyList<CauseJson> causes)
    {
        var text = $"{anomaly.ServiceId} {anomaly.MetricName} {(anomaly.Value > anomaly.Expected ? "rose" : "fell")}";
        if (anomaly.Details.Alert is { } alert)
        {
            text = $"{anomaly.ServiceId} {anomaly.MetricName} " + string.Join(' ', alert.Annotations.Values);
        }

        return causes.Count == 0 ? text : $"{text}; likely cause {causes[0].ServiceId} {causes[0].MetricName}: {string.Join("; ", causes[0].Evidence)}";
    }

    /// <returns>The most similar past incidents above the memory's threshold; none when the vectorizer is not running.</returns>
    public async Task<IReadOnlyList<SimilarIncidentJson>> RecallAsync(string tenant, string serviceId, string text, CancellationToken cancellationToken)
    {
        try
        {
            var similar = await memory.RecallAsync(tenant, serviceId, text, null, cancellationToken);
            return [.. similar.Select(s => new SimilarIncidentJson(s.KnowledgeBaseId, s.IncidentId, s.ServiceId, s.Resolution, s.Tags, Math.Round(s.Score, 4)))];
        }
        catch (VectorizerUnavailableException e)
        {
            // The anomaly and its RCA stand without the memory; the status shows the vectorizer's state.
            LogRecallUnavailable(e.Message);
            return [];
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No similar incidents: the vectorizer is unavailable ({Reason})")]
    private partial void LogRecallUnavailable(string reason);
}
