using Aperture.Runtime.Platform;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>An API key of the dashboard APIs, as listed (never with its secret).</summary>
public sealed record DashboardApiKey(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);

/// <summary>
/// API keys for programs that read the dashboard APIs, in Redis: only the SHA-256 of each key is
/// kept, indexed by that hash, so a lookup never compares secrets byte by byte.
/// </summary>
public sealed class DashboardApiKeys(IConnectionMultiplexer redis, TimeProvider time)
{
    public const string KeyPrefix = "apk_";
    private static readonly string Prefix = $"aperture:{Tenants.Default}:dashboard_api_keys";
    private static readonly RedisKey Keys = $"{Prefix}:keys";
    private static readonly RedisKey ByHash = $"{Prefix}:by_hash";
    private static readonly RedisKey NextId = $"{Prefix}:next_id";

    private IDatabase Db => redis.GetDatabase();

    private sealed record StoredKey(long Id, string Name, DateTimeOffset CreatedAt, string Hash);

    /// <returns>The key and its plaintext, which is shown this once.</returns>
    public async Task<(DashboardApiKey Key, string Plaintext)> CreateAsync(string name)
    {
        var plaintext = SecretTokens.Generate(KeyPrefix);
        var hash = SecretTokens.Hash(plaintext);
        var id = await Db.StringIncrementAsync(NextId);
        var stored = new StoredKey(id, name, time.GetUtcNow(), hash);
        var idText = id.ToString(CultureInfo.InvariantCulture);
        await Db.HashSetAsync(Keys, idText, JsonSerializer.Serialize(stored));
        await Db.HashSetAsync(ByHash, hash, idText);
        return (new DashboardApiKey(id, name, stored.CreatedAt), plaintext);
    }

    public async Task<bool> DeleteAsync(long id)
    {
        var idText = id.ToString(CultureInfo.InvariantCulture);
        var json = await Db.HashGetAsync(Keys, idText);
        if (json.IsNull)
        {
            return false;
        }

        var stored = JsonSerializer.Deserialize<StoredKey>(json.ToString())!;
        await Db.HashDeleteAsync(ByHash, stored.Hash);
        return await Db.HashDeleteAsync(Keys, idText);
    }

    public async Task<IReadOnlyList<DashboardApiKey>> ListAsync() =>
        [.. (await Db.HashValuesAsync(Keys))
            .Select(v => JsonSerializer.Deserialize<StoredKey>(v.ToString())!)
            .OrderBy(k => k.Id)
            .Select(k => new DashboardApiKey(k.Id, k.Name, k.CreatedAt))];

    public async Task<bool> IsValidAsync(string presented) =>
        presented.Length is > 0 and <= 512 && await Db.HashExistsAsync(ByHash, SecretTokens.Hash(presented));

    public async Task<bool> AnyAsync() => await Db.HashLengthAsync(Keys) > 0;
}
