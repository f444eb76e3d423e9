using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using Aperture.Runtime.Platform;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using StackExchange.Redis;

namespace Aperture.Runtime.Identity;

/// <summary>
/// The platform's API keys: ClickHouse holds the record, Redis the copy each request reads, indexed by the
/// SHA-256 of the key's text (a lookup never compares secrets byte by byte). A key's text is shown once.
/// </summary>
public sealed class ApiKeyStore(IConnectionMultiplexer redis, ClickHouseClient client, string database, TimeProvider time)
{
    /// <summary>Every key starts with this, so a runtime tells a platform key from a dashboard key or a JWT at a glance.</summary>
    public const string KeyPrefix = "aperture_";

    private const int ShownPrefixLength = 13;

    private static readonly RedisKey ById = "aperture:identity:api_keys";
    private static readonly RedisKey ByHash = "aperture:identity:api_keys:by_hash";

    private IDatabase Db => redis.GetDatabase();

    public async Task<bool> AnyAsync() => await Db.HashLengthAsync(ById) > 0;

    /// <returns>The stored key and its text, which is shown this once.</returns>
    public async Task<(ApiKeyRecord Key, string Plaintext)> CreateAsync(
        string tenantId, string name, ApiKeyScope scope, int rateLimitRps, DateTimeOffset? expiresAt, CancellationToken cancellationToken,
        IReadOnlyList<string>? ingestTenants = null)
    {
        var plaintext = SecretTokens.Generate(KeyPrefix);
        var record = new ApiKeyRecord(
            "key_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)), tenantId, name, scope, plaintext[..ShownPrefixLength],
            SecretTokens.Hash(plaintext), rateLimitRps, time.GetUtcNow(), expiresAt, null, ingestTenants);
        await InsertAsync(record, cancellationToken);
        await CacheAsync(record);
        return (record, plaintext);
    }

    /// <summary>The key whose text hashes to <paramref name="hash"/>, revoked or not; null when there is none.</summary>
    public async Task<ApiKeyRecord?> FindByHashAsync(string hash, CancellationToken cancellationToken)
    {
        var id = await Db.HashGetAsync(ByHash, hash);
        if (!id.IsNull && await Db.HashGetAsync(ById, id.ToString()) is { IsNull: false } json)
        {
            return JsonSerializer.Deserialize<ApiKeyRecord>(json.ToString());
        }

        var stored = await ReadAsync("hash = {value:String}", hash, cancellationToken);
        if (stored.Count == 1)
        {
            await CacheAsync(stored[0]);
            return stored[0];
        }

        return null;
    }

    public Task<IReadOnlyList<ApiKeyRecord>> ListAsync(string tenantId, CancellationToken cancellationToken) =>
        ReadAsync("tenant_id = {value:String}", tenantId, cancellationToken);

    /// <returns>False when the tenant has no such key.</returns>
    public async Task<bool> RevokeAsync(string tenantId, string keyId, CancellationToken cancellationToken)
    {
        var found = await ReadAsync("key_id = {value:String}", keyId, cancellationToken);
        if (found is not [{ } key] || key.TenantId != tenantId)
        {
            return false;
        }

        if (key.RevokedAt is null)
        {
            key = key with { RevokedAt = time.GetUtcNow() };
            await InsertAsync(key, cancellationToken);
        }

        await CacheAsync(key);
        return true;
    }

    private async Task CacheAsync(ApiKeyRecord key)
    {
        await Db.HashSetAsync(ById, key.KeyId, JsonSerializer.Serialize(key));
        await Db.HashSetAsync(ByHash, key.Hash, key.KeyId);
    }

    private async Task<IReadOnlyList<ApiKeyRecord>> ReadAsync(string where, string value, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("value", value);
        using var reader = await client.ExecuteReaderAsync(
            "SELECT key_id, tenant_id, name, toString(scope), prefix, hash, toInt64(rate_limit_rps), toUnixTimestamp64Milli(created_at), expires_at_ms, revoked_at_ms, ingest_tenants " +
            $"FROM `{database}`.api_keys FINAL WHERE {where} ORDER BY created_at, key_id",
            parameters,
            cancellationToken: cancellationToken);
        var keys = new List<ApiKeyRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            _ = ApiKeyScopes.TryParse(reader.GetString(3), out var scope);
            var expires = reader.GetInt64(8);
            var revoked = reader.GetInt64(9);
            var ingestTenants = reader.GetFieldValue<string[]>(10);
            keys.Add(new ApiKeyRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), scope, reader.GetString(4), reader.GetString(5),
                (int)reader.GetInt64(6), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(7)),
                expires == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(expires), revoked == 0 ? null : DateTimeOffset.FromUnixTimeMilliseconds(revoked),
                ingestTenants.Length == 0 ? null : ingestTenants));
        }

        return keys;
    }

    private async Task InsertAsync(ApiKeyRecord key, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("id", key.KeyId);
        parameters.AddParameter("tenant", key.TenantId);
        parameters.AddParameter("name", key.Name);
        parameters.AddParameter("scope", ApiKeyScopes.Name(key.Scope));
        parameters.AddParameter("prefix", key.Prefix);
        parameters.AddParameter("hash", key.Hash);
        parameters.AddParameter("rps", (uint)key.RateLimitRps);
        parameters.AddParameter("created", key.CreatedAt.ToUnixTimeMilliseconds());
        parameters.AddParameter("expires", key.ExpiresAt?.ToUnixTimeMilliseconds() ?? 0L);
        parameters.AddParameter("revoked", key.RevokedAt?.ToUnixTimeMilliseconds() ?? 0L);
        parameters.AddParameter("ingest", key.IngestTenants?.ToArray() ?? []);
        // Later changes (a revocation) must win over the create even within one millisecond.
        parameters.AddParameter("version", (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() * 2 + (key.RevokedAt is null ? 0UL : 1UL));
        await client.ExecuteNonQueryAsync(
            string.Create(CultureInfo.InvariantCulture, $"INSERT INTO `{database}`.api_keys ") +
            "(key_id, tenant_id, name, scope, prefix, hash, rate_limit_rps, created_at, expires_at_ms, revoked_at_ms, ingest_tenants, version) VALUES " +
            "({id:String}, {tenant:String}, {name:String}, {scope:String}, {prefix:String}, {hash:String}, {rps:UInt32}, " +
            "fromUnixTimestamp64Milli({created:Int64}, 'UTC'), {expires:Int64}, {revoked:Int64}, {ingest:Array(String)}, {version:UInt64})",
            parameters,
            cancellationToken: cancellationToken);
    }
}
