using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>A registered server as the APIs show it (never with its token hash).</summary>
public sealed record MonitoredServer(
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
/// every aggregator replica must see the same. Numeric ids come from a counter and are never reused,
/// so a deleted server's snapshots (left to their TTL in ClickHouse) never show under a new one.
/// </summary>
public sealed partial class ServerRegistry(IConnectionMultiplexer redis, TimeProvider time)
{
    public static readonly string Prefix = $"aperture:{Tenants.Default}:servers";
    private static readonly RedisKey NextId = $"{Prefix}:next_id";
    private static readonly RedisKey NextSnapshotId = $"{Prefix}:next_snapshot_id";
    private static readonly RedisKey Slugs = $"{Prefix}:slugs";
    private static readonly RedisKey Ids = $"{Prefix}:ids";

    private IDatabase Db => redis.GetDatabase();

    private static RedisKey ServerKey(string slug) => $"{Prefix}:server:{slug}";

    public static RedisKey LatestKey(long id) => $"{Prefix}:latest:{id.ToString(CultureInfo.InvariantCulture)}";

    public static RedisKey CountersKey(long id) => $"{Prefix}:counters:{id.ToString(CultureInfo.InvariantCulture)}";

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")]
    private static partial Regex SlugPattern();

    public static void ValidateSlug(string slug)
    {
        if (!SlugPattern().IsMatch(slug))
        {
            throw new InvalidRequestException("slug", "a slug is 1 to 100 letters, digits, '-' or '_', starting with a letter or digit");
        }
    }

    /// <summary>Creates the server or updates the given fields.</summary>
    /// <param name="token">A token to register (its hash replaces the stored one); null keeps the stored one.</param>
    /// <param name="generateTokenOnCreate">When creating without <paramref name="token"/>, generate one.</param>
    /// <returns>The server, whether it was created, and the plaintext token when one was generated.</returns>
    public async Task<(MonitoredServer Server, bool Created, string? GeneratedToken)> UpsertAsync(
        string slug, ServerChanges changes, string? token, bool generateTokenOnCreate)
    {
        ValidateSlug(slug);
        var db = Db;
        var created = false;
        string? generated = null;
        if (!await db.KeyExistsAsync(ServerKey(slug)))
        {
            var id = await db.StringIncrementAsync(NextId);
            if (await db.HashSetAsync(Slugs, slug, id, When.NotExists))
            {
                if (token is null && generateTokenOnCreate)
                {
                    token = generated = SecretTokens.Generate();
                }

                var idText = id.ToString(CultureInfo.InvariantCulture);
                await db.HashSetAsync(ServerKey(slug), [
                    new("id", idText),
                    new("slug", slug),
                    new("name", changes.Name ?? slug),
                    new("hostname", changes.Hostname ?? string.Empty),
                    new("description", changes.Description ?? string.Empty),
                    new("is_active", changes.IsActive ?? true ? "1" : "0"),
                    new("labels", JsonSerializer.Serialize(changes.Labels ?? new Dictionary<string, string>())),
                    new("token_hash", token is null ? string.Empty : SecretTokens.Hash(token)),
                    new("snapshot_count", 0),
                    new("created_at", time.GetUtcNow().ToUnixTimeMilliseconds()),
                ]);
                await db.HashSetAsync(Ids, idText, slug);
                created = true;
            }
        }

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
                await db.HashSetAsync(ServerKey(slug), [.. fields]);
            }
        }

        var server = await FindAsync(slug) ?? throw new InvalidOperationException($"server {slug} vanished while being registered");
        return (server, created, generated);
    }

    /// <summary>Replaces the server's token with a new one; the old one stops working at once.</summary>
    /// <returns>The new plaintext token, or null when there is no such server.</returns>
    public async Task<string?> RotateTokenAsync(string slug)
    {
        if (!await Db.KeyExistsAsync(ServerKey(slug)))
        {
            return null;
        }

        var token = SecretTokens.Generate();
        await Db.HashSetAsync(ServerKey(slug), "token_hash", SecretTokens.Hash(token));
        return token;
    }

    public async Task<bool> DeleteAsync(string slug)
    {
        var server = await FindAsync(slug);
        if (server is null)
        {
            return false;
        }

        var id = server.Id.ToString(CultureInfo.InvariantCulture);
        var deleted = await Db.KeyDeleteAsync(ServerKey(slug));
        await Db.HashDeleteAsync(Slugs, slug);
        await Db.HashDeleteAsync(Ids, id);
        await Db.KeyDeleteAsync([LatestKey(server.Id), CountersKey(server.Id)]);
        return deleted;
    }

    public async Task<MonitoredServer?> FindAsync(string slug) => (await FindWithTokenAsync(slug))?.Server;

    /// <summary>The server by slug or, when <paramref name="slugOrId"/> is a number that is no slug, by id.</summary>
    public async Task<MonitoredServer?> FindBySlugOrIdAsync(string slugOrId)
    {
        if (await FindAsync(slugOrId) is { } bySlug)
        {
            return bySlug;
        }

        if (long.TryParse(slugOrId, NumberStyles.None, CultureInfo.InvariantCulture, out _)
            && await Db.HashGetAsync(Ids, slugOrId) is { IsNull: false } slug)
        {
            return await FindAsync(slug.ToString());
        }

        return null;
    }

    /// <summary>The server and its stored token hash, for ingest authentication.</summary>
    public async Task<(MonitoredServer Server, string TokenHash)?> FindWithTokenAsync(string slug)
    {
        if (!SlugPattern().IsMatch(slug))
        {
            return null;
        }

        var entries = await Db.HashGetAllAsync(ServerKey(slug));
        if (entries.Length == 0)
        {
            return null;
        }

        var fields = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal);
        return (ToServer(fields), fields.GetValueOrDefault("token_hash", string.Empty));
    }

    /// <summary>Every registered server, by id.</summary>
    public async Task<IReadOnlyList<MonitoredServer>> ListAsync()
    {
        var slugs = await Db.HashKeysAsync(Slugs);
        var batch = Db.CreateBatch();
        var reads = slugs.Select(s => batch.HashGetAllAsync(ServerKey(s.ToString()))).ToList();
        batch.Execute();
        var servers = new List<MonitoredServer>();
        foreach (var read in reads)
        {
            var entries = await read;
            if (entries.Length > 0)
            {
                servers.Add(ToServer(entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString(), StringComparer.Ordinal)));
            }
        }

        return [.. servers.OrderBy(s => s.Id)];
    }

    public async Task<ulong> NextSnapshotIdAsync() => (ulong)await Db.StringIncrementAsync(NextSnapshotId);

    /// <summary>Records an accepted snapshot: last seen, agent version, count, and the latest snapshot itself.</summary>
    public async Task RecordSnapshotAsync(string slug, ServerSnapshot snapshot, AgentInfo? agent)
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
            [ServerKey(slug), LatestKey(snapshot.ServerId)],
            [
                snapshot.ReceivedAt.ToUnixTimeMilliseconds(),
                agent?.Version ?? string.Empty,
                snapshot.Sample.CollectedAt.ToUnixTimeMilliseconds(),
                JsonSerializer.Serialize(snapshot),
            ]);
    }

    public async Task<ServerSnapshot?> LatestSnapshotAsync(long serverId)
    {
        var json = await Db.StringGetAsync(LatestKey(serverId));
        return json.IsNull ? null : JsonSerializer.Deserialize<ServerSnapshot>(json.ToString());
    }

    /// <summary>
    /// Swaps the server's stored counters for <paramref name="next"/> (only when it is newer) and
    /// returns the ones it had, atomically, so replicas ingesting the same server agree on deltas.
    /// </summary>
    public async Task<CounterState?> SwapCountersAsync(long serverId, CounterState next, TimeSpan keep)
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
            [CountersKey(serverId)],
            [next.CollectedAtMs, JsonSerializer.Serialize(next), (long)keep.TotalMilliseconds]);
        return result is { Length: 2 } && !result[1].IsNull
            ? JsonSerializer.Deserialize<CounterState>(result[1].ToString())
            : null;
    }

    private static MonitoredServer ToServer(Dictionary<string, string> f) => new(
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
