using System.Security.Cryptography;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>A past incident like the one asked about; <see cref="Score"/> is the cosine similarity, 1 the same text.</summary>
public sealed record SimilarIncident(
    string KnowledgeBaseId,
    string IncidentId,
    string ServiceId,
    string Resolution,
    IReadOnlyList<string> Tags,
    double Score);

/// <summary>
/// Resolutions and their embeddings in ClickHouse (table <c>incident_resolutions</c>, schema migration 10).
/// Every row carries its tenant and every read is of one tenant.
/// </summary>
public sealed class IncidentMemoryStore(ClickHouseClient client, string database, TimeProvider time)
{
    private string Table => $"`{database}`.incident_resolutions";

    /// <summary>
    /// Stores a resolution with its embedding. A retried webhook (same incident, service and resolution) is
    /// stored once and answers the id it had.
    /// </summary>
    /// <returns>The knowledge base id, <c>kb-</c> and 16 hex digits.</returns>
    public async Task<string> StoreAsync(string tenant, ResolutionRecord record, float[] embedding, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(record);
        ArgumentNullException.ThrowIfNull(embedding);
        if (record.IncidentId.Length > 0 && await FindStoredAsync(tenant, record, cancellationToken) is { } existing)
        {
            return existing;
        }

        var id = "kb-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("id", id);
        parameters.AddParameter("incident", record.IncidentId);
        parameters.AddParameter("service", record.ServiceId);
        parameters.AddParameter("resolution", record.Resolution);
        parameters.AddParameter("resolved_by", record.ResolvedBy);
        // -1 stands for "not given": a null query parameter is not something every driver version sends alike.
        parameters.AddParameter("ttr", record.TimeToRecoveryMinutes ?? -1d);
        parameters.AddParameter("tags", record.Tags.ToArray());
        parameters.AddParameter("embedding", embedding);
        parameters.AddParameter("created", time.GetUtcNow().ToUnixTimeMilliseconds());
        await client.ExecuteNonQueryAsync(
            $"INSERT INTO {Table} (tenant, knowledge_base_id, incident_id, service_id, resolution, resolved_by, time_to_recovery_minutes, tags, embedding, created_at) " +
            "SELECT {tenant:String}, {id:String}, {incident:String}, {service:String}, {resolution:String}, {resolved_by:String}, " +
            "if({ttr:Float64} < 0, NULL, {ttr:Float64}), {tags:Array(String)}, {embedding:Array(Float32)}, fromUnixTimestamp64Milli({created:Int64}, 'UTC')",
            parameters,
            cancellationToken: cancellationToken);
        return id;
    }

    /// <summary>
    /// The tenant's stored resolutions most like <paramref name="queryEmbedding"/>, by ClickHouse's
    /// <c>cosineDistance</c> (score = 1 - distance), those scoring at least <paramref name="minScore"/>.
    /// Ordered by score, where a resolution of <paramref name="serviceId"/> ranks as if it scored
    /// <paramref name="sameServiceBoost"/> more (the score reported stays its own): the same cause on the same
    /// service is the likelier match, yet a much closer one elsewhere still comes first. An incident with
    /// several resolutions lists once, by its best.
    /// </summary>
    public async Task<IReadOnlyList<SimilarIncident>> FindSimilarAsync(
        string tenant,
        string? serviceId,
        float[] queryEmbedding,
        int limit,
        double minScore,
        double sameServiceBoost,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(queryEmbedding);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(limit);
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("service", serviceId ?? string.Empty);
        parameters.AddParameter("query", queryEmbedding);
        parameters.AddParameter("dimensions", (ulong)queryEmbedding.Length);
        parameters.AddParameter("min_score", minScore);
        parameters.AddParameter("boost", sameServiceBoost);
        parameters.AddParameter("limit", (ulong)limit);
        // The length check keeps rows of another model's size (a future model change) out of cosineDistance,
        // which refuses arrays of different lengths.
        using var reader = await client.ExecuteReaderAsync(
            $$"""
            SELECT knowledge_base_id, incident_id, service_id, resolution, tags, score
            FROM
            (
                SELECT knowledge_base_id, incident_id, service_id, resolution, tags, created_at,
                    toFloat64(1 - cosineDistance(embedding, {query:Array(Float32)})) AS score
                FROM {{Table}}
                WHERE tenant = {tenant:String} AND length(embedding) = {dimensions:UInt64}
            )
            WHERE score >= {min_score:Float64}
            ORDER BY score + if({service:String} != '' AND service_id = {service:String}, {boost:Float64}, 0) DESC, created_at DESC
            LIMIT 1 BY if(incident_id = '', knowledge_base_id, incident_id)
            LIMIT {limit:UInt64}
            """,
            parameters,
            cancellationToken: cancellationToken);
        var found = new List<SimilarIncident>();
        while (await reader.ReadAsync(cancellationToken))
        {
            found.Add(new SimilarIncident(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), (string[])reader.GetValue(4), reader.GetDouble(5)));
        }

        return found;
    }

    private async Task<string?> FindStoredAsync(string tenant, ResolutionRecord record, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("incident", record.IncidentId);
        parameters.AddParameter("service", record.ServiceId);
        parameters.AddParameter("resolution", record.Resolution);
        var id = await client.ExecuteScalarAsync(
            $"SELECT knowledge_base_id FROM {Table} WHERE tenant = {{tenant:String}} AND service_id = {{service:String}} " +
            "AND incident_id = {incident:String} AND resolution = {resolution:String} ORDER BY created_at LIMIT 1",
            parameters,
            cancellationToken: cancellationToken);
        return id as string;
    }
}
