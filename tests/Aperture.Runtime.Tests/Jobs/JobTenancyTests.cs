using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Aperture.Runtime.Platform;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>
/// Every job datum belongs to one tenant: two tenants posting the same site and job ids each see their own
/// jobs, subjobs, stream events and idempotency keys; what was stored before jobs had tenants is the default
/// tenant's; the central API asks a site in the caller's tenant.
/// </summary>
public sealed class JobTenancyTests
{
    private const string AdminToken = "tenancy-s3cret";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A client of the jobs listener acting in <paramref name="tenant"/> (no header: the default tenant).</summary>
    private static HttpClient Client(RuntimeEnvironment runtime, string? tenant, string? token = null)
    {
        var http = new HttpClient { BaseAddress = runtime.JobsHttp.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (tenant is not null)
        {
            http.DefaultRequestHeaders.Add("X-Scope-OrgID", tenant);
        }

        return http;
    }

    private static string? Owner(System.Text.Json.JsonElement item) => item.GetProperty("metadata").GetProperty("owner").GetString();

    [Fact]
    public async Task Two_tenants_with_the_same_site_and_job_ids_see_only_their_own_jobs_subjobs_and_idempotency_keys()
    {
        Environment.SetEnvironmentVariable("APERTURE_AUTH_TOKEN", null);
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={AdminToken}", "--Aperture:Jobs:FlushInterval=00:00:00.100");
        using var teamA = Client(runtime, "team-a", AdminToken);
        using var teamB = Client(runtime, "team-b", AdminToken);
        using var fallback = Client(runtime, null, AdminToken);
        const string app = "tenancy";

        // The same site, job, subjob and idempotency key in both tenants.
        var a = await PostOkAsync(teamA, new JsonArray(
            Event(app, "j1", "started", T0, key: "k-1", metadata: new { owner = "team-a" }),
            Event(app, "s1", "started", T0.AddSeconds(1), type: "subjob", parent: "j1", key: "k-2", metadata: new { owner = "team-a" }),
            Event(app, "j1", "finished", T0.AddSeconds(30), key: "k-3")));
        var b = await PostOkAsync(teamB, new JsonArray(
            Event(app, "j1", "started", T0, key: "k-1", metadata: new { owner = "team-b" }),
            Event(app, "j1", "progress", T0.AddSeconds(5), key: "k-2", metrics: new { cpu_user_s = 4.0 })));
        Assert.Equal(3, a.GetProperty("accepted").GetInt32());
        Assert.Equal(0, a.GetProperty("duplicates").GetInt32());
        Assert.Equal(2, b.GetProperty("accepted").GetInt32());
        Assert.Equal(0, b.GetProperty("duplicates").GetInt32()); // team-a's keys are not team-b's

        // A replay is a replay within its own tenant.
        var replayA = await PostOkAsync(teamA, Event(app, "j1", "started", T0, key: "k-1", metadata: new { owner = "team-a" }));
        Assert.Equal(1, replayA.GetProperty("duplicates").GetInt32());
        var freshDefault = await PostOkAsync(fallback, Event(app, "other", "started", T0, key: "k-1", metadata: new { owner = "default" }));
        Assert.Equal(1, freshDefault.GetProperty("accepted").GetInt32());

        var jobA = Assert.Single(await ItemsAsync(teamA, $"/v1/jobs?app_name={app}"));
        Assert.Equal(Id(app, "j1"), jobA.Str("job_id"));
        Assert.Equal("team-a", Owner(jobA));
        Assert.Equal("succeeded", jobA.Str("status"));
        Assert.Equal(30.0, jobA.Num("duration_s"));
        Assert.Null(jobA.Num("cpu_user_s"));

        var jobB = Assert.Single(await ItemsAsync(teamB, $"/v1/jobs?app_name={app}"));
        Assert.Equal(Id(app, "j1"), jobB.Str("job_id"));
        Assert.Equal("fab1", jobB.Str("site_id"));
        Assert.Equal("team-b", Owner(jobB));
        Assert.Equal("running", jobB.Str("status"));
        Assert.Equal(4.0, jobB.Num("cpu_user_s"));
        Assert.Empty(await ItemsAsync(teamB, $"/v1/jobs?app_name={app}&status=succeeded"));

        var subjob = Assert.Single(await ItemsAsync(teamA, $"/v1/subjobs?app_name={app}"));
        Assert.Equal(Id(app, "j1"), subjob.Str("parent_job_id"));
        Assert.Empty(await ItemsAsync(teamB, $"/v1/subjobs?app_name={app}"));

        // The default tenant (no X-Scope-OrgID) has its own job only.
        var own = Assert.Single(await ItemsAsync(fallback, $"/v1/jobs?app_name={app}"));
        Assert.Equal(Id(app, "other"), own.Str("job_id"));

        // Stored once each, in its tenant: 3 + 1 events of team-a's (the replay is not stored), 2 of team-b's.
        using var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);
        Assert.Equal("default:1,team-a:3,team-b:2", await clickhouse.ExecuteScalarAsync(
            $"SELECT arrayStringConcat(groupArray(concat(toString(tenant), ':', toString(n))), ',') FROM " +
            $"(SELECT tenant, count() AS n FROM {runtime.Database}.job_events WHERE entity_id LIKE '{app}:%' GROUP BY tenant ORDER BY tenant)",
            cancellationToken: Cancel));

        // Each tenant's stored events count in its usage (events_this_month), once stored.
        var usage = runtime.App.Services.GetRequiredService<TenantUsage>();
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var counts = await usage.ThisMonthAsync(["team-a", "team-b", Tenants.Default]);
            return counts["team-a"] == 3 && counts["team-b"] == 2 && counts[Tenants.Default] == 1;
        }, TimeSpan.FromSeconds(10), "usage of 3, 2 and 1 events");
    }

    [Fact]
    public async Task Each_tenant_streams_only_its_own_events_live_and_resumed_from_the_buffer_and_from_storage()
    {
        // Open mode: X-Scope-OrgID names the tenant.
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:StreamBuffer=16", "--Aperture:Jobs:HeartbeatInterval=00:00:00.200",
            "--Aperture:Jobs:FlushInterval=00:00:00.100");
        using var teamA = Client(runtime, "team-a");
        using var teamB = Client(runtime, "team-b");
        const string app = "tenancy-stream";

        JsonNode Posted(string owner, int n) => Event(app, $"j{n}", "started", T0.AddSeconds(n), metadata: new { owner, n });

        // The numbers of the next events, all of which must be the owner's, and the id of the last.
        async Task<(List<int> Numbers, string LastId)> ReadAsync(StreamClient client, string owner, int count)
        {
            var numbers = new List<int>();
            var last = string.Empty;
            for (var i = 0; i < count; i++)
            {
                var (id, data) = await client.NextAsync();
                Assert.Equal(owner, data.GetProperty("metadata").GetProperty("owner").GetString());
                numbers.Add(data.GetProperty("metadata").GetProperty("n").GetInt32());
                last = id;
            }

            return (numbers, last);
        }

        await using var streamB = await StreamClient.ConnectAsync(teamB);
        var streamA = await StreamClient.ConnectAsync(teamA);

        // Live: the same job ids in both tenants, interleaved.
        for (var n = 0; n < 2; n++)
        {
            await PostOkAsync(teamA, Posted("team-a", n));
            await PostOkAsync(teamB, Posted("team-b", n));
        }

        var (live, lastSeen) = await ReadAsync(streamA, "team-a", 2);
        Assert.Equal([0, 1], live);
        Assert.Equal([0, 1], (await ReadAsync(streamB, "team-b", 2)).Numbers);
        await streamA.DisposeAsync();

        // Missed a few (within the buffer): team-b's events in between are not replayed to team-a.
        for (var n = 2; n < 4; n++)
        {
            await PostOkAsync(teamB, Posted("team-b", n));
            await PostOkAsync(teamA, Posted("team-a", n));
        }

        await using (var resumed = await StreamClient.ConnectAsync(teamA, lastSeen))
        {
            (var replayed, lastSeen) = await ReadAsync(resumed, "team-a", 2);
            Assert.Equal([2, 3], replayed);
            await resumed.WaitCommentsAsync(resumed.Comments + 2, TimeSpan.FromSeconds(5));
        }

        Assert.Equal([2, 3], (await ReadAsync(streamB, "team-b", 2)).Numbers);

        // Missed more than the buffer holds: the older part comes from storage, still team-a's only.
        var batchA = new JsonArray();
        var batchB = new JsonArray();
        for (var n = 4; n < 24; n++)
        {
            batchA.Add(Posted("team-a", n));
            batchB.Add(Posted("team-b", n));
        }

        await PostOkAsync(teamA, batchA);
        await PostOkAsync(teamB, batchB);
        await using (var resumed = await StreamClient.ConnectAsync(teamA, lastSeen))
        {
            Assert.Equal(Enumerable.Range(4, 20), (await ReadAsync(resumed, "team-a", 20)).Numbers);
            await resumed.WaitCommentsAsync(resumed.Comments + 2, TimeSpan.FromSeconds(5));
        }

        Assert.Equal(Enumerable.Range(4, 20), (await ReadAsync(streamB, "team-b", 20)).Numbers);
        await streamB.WaitCommentsAsync(streamB.Comments + 2, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task What_was_stored_before_jobs_had_tenants_is_the_default_tenants_and_its_jobs_go_on()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:HeartbeatInterval=00:00:00.200", "--Aperture:Jobs:FlushInterval=00:00:00.100");
        using var fallback = Client(runtime, null);
        using var teamA = Client(runtime, "team-a");
        const string app = "tenancy-legacy";
        await PostOkAsync(fallback, new JsonArray(
            Event(app, "j", "started", T0, key: "old-1", metrics: new { mem_max_mb = 700.0 }, metadata: new { host = "n0" }),
            Event(app, "s", "started", T0.AddSeconds(1), type: "subjob", parent: "j")));
        Assert.Single(await ItemsAsync(fallback, $"/v1/jobs?app_name={app}"));
        await runtime.StopRuntimeAsync();

        // Make the database what a runtime before migration 7 left: the tables of migration 4 without a tenant
        // column, holding the same rows (fold records without a tenant), and the idempotency key in the old form.
        var db = runtime.Database;
        using (var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString))
        {
            async Task RunAsync(string sql) => await clickhouse.ExecuteNonQueryAsync(sql, cancellationToken: Cancel);
            const string eventColumns = "site_id, entity_type, entity_id, parent_id, kind, at, status, stream_id, idempotency_key, received_at, payload";
            const string stateColumns = "site_id, entity_type, job_id, parent_id, app_id, app_name, app_version, job_key, sub_key, status, started_at, ended_at, " +
                "duration_s, cpu_user_s, cpu_system_s, mem_max_mb, metadata, inserted_at, version";
            await RunAsync($"CREATE TABLE {db}.saved_events ENGINE = MergeTree ORDER BY tuple() AS SELECT {eventColumns} FROM {db}.job_events");
            await RunAsync($"CREATE TABLE {db}.saved_state ENGINE = MergeTree ORDER BY tuple() AS " +
                $"SELECT {stateColumns}, replaceOne(state, '\"tenant\":\"default\",', '') AS state FROM {db}.job_state");
            Assert.Equal(0UL, (ulong)(await clickhouse.ExecuteScalarAsync($"SELECT countIf(position(state, 'tenant') > 0) FROM {db}.saved_state", cancellationToken: Cancel))!);
            await RunAsync($"DROP TABLE {db}.job_events");
            await RunAsync($"DROP TABLE {db}.job_state");
            await RunAsync($"DELETE FROM {db}.schema_migrations WHERE version = 7");
            foreach (var statement in Runtime.Jobs.JobsSchema.Migrations.Single(m => m.Version == 4).Statements)
            {
                await RunAsync(statement.Replace("{database}", db, StringComparison.Ordinal));
            }

            await RunAsync($"INSERT INTO {db}.job_events ({eventColumns}) SELECT {eventColumns} FROM {db}.saved_events");
            await RunAsync($"INSERT INTO {db}.job_state ({stateColumns}, state) SELECT {stateColumns}, state FROM {db}.saved_state");
            await RunAsync($"DROP TABLE {db}.saved_events");
            await RunAsync($"DROP TABLE {db}.saved_state");
        }

        using (var redis = await ConnectionMultiplexer.ConnectAsync(runtime.Redis.ConnectionString))
        {
            Assert.True(await redis.GetDatabase().KeyRenameAsync("aperture:default:jobs:idempotency:fab1:old-1", "aperture:jobs:idempotency:fab1:old-1"));
        }

        // The new runtime applies migration 7 to those tables.
        await runtime.StartRuntimeAsync();

        // The stored events are the default tenant's on the stream too (resumed from storage), not team-a's.
        await using (var history = await StreamClient.ConnectAsync(fallback, "0"))
        {
            Assert.Equal([Id(app, "j"), Id(app, "s")], [(await history.NextAsync()).Data.GetProperty("entity_id").GetString(), (await history.NextAsync()).Data.GetProperty("entity_id").GetString()]);
            await history.WaitCommentsAsync(history.Comments + 2, TimeSpan.FromSeconds(5));
        }

        await using (var other = await StreamClient.ConnectAsync(teamA, "0"))
        {
            await other.WaitCommentsAsync(other.Comments + 2, TimeSpan.FromSeconds(5));
        }

        // The old key is still a replay for the default tenant; in team-a it is a key like any other.
        Assert.Equal(1, (await PostOkAsync(fallback, Event(app, "j", "started", T0, key: "old-1"))).GetProperty("duplicates").GetInt32());
        Assert.Equal(0, (await PostOkAsync(teamA, Event(app, "j", "started", T0, key: "old-1"))).GetProperty("duplicates").GetInt32());

        // The old job goes on from its stored state: one job, its earlier metrics and metadata kept.
        await PostOkAsync(fallback, Event(app, "j", "finished", T0.AddSeconds(40), metadata: new { step = 2 }));
        var job = Assert.Single(await ItemsAsync(fallback, $"/v1/jobs?app_name={app}"));
        Assert.Equal("succeeded", job.Str("status"));
        Assert.Equal(40.0, job.Num("duration_s"));
        Assert.Equal(700.0, job.Num("mem_max_mb"));
        Assert.Equal("n0", job.GetProperty("metadata").GetProperty("host").GetString());
        Assert.Equal(2, job.GetProperty("metadata").GetProperty("step").GetInt32());
        Assert.Single(await ItemsAsync(fallback, $"/v1/subjobs?app_name={app}"));

        // team-a's job of the same id is its own.
        var theirs = Assert.Single(await ItemsAsync(teamA, $"/v1/jobs?app_name={app}"));
        Assert.Equal("running", theirs.Str("status"));
        Assert.Empty(await ItemsAsync(teamA, $"/v1/subjobs?app_name={app}"));
    }

    [Fact]
    public async Task The_central_API_asks_the_site_in_the_callers_tenant()
    {
        Environment.SetEnvironmentVariable("APERTURE_AUTH_TOKEN", null);
        const string siteToken = "site-s3cret";
        await using var site = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={siteToken}");
        await using var central = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.CentralRole,
            $"--Aperture:AuthToken={AdminToken}",
            $"--Aperture:Central:Sites:fab1=http://127.0.0.1:{site.JobsPort}",
            $"--Aperture:Central:SiteTokens:fab1={siteToken}");
        const string app = "tenancy-central";
        foreach (var tenant in (string[])["team-a", "team-b"])
        {
            using var poster = Client(site, tenant, siteToken);
            await PostOkAsync(poster, new JsonArray(
                Event(app, "j", "started", T0, metadata: new { owner = tenant }),
                Event(app, "s", "started", T0.AddSeconds(1), type: "subjob", parent: "j", metadata: new { owner = tenant })));
        }

        foreach (var tenant in (string[])["team-a", "team-b"])
        {
            using var caller = Client(central, tenant, AdminToken);
            var job = Assert.Single(await ItemsAsync(caller, $"/v1/jobs?site=fab1&app_name={app}"));
            Assert.Equal(Id(app, "j"), job.Str("job_id"));
            Assert.Equal(tenant, Owner(job));
            var subjob = Assert.Single(await ItemsAsync(caller, $"/v1/subjobs?site=fab1&app_name={app}"));
            Assert.Equal(tenant, Owner(subjob));
        }

        // The default tenant has no such jobs on the site; a caller without a credential gets nothing at all.
        using var fallback = Client(central, null, AdminToken);
        Assert.Empty(await ItemsAsync(fallback, $"/v1/jobs?site=fab1&app_name={app}"));
        using var anonymous = Client(central, "team-a");
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(anonymous, $"/v1/jobs?site=fab1&app_name={app}")).Status);
    }
}
