using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>A registered server as the APIs show it (never with its token hash), and the tenant it belongs to.</summary>
public sealed record MonitoredServer(
    string Tenant,
    long Id,
    string Slug,
    string Name,
    string Hostname,
    string Description,
    bool IsActive,
    IReadOnlyDictionary<string, string> Labels,
    DateTimeOffset? LastSeenAt,
    string? LastAgentVersion,
    long SnapshotCount,
    DateTimeOffset? LatestSnapshotAt);

/// <summary>The fields a create or update sets; null leaves a field as it is (or its default on create).</summary>
public sealed record ServerChanges(
    string? Name = null,
    string? Hostname = null,
    string? Description = null,
    bool? IsActive = null,
    IReadOnlyDictionary<string, string>? Labels = null);

/// <summary>
/// The registry of monitored servers in Redis: it is small and changes (last seen, counts), and
/// every aggregator replica must see the same. Each tenant has its own keys
/// (<c>aperture:{tenant}:servers:*</c>) and its own numeric ids, which come from a counter and are
/// never reused, so a deleted server's snapshots (left to their TTL in ClickHouse) never show under a
/// new one. A slug is unique across tenants, since the ingest URL names no tenant: a global index
/// says whose each slug is. Servers registered before the index existed are the default tenant's and
/// are found in its own slug list instead, so nothing needs migrating.
/// </summary>
public sealed partial class ServerRegistry(IConnectionMultiplexer redis, TimeProvider time)
{
    private const int MaxCachedSlugs = 100_000;

    /// <summary>slug → tenant, for every slug registered since servers had tenants.</summary>
    private static readonly RedisKey TenantBySlug = "aperture:servers:tenant_by_slug";

    /// <summary>
    /// Whose each recently ingested slug is, so an ingest reads the server in one round trip. An entry
    /// cannot be stale in a harmful way: a server's hash exists under at most one tenant, so when the
    /// cached tenant has no such server the index is asked again.
    /// </summary>
    private readonly ConcurrentDictionary<string, string> _tenantOfSlug = new(StringComparer.Ordinal);

    private IDatabase Db => redis.GetDatabase();

    private static string Prefix(string tenant) => $"aperture:{tenant}:servers";

    private static RedisKey NextId(string tenant) => $"{Prefix(tenant)}:next_id";

    private static RedisKey NextSnapshotId(string tenant) => $"{Prefix(tenant)}:next_snapshot_id";

    /// <summary>The tenant's slugs (slug → id); the default tenant's also names the servers of before the index.</summary>
    private static RedisKey Slugs(string tenant) => $"{Prefix(tenant)}:slugs";

    private static RedisKey Ids(string tenant) => $"{Prefix(tenant)}:ids";

    private static RedisKey ServerKey(string tenant, string slug) => $"{Prefix(tenant)}:server:{slug}";

    private static RedisKey LatestKey(string tenant, long id) => $"{Prefix(tenant)}:latest:{id.ToString(CultureInfo.InvariantCulture)}";

    private static RedisKey CountersKey(string tenant, long id) => $"{Prefix(tenant)}:counters:{id.ToString(CultureInfo.InvariantCulture)}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]
    private static partial Regex SlugPattern();

    public static void ValidateSlug(string slug)
    {
        if (!SlugPattern().IsMatch(slug))
        {
            throw new InvalidRequestException("slug", "a slug is 1 to 100 letters, digits, '-' or '_', starting with a letter or digit");
        }
    }

    /// <summary>Creates the tenant's server or updates the given fields.</summary>
    /// <param name="token">A token to register (its hash replaces the stored one); null keeps the stored one.</param>
    /// <param name="generateTokenOnCreate">When creating without <paramref name="token"/>, generate one.</param>
    /// <returns>
    /// The server, whether it was created, and the plaintext token when one was generated; null when
    /// another tenant holds the slug.
    /// </returns>
    public async Task<(MonitoredServer Server, bool Created, string? GeneratedToken)?> UpsertAsync(
        string tenant, string slug, ServerChanges changes, string? token, bool generateTokenOnCreate)
    {
        ValidateSlug(slug);
        var db = Db;
        var generated = token is null && generateTokenOnCreate ? SecretTokens.Generate() : null;
        // One script, so two tenants registering the same slug at once cannot both have it. Whose the
        // slug is, is found as TenantIndex finds it: the index, else the default tenant's own slugs.
        var outcome = (long)await db.ScriptEvaluateAsync(
            """
            local owner = redis.call('HGET', KEYS[1], ARGV[1])
            if (not owner) and redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then owner = ARGV[3] end
            if owner and owner ~= ARGV[2] then return -1 end
            if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
            local id = redis.call('INCR', KEYS[6])
            redis.call('HSET', KEYS[3], 'id', id, unpack(ARGV, 4))
            redis.call('HSET', KEYS[4], ARGV[1], id)
            redis.call('HSET', KEYS[5], id, ARGV[1])
            redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
            return id
            """,
            [TenantBySlug, Slugs(Tenants.Default), ServerKey(tenant, slug), Slugs(tenant), Ids(tenant), NextId(tenant)],
            [
                slug, tenant, Tenants.Default,
                "slug", slug,
                "name", changes.Name ?? slug,
                "hostname", changes.Hostname ?? string.Empty,
                "description", changes.Description ?? string.Empty,
                "is_active", changes.IsActive ?? true ? "1" : "0",
                "labels", JsonSerializer.Serialize(changes.Labels ?? new Dictionary<string, string>()),
                "token_hash", (token ?? generated) is { } registered ? SecretTokens.Hash(registered) : string.Empty,
                "snapshot_count", 0,
                "created_at", time.GetUtcNow().ToUnixTimeMilliseconds(),
            ]);
        if (outcome < 0)
        {
            return null;
        }

        var created = outcome > 0;
        if (!created)
        {
            var fields = new List<HashEntry>();
            if (changes.Name is not null)
            {
                fields.Add(new("name", changes.Name));
            }

            if (changes.Hostname is not null)
            {
                fields.Add(new("hostname", changes.Hostname));
            }

            if (changes.Description is not null)
            {
                fields.Add(new("description", changes.Description));
            }

            if (changes.IsActive is not null)
            {
                fields.Add(new("is_active", changes.IsActive.Value ? "1" : "0"));
            }

            if (changes.Labels is not null)
            {
                fields.Add(new("labels", JsonSerializer.Serialize(changes.Labels)));
            }

            if (token is not null)
            {
                fields.Add(new("token_hash", SecretTokens.Hash(token)));
            }

            if (fields.Count > 0)
            {
                await db.HashSetAsync(ServerKey(tenant, slug), [.. fields]);
            }
        }

        var server = await FindAsync(tenant, slug) ?? throw new InvalidOperationException($"server {slug} vanished while being registered");
        return (server, created, created ? generated : null);
    }

    /// <summary>Replaces the server's token with a new one; the old one stops working at once.</summary>
    /// <returns>The new plaintext token, or null when there is no such server.</returns>
    public async Task<string?> RotateTokenAsync(string tenant, string slug)
    {
        if (!await Db.KeyExistsAsync(ServerKey(tenant, slug)))
        {
            return null;
        }

        var token = SecretTokens.Generate();
        await Db.HashSetAsync(ServerKey(tenant, slug), "token_hash", SecretTokens.Hash(token));
        return token;
    }

    public async Task<bool> DeleteAsync(string tenant, string slug)
    {
        var server = await FindAsync(tenant, slug);
        if (server is null)
        {
            return false;
        }

        // The server's hash first, so ingest stops finding it; the slug is free for any tenant last.
        var id = server.Id.ToString(CultureInfo.InvariantCulture);
        var deleted = await Db.KeyDeleteAsync(ServerKey(tenant, slug));
        await Db.HashDeleteAsync(Slugs(tenant), slug);
        await Db.HashDeleteAsync(Ids(tenant), id);
        await Db.KeyDeleteAsync([LatestKey(tenant, server.Id), CountersKey(tenant, server.Id)]);
        await Db.HashDeleteAsync(TenantBySlug, slug);
        _tenantOfSlug.TryRemove(slug, out _);
        return deleted;
    }

    /// <summary>The tenant's server of that slug; another tenant's is not found.</summary>
    public async Task<MonitoredServer?> FindAsync(string tenant, string slug) => (await ReadAsync(tenant, slug))?.Server;

    /// <summary>The tenant's server by slug or, when <paramref name="slugOrId"/> is a number that is no slug, by id.</summary>
    public async Task<MonitoredServer?> FindBySlugOrIdAsync(string tenant, string slugOrId)
    {
        if (await FindAsync(tenant, slugOrId) is { } bySlug)
        {
            return bySlug;
        }

        if (long.TryParse(slugOrId, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && await Db.HashGetAsync(Ids(tenant), slugOrId) is { IsNull: false } slug)
        {
            return await FindAsync(tenant, slug.ToString());
        }

        return null;
    }

    /// <summary>The server of that slug, whichever tenant's it is, and its stored token hash, for ingest authentication.</summary>
    public async Task<(MonitoredServer Server, string TokenHash)?> FindWithTokenAsync(string slug)
    {
        if (!SlugPattern().IsMatch(slug))
        {
            return null;
        }

        if (_tenantOfSlug.TryGetValue(slug, out var cached) && await ReadAsync(cached, slug) is { } hit)
        {
            return hit;
        }

        var tenant = await TenantIndex.TenantOfAsync(Db, TenantBySlug, Slugs(Tenants.Default), slug);
        var found = tenant is null ? null : await ReadAsync(tenant, slug);
        if (found is null)
        {
            _tenantOfSlug.TryRemove(slug, out _);
            return null;
        }

        if (_tenantOfSlug.Count >= MaxCachedSlugs)
        {
            _tenantOfSlug.Clear();
        }

        _tenantOfSlug[slug] = tenant!;
        return found;
    }

    private async Task<(MonitoredServer Server, string TokenHash)?> ReadAsync(string tenant, string slug)
    {
        if (!SlugPattern().IsMatch(slug))
        {
            return null;
        }

        var entries = await Db.HashGetAllAsync(ServerKey(tenant, slug));
        if (entries.Length == 0)
        {
            return null;
        }

        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        return (ToServer(tenant, fields), fields.GetValueOrDefault("token_hash", string.Empty));
    }

    /// <summary>Every server of the tenant, by id.</summary>
    public async Task<IReadOnlyList<MonitoredServer>> ListAsync(string tenant)
    {
        var slugs = await Db.HashKeysAsync(Slugs(tenant));
        var batch = Db.CreateBatch();
        var reads = slugs.Select(s => batch.HashGetAllAsync(ServerKey(tenant, s.ToString()))).ToList();
        batch.Execute();
        var servers = new List<MonitoredServer>();
        foreach (var read in reads)
        {
            var entries = await read;
            if (entries.Length > 0)
            {
                servers.Add(ToServer(tenant, entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal)));
            }
        }

        return [.. servers.OrderBy(s => s.Id)];
    }

    public async Task<ulong> NextSnapshotIdAsync(string tenant) => (ulong)await Db.StringIncrementAsync(NextSnapshotId(tenant));

    /// <summary>Records an accepted snapshot: last seen, agent version, count, and the latest snapshot itself.</summary>
    public async Task RecordSnapshotAsync(MonitoredServer server, ServerSnapshot snapshot, AgentInfo? agent)
    {
        // One script, so the record, the count and the latest snapshot move together; a delete racing
        // the ingest is not undone (nothing is written for a server that is gone), and the latest
        // snapshot is the newest by collection time, so a late replay does not replace it.
        await Db.ScriptEvaluateAsync(
            """
            if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
            redis.call('HSET', KEYS[1], 'last_seen_at', ARGV[1])
            if ARGV[2] ~= '' then redis.call('HSET', KEYS[1], 'last_agent_version', ARGV[2]) end
            redis.call('HINCRBY', KEYS[1], 'snapshot_count', 1)
            local t = redis.call('HGET', KEYS[1], 'latest_snapshot_at')
            if (not t) or tonumber(t) <= tonumber(ARGV[3]) then
              redis.call('HSET', KEYS[1], 'latest_snapshot_at', ARGV[3])
              redis.call('SET', KEYS[2], ARGV[4])
            end
            return 1
            """,
            [ServerKey(server.Tenant, server.Slug), LatestKey(server.Tenant, snapshot.ServerId)],
            [
                snapshot.ReceivedAt.ToUnixTimeMilliseconds(),
                agent?.Version ?? string.Empty,
                snapshot.Sample.CollectedAt.ToUnixTimeMilliseconds(),
                JsonSerializer.Serialize(snapshot),
            ]);
    }

    public async Task<ServerSnapshot?> LatestSnapshotAsync(string tenant, long serverId)
    {
        var json = await Db.StringGetAsync(LatestKey(tenant, serverId));
        return json.IsNull ? null : JsonSerializer.Deserialize<ServerSnapshot>(json.ToString());
    }

    /// <summary>
    /// Swaps the server's stored counters for <paramref name="next"/> (only when it is newer) and
    /// returns the ones it had, atomically, so replicas ingesting the same server agree on deltas.
    /// </summary>
    public async Task<CounterState?> SwapCountersAsync(string tenant, long serverId, CounterState next, TimeSpan keep)
    {
        var result = (RedisResult[]?)await Db.ScriptEvaluateAsync(
            """
            local t = redis.call('HGET', KEYS[1], 't')
            local c = redis.call('HGET', KEYS[1], 'c')
            if (not t) or tonumber(t) < tonumber(ARGV[1]) then
              redis.call('HSET', KEYS[1], 't', ARGV[1], 'c', ARGV[2])
              redis.call('PEXPIRE', KEYS[1], ARGV[3])
            end
            return {t, c}
            """,
            [CountersKey(tenant, serverId)],
            [next.CollectedAtMs, JsonSerializer.Serialize(next), (long)keep.TotalMilliseconds]);
        return result is { Length: 2 } && !result[1].IsNull
            ? JsonSerializer.Deserialize<CounterState>(result[1].ToString())
            : null;
    }

    private static MonitoredServer ToServer(string tenant, Dictionary<string, string> f) => new(
        tenant,
        long.Parse(f["id"], CultureInfo.InvariantCulture),
        f["slug"],
        f.GetValueOrDefault("name", f["slug"]),
        f.GetValueOrDefault("hostname", string.Empty),
        f.GetValueOrDefault("description", string.Empty),
        f.GetValueOrDefault("is_active", "1") == "1",
        f.TryGetValue("labels", out var labels) && labels.Length > 0
            ? JsonSerializer.Deserialize<Dictionary<string, string>>(labels) ?? []
            : new Dictionary<string, string>(),
        Time(f, "last_seen_at"),
        f.TryGetValue("last_agent_version", out var version) && version.Length > 0 ? version : null,
        f.TryGetValue("snapshot_count", out var count) ? long.Parse(count, CultureInfo.InvariantCulture) : 0,
        Time(f, "latest_snapshot_at"));

    private static DateTimeOffset? Time(Dictionary<string, string> f, string name) =>
        f.TryGetValue(name, out var ms) && long.TryParse(ms, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? DateTimeOffset.FromUnixTimeMilliseconds(value)
            : null;
}
