using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>The incident memory (configuration section <c>Aperture:Watchdog:Memory</c>).</summary>
public sealed class IncidentMemoryOptions
{
    public const string Section = "Aperture:Watchdog:Memory";

    /// <summary>
    /// The least cosine similarity a past resolution needs to be listed. Measured with all-MiniLM-L6-v2
    /// (IncidentMemoryTests): a reworded cause scores 0.74-0.89 against its resolution, a different cause on the
    /// same service at most 0.46 (the shared service name and wording), another service's unrelated incident at
    /// most 0.29; 0.55 lies in the gap with room on both sides.
    /// </summary>
    [Range(0.0, 1.0)]
    public double MinScore { get; set; } = 0.55;

    /// <summary>The most past incidents listed with an anomaly or RCA.</summary>
    [Range(1, 50)]
    public int MaxResults { get; set; } = 3;

    /// <summary>
    /// How much more a resolution of the incident's own service ranks (not its score, nor the threshold): it
    /// decides between near-equals, never lifts a poor match over a good one.
    /// </summary>
    [Range(0.0, 0.5)]
    public double SameServiceBoost { get; set; } = 0.05;
}

/// <summary>
/// Remembers resolutions and recalls those like a new incident: the vectorizer embeds, the store keeps and
/// compares (ClickHouse <c>cosineDistance</c>).
/// </summary>
public sealed class IncidentMemory(IncidentVectorizer vectorizer, IncidentMemoryStore store, IOptionsMonitor<IncidentMemoryOptions> options)
{
    /// <summary>Stores a validated resolution (<see cref="ResolutionWebhookJson.ToRecord"/>).</summary>
    /// <returns>Its knowledge base id.</returns>
    /// <exception cref="VectorizerUnavailableException">The model failed to load.</exception>
    public async Task<string> RememberAsync(string tenant, ResolutionRecord record, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        var embedding = await vectorizer.EmbedAsync(record.EmbeddingText, cancellationToken);
        return await store.StoreAsync(tenant, record, embedding, cancellationToken);
    }

    /// <summary>
    /// The tenant's past incidents with a resolution most like <paramref name="incidentText"/> (an anomaly's or
    /// RCA's description: service, metric, what changed, the suspected cause), best first, each scoring at least
    /// <see cref="IncidentMemoryOptions.MinScore"/>; resolutions of <paramref name="serviceId"/> are preferred.
    /// </summary>
    /// <param name="limit">At most this many, and never more than <see cref="IncidentMemoryOptions.MaxResults"/>; null: that.</param>
    /// <exception cref="VectorizerUnavailableException">The model failed to load.</exception>
    public async Task<IReadOnlyList<SimilarIncident>> RecallAsync(
        string tenant, string? serviceId, string incidentText, int? limit, CancellationToken cancellationToken)
    {
        var current = options.CurrentValue;
        var count = Math.Clamp(limit ?? current.MaxResults, 1, current.MaxResults);
        var embedding = await vectorizer.EmbedAsync(incidentText, cancellationToken);
        return await store.FindSimilarAsync(tenant, serviceId, embedding, count, current.MinScore, current.SameServiceBoost, cancellationToken);
    }
}
