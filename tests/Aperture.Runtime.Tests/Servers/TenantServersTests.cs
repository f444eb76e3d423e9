using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Servers;
using ClickHouse.Driver;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using static Aperture.Runtime.Tests.Servers.ServerSamples;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>One runtime with an admin token, shared by the tenant tests; each test keeps to tenants of its own.</summary>
public sealed class TenantServersFixture : IAsyncLifetime
{
    public const string AdminToken = "admin-token-for-the-tenant-tests";

    public RuntimeEnvironment Runtime { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            $"--Aperture:AuthToken={AdminToken}",
            "--Aperture:Servers:FlushInterval=00:00:00.100");

    public async ValueTask DisposeAsync() => await Runtime.DisposeAsync();
}

/// <summary>Every server, snapshot, counter and dashboard key is one tenant's; the admin token acts in X-Scope-OrgID's.</summary>
public sealed class TenantServersTests(TenantServersFixture fixture) : IClassFixture<TenantServersFixture>
{
    private RuntimeEnvironment Runtime => fixture.Runtime;

    private static DateTimeOffset Now => DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());

    /// <summary>A client with the admin token, acting in <paramref name="tenant"/> (null: no X-Scope-OrgID, the default tenant).</summary>
    private HttpClient Admin(string? tenant)
    {
        var http = new HttpClient { BaseAddress = Runtime.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new("Bearer", TenantServersFixture.AdminToken);
        if (tenant is not null)
        {
            http.DefaultRequestHeaders.Add("X-Scope-OrgID", tenant);
        }

        return http;
    }

    /// <summary>A client that presents a dashboard API key and nothing else.</summary>
    private HttpClient WithKey(string key)
    {
        var http = new HttpClient { BaseAddress = Runtime.Http.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Add("X-Api-Key", key);
        return http;
    }

    private static async Task<List<string?>> SlugsAsync(HttpClient http)
    {
        var (status, body) = await GetAsync(http, "/api/servers/");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        return [.. body.GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("slug").GetString())];
    }

    private async Task<long> ScalarAsync(string sql)
    {
        using var client = new ClickHouseClient(Runtime.ClickHouse.ConnectionString);
        return Convert.ToInt64(await client.ExecuteScalarAsync(sql, cancellationToken: Cancel), CultureInfo.InvariantCulture);
    }

    [Fact]
    public async Task Each_tenant_reads_and_changes_only_its_own_servers_and_metrics()
    {
        using var teamA = Admin("team-a");
        using var teamB = Admin("team-b");
        using var defaultTenant = Admin(null);
        var (a, aToken) = await PutServerAsync(teamA, "a-box", new { name = "A Box" });
        var (b, bToken) = await PutServerAsync(teamB, "b-box", new { name = "B Box" });

        // Ids are per tenant: both first servers are 1, and still nothing of one shows in the other.
        Assert.Equal(1, a.GetProperty("id").GetInt64());
        Assert.Equal(1, b.GetProperty("id").GetInt64());

        // Interleaved samples: each server's rates come from its own tenant's counters (50 % and 20 % busy).
        var t0 = Now.AddSeconds(-30);
        await IngestOkAsync(Runtime.Http, "a-box", aToken!, Wrapped(Sample(t0, busyMs: 10_000)));
        await IngestOkAsync(Runtime.Http, "b-box", bToken!, Wrapped(Sample(t0.AddSeconds(1), busyMs: 500_000)));
        var a2 = await IngestOkAsync(Runtime.Http, "a-box", aToken!, Wrapped(Sample(t0.AddSeconds(2), cpu: 11, busyMs: 11_000)));
        var b2 = await IngestOkAsync(Runtime.Http, "b-box", bToken!, Wrapped(Sample(t0.AddSeconds(3), cpu: 22, busyMs: 500_400)));
        Assert.Equal(50.0, a2.GetProperty("snapshot").GetProperty("disk_util_percent").GetDouble());
        Assert.Equal(20.0, b2.GetProperty("snapshot").GetProperty("disk_util_percent").GetDouble());

        Assert.Equal(["a-box"], await SlugsAsync(teamA));
        Assert.Equal(["b-box"], await SlugsAsync(teamB));
        var defaults = await SlugsAsync(defaultTenant);
        Assert.DoesNotContain("a-box", defaults);
        Assert.DoesNotContain("b-box", defaults);

        // Latest: by slug, by id and by fallback, always the caller's tenant's.
        var (status, latest) = await GetAsync(teamA, "/api/metrics/latest/");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("a-box", latest.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(11.0, latest.GetProperty("snapshot").GetProperty("cpu").GetProperty("usage_percent").GetDouble());
        Assert.Equal("b-box", (await GetAsync(teamB, "/api/metrics/latest/?server=1")).Body.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(22.0, (await GetAsync(teamB, "/api/metrics/latest/?server=1")).Body.GetProperty("snapshot").GetProperty("cpu").GetProperty("usage_percent").GetDouble());
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(teamA, "/api/metrics/latest/?server=b-box")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(teamA, "/api/metrics/history/?server=b-box")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(defaultTenant, "/api/metrics/latest/?server=a-box")).Status);

        // History: server 1 of each tenant has its own two rows in ClickHouse, never the other's.
        foreach (var (http, cpu, util) in new[] { (teamA, 11.0, 50.0), (teamB, 22.0, 20.0) })
        {
            var points = await WaitForAsync(async () =>
            {
                var (_, history) = await GetAsync(http, "/api/metrics/history/?server=1&minutes=5");
                return history.GetProperty("sample_count").GetInt64() >= 2 ? history.GetProperty("points") : (JsonElement?)null;
            });
            Assert.Equal(2, points.GetArrayLength());
            Assert.Equal(cpu, points[1].GetProperty("cpu_usage_percent").GetDouble());
            Assert.Equal(util, points[1].GetProperty("disk_util_percent").GetDouble());
        }

        Assert.Equal(2, await ScalarAsync($"SELECT count() FROM {Runtime.Database}.server_snapshots WHERE tenant = 'team-a' AND server_id = 1"));
        Assert.Equal(2, await ScalarAsync($"SELECT count() FROM {Runtime.Database}.server_snapshots WHERE tenant = 'team-b' AND server_id = 1"));

        // Each flush counts its snapshots in their tenant's usage.
        var usage = Runtime.App.Services.GetRequiredService<TenantUsage>();
        await Aperture.Testing.Eventually.HoldsAsync(async () =>
        {
            var counts = await usage.ThisMonthAsync(["team-a", "team-b"]);
            return counts["team-a"] == 2 && counts["team-b"] == 2;
        }, TimeSpan.FromSeconds(30), "two snapshots counted for each tenant", Cancel);

        // The admin routes see only the caller's tenant; a slug is unique across tenants (409, nothing changed).
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(teamA, "/api/admin/servers/b-box")).Status);
        using (var deleted = await teamA.DeleteAsync("/api/admin/servers/b-box", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, deleted.StatusCode);
        }

        using (var taken = await teamA.PutAsJsonAsync("/api/admin/servers/b-box", new { name = "Mine now" }, Cancel))
        {
            var body = await JsonAsync(taken);
            Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
            Assert.Equal("invalid_request", body.GetProperty("error").GetString());
            Assert.Equal("slug", body.GetProperty("details").GetProperty("field").GetString());
            Assert.DoesNotContain("team-b", body.ToString(), StringComparison.Ordinal);
        }

        using (var takenByDefault = await defaultTenant.PutAsJsonAsync("/api/admin/servers/a-box", new { name = "Mine now" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.Conflict, takenByDefault.StatusCode);
        }

        var (_, stillB) = await GetAsync(teamB, "/api/admin/servers/b-box");
        Assert.Equal("B Box", stillB.GetProperty("server").GetProperty("name").GetString());
        Assert.Equal(["a-box"], await SlugsAsync(teamA));

        // Once team-b deletes its server, the slug is free for any tenant, and the old token is dead.
        using (var deleted = await teamB.DeleteAsync("/api/admin/servers/b-box", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        var (moved, movedToken) = await PutServerAsync(teamA, "b-box", new { name = "B Box of team-a" });
        Assert.Equal(2, moved.GetProperty("id").GetInt64());
        using (var old = await IngestAsync(Runtime.Http, "b-box", bToken, Wrapped(Sample(Now)).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        await IngestOkAsync(Runtime.Http, "b-box", movedToken!, Wrapped(Sample(Now)));
        Assert.Equal(["a-box", "b-box"], await SlugsAsync(teamA));
        Assert.Empty(await SlugsAsync(teamB));
    }

    [Fact]
    public async Task A_dashboard_key_reads_its_own_tenant_only()
    {
        using var teamC = Admin("team-c");
        using var teamD = Admin("team-d");
        var (_, cToken) = await PutServerAsync(teamC, "c-box", new { name = "C Box" });
        await PutServerAsync(teamD, "d-box", new { name = "D Box" });
        await IngestOkAsync(Runtime.Http, "c-box", cToken!, Wrapped(Sample(Now)));

        // A key made by team-c's admin route, and one made for team-d on the command line.
        using var created = await teamC.PostAsJsonAsync("/api/admin/api-keys", new { name = "grafana-c" }, Cancel);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var cKey = (await JsonAsync(created)).GetProperty("key").GetString()!;
        var redis = Runtime.Redis.ConnectionString;
        var dOutput = await ServerIngestApiTests.RunCommandAsync("create-api-key", "reporter-d", "--tenant", "team-d", "--redis", redis);
        Assert.Contains("of tenant team-d", dOutput, StringComparison.Ordinal);
        var dKey = ServerIngestApiTests.TokenIn(dOutput);

        using var readerC = WithKey(cKey);
        using var readerD = WithKey(dKey);
        Assert.Equal(["c-box"], await SlugsAsync(readerC));
        Assert.Equal(["d-box"], await SlugsAsync(readerD));
        Assert.Equal("c-box", (await GetAsync(readerC, "/api/metrics/latest/")).Body.GetProperty("selected_server").GetProperty("slug").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(readerC, "/api/metrics/latest/?server=d-box")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(readerD, "/api/metrics/history/?server=c-box")).Status);

        // A key is a viewer: X-Scope-OrgID moves only a super-admin, and a key manages nothing.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/servers/"))
        {
            request.Headers.Add("X-Scope-OrgID", "team-d");
            using var response = await readerC.SendAsync(request, Cancel);
            var slugs = (await JsonAsync(response)).GetProperty("servers").EnumerateArray().Select(s => s.GetProperty("slug").GetString());
            Assert.Equal(["c-box"], slugs);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await GetAsync(readerC, "/api/admin/servers/c-box")).Status);

        // Each tenant lists and deletes only its own keys; the ids are per tenant.
        var (_, cKeys) = await GetAsync(teamC, "/api/admin/api-keys");
        var (_, dKeys) = await GetAsync(teamD, "/api/admin/api-keys");
        Assert.Equal(["grafana-c"], cKeys.GetProperty("api_keys").EnumerateArray().Select(k => k.GetProperty("name").GetString()));
        Assert.Equal(["reporter-d"], dKeys.GetProperty("api_keys").EnumerateArray().Select(k => k.GetProperty("name").GetString()));
        var cKeyId = cKeys.GetProperty("api_keys")[0].GetProperty("id").GetInt64();
        using (var deleted = await teamC.DeleteAsync($"/api/admin/api-keys/{cKeyId}", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(readerC, "/api/servers/")).Status);
        Assert.Equal(["d-box"], await SlugsAsync(readerD));

        // The command line registers in a tenant too, and refuses a slug another tenant holds or a bad tenant id.
        var registered = await ServerIngestApiTests.RunCommandAsync("register-server", "d-cli", "--tenant", "team-d", "--redis", redis);
        Assert.Contains("in tenant team-d", registered, StringComparison.Ordinal);
        Assert.Equal(["d-box", "d-cli"], await SlugsAsync(readerD));
        await IngestOkAsync(Runtime.Http, "d-cli", ServerIngestApiTests.TokenIn(registered), Wrapped(Sample(Now)));
        using var error = new StringWriter();
        Assert.Equal(2, await ServerCommandLine.RunAsync(["register-server", "c-box", "--tenant", "team-d", "--redis", redis], TextWriter.Null, error));
        Assert.Contains("another tenant", error.ToString(), StringComparison.Ordinal);
        Assert.Equal(2, await ServerCommandLine.RunAsync(["create-api-key", "x", "--tenant", "Team_D", "--redis", redis], TextWriter.Null, TextWriter.Null));
        Assert.Equal(["c-box"], await SlugsAsync(teamC));
    }

    [Fact]
    public async Task Servers_snapshots_counters_and_keys_stored_before_tenants_are_the_default_tenants()
    {
        // What the runtime wrote before tenants: keys under aperture:default: and no index of slugs or key hashes.
        const string slug = "legacy-box";
        const string token = "legacy-token-0123456789abcdef";
        const string key = "apk_legacy-dashboard-key-0123456789";
        var collected = Now.AddSeconds(-20);
        await using var redis = await ConnectionMultiplexer.ConnectAsync(Runtime.Redis.ConnectionString);
        var db = redis.GetDatabase();
        await db.StringSetAsync("aperture:default:servers:next_id", 41);
        await db.HashSetAsync($"aperture:default:servers:server:{slug}", [
            new("id", "41"), new("slug", slug), new("name", "Legacy Box"), new("hostname", "old01"), new("description", string.Empty),
            new("is_active", "1"), new("labels", "{}"), new("token_hash", SecretTokens.Hash(token)), new("snapshot_count", 1),
            new("created_at", collected.ToUnixTimeMilliseconds()), new("last_seen_at", collected.ToUnixTimeMilliseconds()),
            new("latest_snapshot_at", collected.ToUnixTimeMilliseconds()),
        ]);
        await db.HashSetAsync("aperture:default:servers:slugs", slug, 41);
        await db.HashSetAsync("aperture:default:servers:ids", 41, slug);
        var old = DashboardReadsTests.Snapshot(41, 7, collected, 33);
        var oldJson = JsonSerializer.SerializeToNode(old)!.AsObject();
        Assert.True(oldJson.Remove(nameof(ServerSnapshot.Tenant)));
        await db.StringSetAsync("aperture:default:servers:latest:41", oldJson.ToJsonString());
        var counters = CounterState.Of(new ServerSample { CollectedAt = collected, Disks = [new DiskSample("nvme0n1", 0, 0, 0, 0, 1_000)] });
        await db.HashSetAsync("aperture:default:servers:counters:41", [new("t", counters.CollectedAtMs), new("c", JsonSerializer.Serialize(counters))]);
        await db.StringSetAsync("aperture:default:dashboard_api_keys:next_id", 1);
        await db.HashSetAsync("aperture:default:dashboard_api_keys:keys", "1",
            new JsonObject { ["Id"] = 1, ["Name"] = "old-key", ["CreatedAt"] = collected, ["Hash"] = SecretTokens.Hash(key) }.ToJsonString());
        await db.HashSetAsync("aperture:default:dashboard_api_keys:by_hash", SecretTokens.Hash(key), "1");
        using (var client = new ClickHouseClient(Runtime.ClickHouse.ConnectionString))
        {
            await new ServerSnapshotStore(client, Runtime.Database).WriteAsync([old], "legacy-rows", Cancel);
        }

        using var defaultTenant = Admin(null);
        using var teamE = Admin("team-e");
        using var oldReader = WithKey(key);

        // The default tenant's, through the admin token, the old key, and the old ingest token.
        Assert.Contains(slug, await SlugsAsync(defaultTenant));
        Assert.Contains(slug, await SlugsAsync(oldReader));
        var (status, latest) = await GetAsync(oldReader, $"/api/metrics/latest/?server={slug}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(7, latest.GetProperty("snapshot").GetProperty("id").GetInt64());
        Assert.Equal(33.0, latest.GetProperty("snapshot").GetProperty("cpu").GetProperty("usage_percent").GetDouble());
        var (_, history) = await GetAsync(oldReader, "/api/metrics/history/?server=41&minutes=5");
        Assert.Equal(1, history.GetProperty("point_count").GetInt32());

        // A new sample's rates come from the counters kept before; its row is the default tenant's.
        var ingested = await IngestOkAsync(Runtime.Http, slug, token,
            Wrapped(Sample(collected.AddSeconds(2), busyMs: 1_500)));
        Assert.Equal(25.0, ingested.GetProperty("snapshot").GetProperty("disk_util_percent").GetDouble());
        await Aperture.Testing.Eventually.HoldsAsync(
            async () => await ScalarAsync($"SELECT count() FROM {Runtime.Database}.server_snapshots WHERE tenant = 'default' AND server_id = 41") == 2,
            TimeSpan.FromSeconds(30), "the new snapshot stored as the default tenant's", Cancel);
        var (_, server) = await GetAsync(defaultTenant, $"/api/admin/servers/{slug}");
        Assert.Equal(2, server.GetProperty("server").GetProperty("snapshot_count").GetInt64());

        // Another tenant neither sees the old server nor may take its slug.
        Assert.DoesNotContain(slug, await SlugsAsync(teamE));
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(teamE, "/api/metrics/latest/?server=41")).Status);
        using (var taken = await teamE.PutAsJsonAsync($"/api/admin/servers/{slug}", new { name = "Mine" }, Cancel))
        {
            Assert.Equal(HttpStatusCode.Conflict, taken.StatusCode);
        }

        // The default tenant still changes it in place, and its counters go on.
        var (updated, noToken) = await PutServerAsync(defaultTenant, slug, new { description = "kept" });
        Assert.Null(noToken);
        Assert.Equal(41, updated.GetProperty("id").GetInt64());
        Assert.Equal("Legacy Box", updated.GetProperty("name").GetString());
        var (next, _) = await PutServerAsync(defaultTenant, "after-legacy", new { name = "After" });
        Assert.Equal(42, next.GetProperty("id").GetInt64());

        // The old key is listed among the default tenant's, numbered on from it, and dies when deleted.
        using (var created = await defaultTenant.PostAsJsonAsync("/api/admin/api-keys", new { name = "new-key" }, Cancel))
        {
            Assert.Equal(2, (await JsonAsync(created)).GetProperty("api_key").GetProperty("id").GetInt64());
        }

        var (_, keys) = await GetAsync(defaultTenant, "/api/admin/api-keys");
        Assert.Equal(["old-key", "new-key"], keys.GetProperty("api_keys").EnumerateArray().Select(k => k.GetProperty("name").GetString()));
        var (_, teamEKeys) = await GetAsync(teamE, "/api/admin/api-keys");
        Assert.Equal(0, teamEKeys.GetProperty("api_keys").GetArrayLength());
        using (var deleted = await defaultTenant.DeleteAsync("/api/admin/api-keys/1", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(oldReader, "/api/servers/")).Status);
    }
}
