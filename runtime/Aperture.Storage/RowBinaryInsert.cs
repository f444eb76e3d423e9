using ClickHouse.Driver;

namespace Aperture.Storage;

/// <summary>An idempotent RowBinary insert: the rows of one flush under one deduplication token.</summary>
public static class RowBinaryInsert
{
    /// <summary>
    /// Sends <paramref name="rows"/> to <paramref name="table"/> in one request; retried with the same
    /// <paramref name="token"/> after an unknown outcome, ClickHouse stores them once.
    /// </summary>
    public static async Task InsertAsync(
        this ClickHouseClient client, string database, string table, string[] columns, RowBinaryWriter rows, string token, CancellationToken cancellationToken)
    {
        var options = new QueryOptions
        {
            Database = database,
            CustomSettings = new Dictionary<string, object>
            {
                ["insert_deduplicate"] = 1,
                ["insert_deduplication_token"] = token,
            },
        };
        using var body = rows.AsStream();
        using var response = await client.InsertRawStreamAsync(table, body, "RowBinary", columns, useCompression: false, options, cancellationToken);
        response.EnsureSuccessStatusCode();
    }
}
