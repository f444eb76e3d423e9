using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Hosting;
using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Access;

/// <summary>The identity routes of the central runtime, and its keys and tokens at work on a Site's runtime.</summary>
public sealed class IdentityApiTests
{
    private const string AdminToken = "central-admin-token";
    private static readonly string[] TeamsBAndA = ["team-b", "team-a"];
    private static readonly string[] TeamB = ["team-b"];
    private static readonly string[] UnknownTeam = ["team-zz"];

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    internal static async Task<(HttpStatusCode Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(
        HttpClient http, HttpMethod method, string path, string? bearer = null, object? body = null, string? tenant = null, string? apiKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", bearer);
        }

        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        if (tenant is not null)
        {
            request.Headers.Add(AdminTokenSource.ScopeHeader, tenant);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        var response = await http.SendAsync(request, Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        var json = text.Length > 0 && text.TrimStart().StartsWith('{') ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return (response.StatusCode, json, response);
    }

    internal static async Task<string> CreateKeyAsync(HttpClient central, string tenant, string scope, int rateLimit = 1000, string? expiresAt = null)
    {
        var (status, body, _) = await SendAsync(central, HttpMethod.Post, "/api/v1/apikeys", AdminToken,
            new { name = $"{scope} key", scope, rate_limit_rps = rateLimit, expires_at = expiresAt }, tenant);
        Assert.Equal(HttpStatusCode.Created, status);
        return body.GetProperty("api_key").GetString()!;
    }

    [Fact]
    public async Task Tenants_are_registered_once_and_listed_by_a_super_admin_only()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={AdminToken}");
        var http = central.Http;

        var (created, body, _) = await SendAsync(http, HttpMethod.Post, "/api/v1/tenants", AdminToken,
            new { tenant_id = "acme-corp", name = "Acme Corporation", plan = "pro", contact_email = "ops@acme.com" });
        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal("acme-corp", body.GetProperty("tenant_id").GetString());
        Assert.True(body.GetProperty("created_at").GetDateTimeOffset() > DateTimeOffset.UnixEpoch);

        var (again, error, _) = await SendAsync(http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = "acme-corp", name = "Other" });
        Assert.Equal(HttpStatusCode.Conflict, again);
        Assert.Equal("tenant_id", error.GetProperty("details").GetProperty("field").GetString());

        var (bad, badBody, _) = await SendAsync(http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = "Not_A_Tenant", name = "x" });
        Assert.Equal(HttpStatusCode.BadRequest, bad);
        Assert.Equal("invalid_request", badBody.GetProperty("error").GetString());

        var (listed, list, _) = await SendAsync(http, HttpMethod.Get, "/api/v1/tenants", AdminToken);
        Assert.Equal(HttpStatusCode.OK, listed);
        var tenants = list.GetProperty("tenants").EnumerateArray().ToList();
        Assert.Equal(["acme-corp", "default"], tenants.Select(t => t.GetProperty("tenant_id").GetString()));
        var acme = tenants[0];
        Assert.Equal("Acme Corporation", acme.GetProperty("name").GetString());
        Assert.Equal("pro", acme.GetProperty("plan").GetString());
        Assert.Equal(0, acme.GetProperty("events_this_month").GetInt64());

        // An admin of a tenant (an admin-scoped key) may manage keys but not tenants.
        var admin = await CreateKeyAsync(http, "acme-corp", "admin");
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(http, HttpMethod.Get, "/api/v1/tenants", admin)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(http, HttpMethod.Get, "/api/v1/tenants")).Status);
    }

    [Fact]
    public async Task An_api_key_is_shown_once_listed_by_prefix_pushes_only_its_tenant_and_stops_at_every_site_when_revoked()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={AdminToken}");
        // The Site shares the central runtime's Redis, so the usage it counts is the one the central lists.
        await using var site = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.AggregatorRole,
            "--Aperture:AuthToken=site-admin-token",
            $"--Aperture:Identity:CentralUrl=http://127.0.0.1:{central.HttpPort}",
            "--Aperture:Identity:KeyCacheTtl=00:00:01",
            "--Aperture:Profiling:FlushInterval=00:00:00.100",
            "--redis", central.Redis.ConnectionString);
        await SendAsync(central.Http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = "team-a", name = "Team A" });
        await SendAsync(central.Http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = "team-b", name = "Team B" });

        var (created, key, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/apikeys", AdminToken,
            new { name = "Production Ingestion", scope = "ingestion", rate_limit_rps = 1000, expires_at = "2030-01-01T00:00:00Z" }, "team-a");
        Assert.Equal(HttpStatusCode.Created, created);
        var ingestion = key.GetProperty("api_key").GetString()!;
        var keyId = key.GetProperty("key_id").GetString()!;
        Assert.Equal("ingestion", key.GetProperty("scope").GetString());
        Assert.StartsWith("aperture_", ingestion, StringComparison.Ordinal);

        // Listed by prefix only, and only in its own tenant.
        var (_, listA, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/apikeys", AdminToken, tenant: "team-a");
        var listed = Assert.Single(listA.GetProperty("api_keys").EnumerateArray());
        Assert.Equal(keyId, listed.GetProperty("key_id").GetString());
        Assert.Equal(ingestion[..13], listed.GetProperty("prefix").GetString());
        Assert.DoesNotContain(ingestion, listA.ToString(), StringComparison.Ordinal);
        var (_, listB, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/apikeys", AdminToken, tenant: "team-b");
        Assert.Empty(listB.GetProperty("api_keys").EnumerateArray());

        // The key knows what it is.
        var (_, permissions, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", ingestion);
        Assert.Equal("team-a", permissions.GetProperty("tenant_id").GetString());
        Assert.Equal(keyId, permissions.GetProperty("user_id").GetString());
        Assert.Equal(["ingest"], permissions.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));

        // At the Site: an ingestion key pushes (over gRPC and HTTP) into its tenant and reads nothing.
        var agent = Agent("keyed");
        using (var channel = site.GrpcChannel())
        {
            var client = new Aggregator.AggregatorClient(channel);
            var response = await client.PushAsync(Batch(agent, 1, Cpu(T0, 7, "main", "keyed")), new Metadata { { "authorization", $"Bearer {ingestion}" } }, cancellationToken: Cancel);
            Assert.True(response.Accepted, response.Error);
            var refused = await Assert.ThrowsAsync<RpcException>(async () =>
                await client.AggregateAsync(new AggregateRequest { AgentId = agent }, new Metadata { { "x-api-key", ingestion } }, cancellationToken: Cancel));
            Assert.Equal(StatusCode.PermissionDenied, refused.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", ingestion, new { agent_id = agent })).Status);
        var (_, ofA, _) = await SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", "site-admin-token", new { agent_id = agent }, "team-a");
        Assert.Equal(7UL, ofA.GetProperty("total_events").GetUInt64());
        var (_, ofB, _) = await SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", "site-admin-token", new { agent_id = agent }, "team-b");
        Assert.Equal(0UL, ofB.GetProperty("total_events").GetUInt64());

        // The stored events count for the tenant's month.
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, tenants, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/tenants/team-a", AdminToken);
            return tenants.GetProperty("events_this_month").GetInt64() == 1;
        }, TimeSpan.FromSeconds(20), "team-a's stored event counted");

        // Revoked: refused at the central runtime at once, and at the Site once its cache (1 s here, at most 30 s) lapses.
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(central.Http, HttpMethod.Delete, $"/api/v1/apikeys/{keyId}", AdminToken, tenant: "team-a")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(central.Http, HttpMethod.Delete, $"/api/v1/apikeys/{keyId}", AdminToken, tenant: "team-b")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", ingestion)).Status);
        var took = await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            using var push = new ByteArrayContent(Batch(agent, 2, Cpu(T0 + 1, 1, "main", "late")).ToByteArray());
            push.Headers.ContentType = new("application/x-protobuf");
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/push") { Content = push };
            request.Headers.Authorization = new("Bearer", ingestion);
            using var response = await site.Http.SendAsync(request, Cancel);
            return response.StatusCode == HttpStatusCode.Unauthorized;
        }, TimeSpan.FromSeconds(30), "the revoked key refused at the Site");
        Assert.True(took < TimeSpan.FromSeconds(30));
        var (_, listedAfter, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/apikeys", AdminToken, tenant: "team-a");
        Assert.True(listedAfter.GetProperty("api_keys")[0].GetProperty("revoked").GetBoolean());
        Assert.DoesNotContain(central.Logs.Lines.Concat(site.Logs.Lines), line => line.Contains(ingestion, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_sites_agent_key_pushes_into_exactly_its_targets_tenants()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={AdminToken}");
        await using var site = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.AggregatorRole, "--Aperture:AuthToken=site-admin-token", $"--Aperture:Identity:CentralUrl=http://127.0.0.1:{central.HttpPort}");
        foreach (var tenant in new[] { "team-a", "team-b", "team-c" })
        {
            await SendAsync(central.Http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = tenant, name = tenant });
        }

        var (created, made, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/apikeys", AdminToken,
            new { name = "site-1 agents", scope = "ingestion", tenants = TeamsBAndA }, "team-a");
        Assert.Equal(HttpStatusCode.Created, created);
        Assert.Equal(["team-a", "team-b"], made.GetProperty("tenants").EnumerateArray().Select(t => t.GetString()));
        var siteKey = made.GetProperty("api_key").GetString()!;
        var (_, permissions, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", siteKey);
        Assert.Equal(["team-a", "team-b"], permissions.GetProperty("tenants").EnumerateArray().Select(t => t.GetString()));

        // Only for ingestion keys, only from a super-admin, only of registered tenants.
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(central.Http, HttpMethod.Post, "/api/v1/apikeys", AdminToken,
            new { name = "x", scope = "read", tenants = TeamB }, "team-a")).Status);
        Assert.Equal(HttpStatusCode.BadRequest, (await SendAsync(central.Http, HttpMethod.Post, "/api/v1/apikeys", AdminToken,
            new { name = "x", scope = "ingestion", tenants = UnknownTeam }, "team-a")).Status);
        var tenantAdmin = await CreateKeyAsync(central.Http, "team-a", "admin");
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(central.Http, HttpMethod.Post, "/api/v1/apikeys", tenantAdmin,
            new { name = "x", scope = "ingestion", tenants = TeamB })).Status);
        var plainKey = await CreateKeyAsync(central.Http, "team-a", "ingestion");

        var agent = Agent("multi");
        using var channel = site.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        async Task<StatusCode> PushAsync(string key, ulong sequence, string? tenant, string function)
        {
            var batch = Batch(agent, sequence, Cpu(T0, 1, "main", function));
            batch.Tenant = tenant ?? string.Empty;
            try
            {
                var response = await client.PushAsync(batch, new Metadata { { "authorization", $"Bearer {key}" } }, cancellationToken: Cancel);
                Assert.True(response.Accepted, response.Error);
                return StatusCode.OK;
            }
            catch (RpcException e)
            {
                return e.StatusCode;
            }
        }

        Assert.Equal(StatusCode.OK, await PushAsync(siteKey, 1, "team-a", "a_named"));
        Assert.Equal(StatusCode.OK, await PushAsync(siteKey, 1, "team-b", "b_named"));
        Assert.Equal(StatusCode.OK, await PushAsync(siteKey, 2, null, "a_unnamed"));
        Assert.Equal(StatusCode.PermissionDenied, await PushAsync(siteKey, 3, "team-c", "c_named"));
        Assert.Equal(StatusCode.PermissionDenied, await PushAsync(plainKey, 4, "team-b", "b_by_plain_key"));
        Assert.Equal(StatusCode.InvalidArgument, await PushAsync(siteKey, 5, "Not A Tenant", "bad"));

        async Task<string> StacksOfAsync(string tenant)
        {
            var (_, aggregate, _) = await SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", "site-admin-token", new { agent_id = agent }, tenant);
            return aggregate.GetProperty("cpu").ToString();
        }

        var ofA = await StacksOfAsync("team-a");
        Assert.Contains("a_named", ofA, StringComparison.Ordinal);
        Assert.Contains("a_unnamed", ofA, StringComparison.Ordinal);
        Assert.DoesNotContain("b_named", ofA, StringComparison.Ordinal);
        var ofB = await StacksOfAsync("team-b");
        Assert.Contains("b_named", ofB, StringComparison.Ordinal);
        Assert.DoesNotContain("a_named", ofB, StringComparison.Ordinal);
        Assert.DoesNotContain("b_by_plain_key", ofB, StringComparison.Ordinal);
        Assert.DoesNotContain("c_named", await StacksOfAsync("team-c"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_over_its_rate_limit_is_answered_429_with_retry_after_and_an_expired_key_is_refused()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={AdminToken}");
        await SendAsync(central.Http, HttpMethod.Post, "/api/v1/tenants", AdminToken, new { tenant_id = "team-a", name = "Team A" });
        var slow = await CreateKeyAsync(central.Http, "team-a", "read", rateLimit: 1);

        var statuses = new List<HttpResponseMessage>();
        for (var i = 0; i < 10; i++)
        {
            statuses.Add((await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", slow)).Response);
        }

        Assert.Equal(HttpStatusCode.OK, statuses[0].StatusCode);
        var limited = statuses.First(r => r.StatusCode == HttpStatusCode.TooManyRequests);
        Assert.True(int.Parse(limited.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        var limitedBody = JsonDocument.Parse(await limited.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal("rate_limited", limitedBody.GetProperty("details").GetProperty("reason").GetString());

        var expiresAt = TimeProvider.System.GetUtcNow().AddSeconds(5);
        var shortLived = await CreateKeyAsync(central.Http, "team-a", "read", expiresAt: expiresAt.ToString("O"));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", shortLived)).Status);
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", shortLived)).Status == HttpStatusCode.Unauthorized,
            TimeSpan.FromSeconds(30), "the expired key refused");
        Assert.True(TimeProvider.System.GetUtcNow() >= expiresAt);
    }

    [Fact]
    public async Task Bad_tokens_are_refused_with_401_and_never_logged()
    {
        using var keys = new Aperture.Testing.TemporaryDirectory("aperture-keys");
        await using var central = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.CentralRole, $"--Aperture:AuthToken={AdminToken}", $"--Aperture:Tokens:KeyDirectory={keys.Path}");
        var issuer = central.App.Services.GetRequiredService<RuntimeTokenIssuer>();
        var good = issuer.Issue("default", "alice@example.com", Role.Editor, TimeSpan.FromMinutes(5));

        var (ok, me, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", good);
        Assert.Equal(HttpStatusCode.OK, ok);
        Assert.Equal("alice@example.com", me.GetProperty("user_id").GetString());
        Assert.Equal("editor", me.GetProperty("role").GetString());
        Assert.Equal(2, me.GetProperty("level").GetInt32());
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(central.Http, HttpMethod.Get, "/api/v1/apikeys", good)).Status);

        var parts = good.Split('.');
        static string B64(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        var payload = Encoding.UTF8.GetString(Convert.FromBase64String(parts[1].Replace('-', '+').Replace('_', '/').PadRight((parts[1].Length + 3) / 4 * 4, '=')));
        string[] bad =
        [
            $"{B64("{\"alg\":\"none\",\"typ\":\"JWT\"}")}.{parts[1]}.",
            $"{parts[0]}.{B64(payload.Replace("\"editor\"", "\"super-admin\"", StringComparison.Ordinal))}.{parts[2]}",
            $"{parts[0]}.{parts[1]}.{parts[2][..^4]}AAAA",
            "not.a.token",
            "garbage-that-is-no-key",
            issuer.Issue("default", "alice@example.com", Role.Editor, TimeSpan.FromMinutes(5))[..^2],
        ];
        foreach (var token in bad)
        {
            var (status, error, response) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", token);
            Assert.Equal(HttpStatusCode.Unauthorized, status);
            Assert.Equal("unauthorized", error.GetProperty("error").GetString());
            Assert.DoesNotContain(token, error.ToString(), StringComparison.Ordinal);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        }

        Assert.DoesNotContain(central.Logs.Lines, line => bad.Append(good).Any(token => line.Contains(token, StringComparison.Ordinal)));
    }
}
