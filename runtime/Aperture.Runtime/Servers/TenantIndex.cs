using Aperture.Runtime.Platform;
using StackExchange.Redis;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Whose a name is that is unique across tenants (a server's slug, a dashboard key's hash): a global hash of
/// name → tenant, written since data had tenants. What was stored before is the default tenant's and is in no
/// index; it is found in the default tenant's own hash of those names instead, so nothing needs migrating.
/// </summary>
public static class TenantIndex
{
    /// <summary>The tenant of <paramref name="name"/> in <paramref name="index"/>, else default when <paramref name="legacyDefault"/> has it, else null; one round trip.</summary>
    public static async Task<string?> TenantOfAsync(IDatabase db, RedisKey index, RedisKey legacyDefault, RedisValue name) =>
        (string?)await db.ScriptEvaluateAsync(
            """
            local tenant = redis.call('HGET', KEYS[1], ARGV[1])
            if tenant then return tenant end
            if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return ARGV[2] end
            return false
            """,
            [index, legacyDefault],
            [name, Tenants.Default]);
}
