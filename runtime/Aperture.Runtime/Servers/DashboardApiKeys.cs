using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>An API key of the dashboard APIs, as listed (never with its secret).</summary>
public sealed record DashboardApiKey(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);

/// <summary>
/// API keys for programs that read a tenant's dashboard APIs, in Redis: each tenant's keys under its own
/// prefix (ids are per tenant), and only the SHA-256 of each key kept, in a global index of hash → tenant,
/// so a key is found by its hash without knowing its tenant and a lookup never compares secrets byte by
/// byte. Keys made before keys had tenants are the default tenant's and are found in its old hash → id
/// index instead, so nothing needs migrating.
/// </summary>
public sealed class DashboardApiKeys(IConnectionMultiplexer redis, TimeProvider time)
{
    public const string KeyPrefix = "apk_";
    private static readonly RedisKey TenantByHash = "aperture:dashboard_api_keys:tenant_by_hash";

    /// <summary>The default tenant's hash → id index of the keys made before keys had tenants; read and emptied, never added to.</summary>
    private static readonly RedisKey LegacyByHash = $"{Prefix(Tenants.Default)}:by_hash";

    private IDatabase Db => redis.GetDatabase();

    private static string Prefix(string tenant) => $"aperture:{tenant}:dashboard_api_keys";

    private static RedisKey Keys(string tenant) => $"{Prefix(tenant)}:keys";

    private static RedisKey NextId(string tenant) => $"{Prefix(tenant)}:next_id";

    private sealed record StoredKey(long Id, string Name, DateTimeOffset CreatedAt, string Hash);

    /// <returns>The tenant's new key and its plaintext, which is shown this once.</returns>
    public async Task<(DashboardApiKey Key, string Plaintext)> CreateAsync(string tenant, string name)
    {
        var plaintext = SecretTokens.Generate(KeyPrefix);
        var hash = SecretTokens.Hash(plaintext);
        var id = await Db.StringIncrementAsync(NextId(tenant));
        var stored = new StoredKey(id, name, time.GetUtcNow(), hash);
        var transaction = Db.CreateTransaction();
        _ = transaction.HashSetAsync(Keys(tenant), id.ToString(CultureInfo.InvariantCulture), JsonSerializer.Serialize(stored));
        _ = transaction.HashSetAsync(TenantByHash, hash, tenant);
        await transaction.ExecuteAsync();
        return (new DashboardApiKey(id, name, stored.CreatedAt), plaintext);
    }

    /// <returns>False when the tenant has no key of that id (another tenant's is not touched).</returns>
    public async Task<bool> DeleteAsync(string tenant, long id)
    {
        var idText = id.ToString(CultureInfo.InvariantCulture);
        var json = await Db.HashGetAsync(Keys(tenant), idText);
        if (json.IsNull)
        {
            return false;
        }

        var stored = JsonSerializer.Deserialize<StoredKey>(json.ToString())!;
        await Db.HashDeleteAsync(TenantByHash, stored.Hash);
        if (tenant == Tenants.Default)
        {
            await Db.HashDeleteAsync(LegacyByHash, stored.Hash);
        }

        return await Db.HashDeleteAsync(Keys(tenant), idText);
    }

    public async Task<IReadOnlyList<DashboardApiKey>> ListAsync(string tenant) =>
        [.. (await Db.HashValuesAsync(Keys(tenant)))
            .Select(v => JsonSerializer.Deserialize<StoredKey>(v.ToString())!)
            .OrderBy(k => k.Id)
            .Select(k => new DashboardApiKey(k.Id, k.Name, k.CreatedAt))];

    /// <returns>The tenant of the key presented, or null when it is no key.</returns>
    public async Task<string?> TenantOfAsync(string presented) =>
        presented.Length is 0 or > 512
            ? null
            : await TenantIndex.TenantOfAsync(Db, TenantByHash, LegacyByHash, SecretTokens.Hash(presented));

    /// <summary>Whether any tenant has a key (both indexes are deleted by Redis when they empty).</summary>
    public async Task<bool> AnyAsync() => await Db.KeyExistsAsync([TenantByHash, LegacyByHash]) > 0;
}
