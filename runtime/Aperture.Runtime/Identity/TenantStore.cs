using System.Text.Json;
using Aperture.Runtime.Platform;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using StackExchange.Redis;

namespace Aperture.Runtime.Identity;

/// <summary>
/// Tenants: ClickHouse holds the record, Redis the copy each request reads. A create claims the id in Redis
/// first (HSETNX), so two creates of one id never both succeed.
/// </summary>
public sealed class TenantStore(IConnectionMultiplexer redis, ClickHouseClient client, string database, TimeProvider time)
{
    private static readonly RedisKey TenantsKey = "aperture:identity:tenants";

    private IDatabase Db => redis.GetDatabase();

    /// <returns>The new tenant, or null when the id is taken.</returns>
    public async Task<TenantRecord?> CreateAsync(string tenantId, string name, string plan, string? contactEmail, CancellationToken cancellationToken)
    {
        var record = new TenantRecord(tenantId, name, plan, contactEmail, time.GetUtcNow());
        if (await FindAsync(tenantId, cancellationToken) is not null || !await Db.HashSetAsync(TenantsKey, tenantId, JsonSerializer.Serialize(record), When.NotExists))
        {
            return null;
        }

        try
        {
            await InsertAsync(record, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Not recorded: let the id be taken again rather than leave a tenant that a restart of Redis would lose.
            await Db.HashDeleteAsync(TenantsKey, tenantId);
            throw;
        }

        return record;
    }

    /// <summary>The default tenant exists from the start: rows written before tenants existed belong to it.</summary>
    public async Task EnsureDefaultAsync(CancellationToken cancellationToken)
    {
        if (await FindAsync(Tenants.Default, cancellationToken) is null)
        {
            await CreateAsync(Tenants.Default, "Default", "free", null, cancellationToken);
        }
    }

    public async Task<TenantRecord?> FindAsync(string tenantId, CancellationToken cancellationToken)
    {
        var cached = await Db.HashGetAsync(TenantsKey, tenantId);
        if (!cached.IsNull)
        {
            return JsonSerializer.Deserialize<TenantRecord>(cached.ToString());
        }

        // Redis lost it (a restart without persistence): the record decides, and Redis learns it again.
        var stored = await ReadAsync(tenantId, cancellationToken);
        if (stored.Count == 1)
        {
            await Db.HashSetAsync(TenantsKey, tenantId, JsonSerializer.Serialize(stored[0]));
            return stored[0];
        }

        return null;
    }

    public Task<IReadOnlyList<TenantRecord>> ListAsync(CancellationToken cancellationToken) => ReadAsync(null, cancellationToken);

    private async Task<IReadOnlyList<TenantRecord>> ReadAsync(string? tenantId, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("id", tenantId ?? string.Empty);
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT tenant_id, name, toString(plan), contact_email, toUnixTimestamp64Milli(created_at) FROM `{database}`.tenants FINAL " +
            "WHERE {id:String} = '' OR tenant_id = {id:String} ORDER BY tenant_id",
            parameters,
            cancellationToken: cancellationToken);
        var tenants = new List<TenantRecord>();
        while (await reader.ReadAsync(cancellationToken))
        {
            var email = reader.GetString(3);
            tenants.Add(new TenantRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), email.Length == 0 ? null : email,
                DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4))));
        }

        return tenants;
    }

    private async Task InsertAsync(TenantRecord record, CancellationToken cancellationToken)
    {
        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("id", record.TenantId);
        parameters.AddParameter("name", record.Name);
        parameters.AddParameter("plan", record.Plan);
        parameters.AddParameter("email", record.ContactEmail ?? string.Empty);
        parameters.AddParameter("created", record.CreatedAt.ToUnixTimeMilliseconds());
        parameters.AddParameter("version", (ulong)time.GetUtcNow().ToUnixTimeMilliseconds());
        await client.ExecuteNonQueryAsync(
            $"INSERT INTO `{database}`.tenants (tenant_id, name, plan, contact_email, created_at, version) VALUES " +
            "({id:String}, {name:String}, {plan:String}, {email:String}, fromUnixTimestamp64Milli({created:Int64}, 'UTC'), {version:UInt64})",
            parameters,
            cancellationToken: cancellationToken);
    }
}
