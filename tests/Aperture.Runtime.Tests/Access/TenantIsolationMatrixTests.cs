using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Access;

/// <summary>
/// Two tenants with data in every store (profiles, alert rules, monitored servers and their snapshots, jobs, API
/// keys); every read route of both roles, taken from the route tables themselves, asked with each kind of
/// credential: tenant A's principals see A's data and never B's, and each credential gets its 200, 401 or 403.
/// A read route added later without a recipe here fails the test.
/// </summary>
public sealed class TenantIsolationMatrixTests
{
    private const string SiteToken = "matrix-site-token";
    private const string CentralToken = "matrix-central-token";
    private const string A = "team-a";
    private const string B = "team-b";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A request against one of the runtimes with a credential; the body, whatever it is, as text.</summary>
    private delegate Task<(HttpStatusCode Status, string Body)> Recipe(Setup setup, Credential credential);

    private sealed record Credential(string Name, string? Bearer, string? Tenant, HttpStatusCode Expected, bool SeesA);

    private sealed class Setup
    {
        public required RuntimeEnvironment Site { get; init; }

        public required RuntimeEnvironment Central { get; init; }

        public required string AgentId { get; init; }

        /// <summary>Each tenant's anomaly, by tenant.</summary>
        public Dictionary<string, string> Anomalies { get; } = [];
    }

    private static IEnumerable<string> ReadRoutes(string role)
    {
        var app = RuntimeApplication.Build(["--role", role, "--http-port", "0", "--grpc-port", "0", "--jobs-port", "0", "--webhook-port", "0"]);
        try
        {
            foreach (var endpoint in ((IEndpointRouteBuilder)app).DataSources.SelectMany(s => s.Endpoints).OfType<RouteEndpoint>())
            {
                var rule = EndpointAccess.RuleOf(endpoint);
                var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"];
                var name = $"{string.Join(',', methods)} {endpoint.RoutePattern.RawText}";
                var reads = rule is AuthenticatedRoute
                    || (rule is RequiredPermission required && required.Permission != Permission.Ingest
                        && (methods.Contains("GET") || PostedReads.Contains(name) || (methods.Contains("*") && !name.EndsWith("/Push", StringComparison.Ordinal))));
                if (reads && !name.Contains("{unimplemented", StringComparison.Ordinal))
                {
                    yield return name;
                }
            }
        }
        finally
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    /// <summary>Routes that read although they are POSTs (their bodies are queries).</summary>
    private static readonly HashSet<string> PostedReads = ["POST /api/aggregate", "POST /api/diff", "POST /api/v1/rca/analyze"];

    private static async Task<(HttpStatusCode, string)> HttpAsync(HttpClient http, HttpMethod method, string path, Credential credential, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (credential.Bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", credential.Bearer);
        }

        if (credential.Tenant is not null)
        {
            request.Headers.Add(AdminTokenSource.ScopeHeader, credential.Tenant);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await http.SendAsync(request, Cancel);
        return (response.StatusCode, System.Text.Encoding.Latin1.GetString(await response.Content.ReadAsByteArrayAsync(Cancel)));
    }

    /// <summary>The first four seconds of the job stream, replayed from its start.</summary>
    private static async Task<(HttpStatusCode, string)> StreamAsync(HttpClient http, Credential credential)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/v1/stream");
        request.Headers.Add("Last-Event-ID", "0");
        if (credential.Bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", credential.Bearer);
        }

        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, Cancel);
        if (response.StatusCode != HttpStatusCode.OK)
        {
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Cancel));
        }

        using var reading = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        reading.CancelAfter(TimeSpan.FromSeconds(4));
        var text = new System.Text.StringBuilder();
        try
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(reading.Token));
            while (await reader.ReadLineAsync(reading.Token) is { } line)
            {
                text.AppendLine(line);
            }
        }
        catch (OperationCanceledException) when (!Cancel.IsCancellationRequested)
        {
            // Four seconds of a stream that does not end: the replay from storage comes at once.
        }

        return (response.StatusCode, text.ToString());
    }

    private static async Task<(HttpStatusCode, string)> GrpcAsync(Setup setup, Credential credential, Func<Aggregator.AggregatorClient, Metadata, Task<string>> call)
    {
        using var channel = setup.Site.GrpcChannel();
        var metadata = new Metadata();
        if (credential.Bearer is not null)
        {
            metadata.Add("authorization", $"Bearer {credential.Bearer}");
        }

        try
        {
            return (HttpStatusCode.OK, await call(new Aggregator.AggregatorClient(channel), metadata));
        }
        catch (RpcException e) when (e.StatusCode is StatusCode.Unauthenticated or StatusCode.PermissionDenied)
        {
            return (e.StatusCode == StatusCode.Unauthenticated ? HttpStatusCode.Unauthorized : HttpStatusCode.Forbidden, e.Status.Detail);
        }
    }

    private static readonly Dictionary<string, Recipe> SiteRecipes = new(StringComparer.Ordinal)
    {
        ["POST /api/aggregate"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Post, "/api/aggregate", c, new { agent_id = s.AgentId }),
        ["POST /api/diff"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Post, "/api/diff", c, new
        {
            baseline_agent_id = s.AgentId,
            baseline_start_ns = T0 - 1000,
            baseline_end_ns = T0 + 1000,
            comparison_agent_id = s.AgentId,
            comparison_start_ns = T0 - 1000,
            comparison_end_ns = T0 + 1000,
            event_type = "cpu",
        }),
        ["GET /api/batches"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/batches", c),
        ["GET /api/health"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/health", c),
        ["GET /api/export/json"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, $"/api/export/json?agent_id={s.AgentId}", c),
        ["GET /api/export/collapsed"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, $"/api/export/collapsed?agent_id={s.AgentId}", c),
        ["GET /api/export/pprof"] = async (s, c) =>
        {
            var (status, body) = await HttpAsync(s.Site.Http, HttpMethod.Get, $"/api/export/pprof?agent_id={s.AgentId}", c);
            if (status != HttpStatusCode.OK)
            {
                return (status, body);
            }

            // Gzipped protobuf: its string table holds the function names.
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(System.Text.Encoding.Latin1.GetBytes(body)), System.IO.Compression.CompressionMode.Decompress);
            using var plain = new MemoryStream();
            await gzip.CopyToAsync(plain, Cancel);
            return (status, System.Text.Encoding.Latin1.GetString(plain.ToArray()));
        },
        ["* /aperture.v1.Aggregator/Query"] = (s, c) => GrpcAsync(s, c, async (client, m) =>
            (await client.QueryAsync(new QueryRequest { AgentId = s.AgentId }, m, cancellationToken: Cancel)).ToString()),
        ["* /aperture.v1.Aggregator/QueryStorage"] = (s, c) => GrpcAsync(s, c, async (client, m) =>
            (await client.QueryStorageAsync(new QueryStorageRequest { AgentId = s.AgentId }, m, cancellationToken: Cancel)).ToString()),
        ["* /aperture.v1.Aggregator/Aggregate"] = (s, c) => GrpcAsync(s, c, async (client, m) =>
            (await client.AggregateAsync(new AggregateRequest { AgentId = s.AgentId }, m, cancellationToken: Cancel)).ToString()),
        ["* /aperture.v1.Aggregator/Diff"] = (s, c) => GrpcAsync(s, c, async (client, m) =>
            (await client.DiffAsync(new DiffRequest
            {
                BaselineAgentId = s.AgentId,
                BaselineStartNs = (ulong)(T0 - 1000),
                BaselineEndNs = (ulong)(T0 + 1000),
                ComparisonAgentId = s.AgentId,
                ComparisonStartNs = (ulong)(T0 - 1000),
                ComparisonEndNs = (ulong)(T0 + 1000),
                EventType = EventType.Cpu,
            }, m, cancellationToken: Cancel)).ToString()),
        ["GET /api/alerts"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/alerts", c),
        ["GET /api/alerts/history"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/alerts/history", c),
        ["GET /api/servers/"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/servers/", c),
        ["GET /api/metrics/latest/"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/metrics/latest/", c),
        ["GET /api/metrics/history/"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/metrics/history/?minutes=60", c),
        ["GET /api/admin/servers/{slug}"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/admin/servers/beta-box", c),
        ["GET /api/admin/api-keys"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/admin/api-keys", c),
        ["GET /api/v1/rbac/permissions"] = (s, c) => HttpAsync(s.Site.Http, HttpMethod.Get, "/api/v1/rbac/permissions", c),
        ["GET /v1/jobs"] = (s, c) => HttpAsync(s.Site.JobsHttp, HttpMethod.Get, "/v1/jobs", c),
        ["GET /v1/subjobs"] = (s, c) => HttpAsync(s.Site.JobsHttp, HttpMethod.Get, "/v1/subjobs", c),
        ["GET /v1/stream"] = (s, c) => StreamAsync(s.Site.JobsHttp, c),
    };

    private static readonly Dictionary<string, Recipe> CentralRecipes = new(StringComparer.Ordinal)
    {
        ["GET /api/v1/tenants"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/tenants", c),
        ["GET /api/v1/tenants/{tenant_id}"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, $"/api/v1/tenants/{B}", c),
        ["GET /api/v1/apikeys"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/apikeys", c),
        ["GET /api/v1/rbac/permissions"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", c),
        ["GET /v1/sites"] = (s, c) => HttpAsync(s.Central.JobsHttp, HttpMethod.Get, "/v1/sites", c),
        ["GET /api/v1/status"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/status", c),
        ["GET /api/v1/anomalies"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/anomalies", c),
        ["GET /api/v1/rca/correlations"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/rca/correlations?service_id=alpha-svc", c),
        ["GET /api/v1/anomalies/{anomalyId}"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, $"/api/v1/anomalies/{s.Anomalies[B]}", c),
        ["GET /api/v1/metrics/series"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/metrics/series", c),
        ["GET /api/v1/rca/topology"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Get, "/api/v1/rca/topology", c),
        ["POST /api/v1/rca/analyze"] = (s, c) => HttpAsync(s.Central.Http, HttpMethod.Post, "/api/v1/rca/analyze", c,
            new { service_id = "alpha-svc", metric_name = "cpu_usage_percent{pod=\"a\"}", at = "2026-01-03T10:00:00Z", window_minutes = 30 }),
        ["GET /v1/jobs"] = (s, c) => HttpAsync(s.Central.JobsHttp, HttpMethod.Get, "/v1/jobs?site=site-1", c),
        ["GET /v1/subjobs"] = (s, c) => HttpAsync(s.Central.JobsHttp, HttpMethod.Get, "/v1/subjobs?site=site-1", c),
    };

    [Fact]
    public async Task Tenant_A_never_sees_tenant_B_on_any_read_route_of_either_role_and_each_credential_gets_its_status()
    {
        using var keys = new TemporaryDirectory("aperture-matrix-keys");
        await using var site = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={SiteToken}", $"--Aperture:Tokens:KeyDirectory={keys.Path}",
            "--Aperture:Profiling:FlushInterval=00:00:00.100", "--Aperture:Jobs:FlushInterval=00:00:00.100");
        await using var central = await RuntimeEnvironment.StartAsync(
            RuntimeOptions.CentralRole, $"--Aperture:AuthToken={CentralToken}", $"--Aperture:Tokens:KeyDirectory={keys.Path}",
            $"--Aperture:Central:Sites:site-1=http://127.0.0.1:{site.JobsPort}", $"--Aperture:Central:SiteTokens:site-1={SiteToken}");
        var setup = new Setup { Site = site, Central = central, AgentId = Agent("matrix") };
        await SeedAsync(setup, A, "alpha");
        await SeedAsync(setup, B, "beta");

        // One key folder: the site and the central runtime accept each other's tokens, as a Site does by the central JWKS.
        var issuer = site.App.Services.GetRequiredService<RuntimeTokenIssuer>();
        Credential[] credentials =
        [
            new("viewer of A (JWT)", issuer.Issue(A, "viewer@a.example", Role.Viewer, TimeSpan.FromMinutes(10)), null, HttpStatusCode.OK, true),
            new("admin of A (JWT)", issuer.Issue(A, "admin@a.example", Role.Admin, TimeSpan.FromMinutes(10)), null, HttpStatusCode.OK, true),
            new("viewer of A asking for B (JWT with X-Scope-OrgID)", issuer.Issue(A, "viewer@a.example", Role.Viewer, TimeSpan.FromMinutes(10)), B, HttpStatusCode.OK, true),
            new("nothing", null, null, HttpStatusCode.Unauthorized, false),
            new("garbage", "garbage-credential", null, HttpStatusCode.Unauthorized, false),
            new("tampered JWT of A", issuer.Issue(A, "viewer@a.example", Role.Admin, TimeSpan.FromMinutes(10))[..^3], null, HttpStatusCode.Unauthorized, false),
        ];

        var failures = new List<string>();
        var walked = new List<string>();
        foreach (var (role, recipes, runtime) in new[] { (RuntimeOptions.AggregatorRole, SiteRecipes, "site"), (RuntimeOptions.CentralRole, CentralRecipes, "central") })
        {
            foreach (var route in ReadRoutes(role))
            {
                if (!recipes.TryGetValue(route, out var recipe))
                {
                    failures.Add($"{runtime} {route}: no isolation recipe (a new read route must be added to this matrix)");
                    continue;
                }

                walked.Add($"{runtime} {route}");
                foreach (var credential in credentials)
                {
                    var (status, body) = await recipe(setup, credential);
                    var expected = Expected(route, runtime, credential);
                    if (status != expected)
                    {
                        failures.Add($"{runtime} {route} as {credential.Name}: {(int)status}, expected {(int)expected}: {Cut(body)}");
                    }

                    // An error echoes what was asked (B's slug); only an answer with data can leak.
                    if (status == HttpStatusCode.OK && (body.Contains("beta", StringComparison.Ordinal) || body.Contains(B, StringComparison.Ordinal)))
                    {
                        failures.Add($"{runtime} {route} as {credential.Name}: tenant B's data in the answer: {Cut(body)}");
                    }

                    if (status == HttpStatusCode.OK && credential.SeesA && ShowsData(route) && !body.Contains("alpha", StringComparison.Ordinal))
                    {
                        failures.Add($"{runtime} {route} as {credential.Name}: tenant A's own data missing: {Cut(body)}");
                    }
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
        // Every recipe was used: a route that went away leaves its recipe behind, which says the table changed.
        Assert.Equal(SiteRecipes.Count + CentralRecipes.Count, walked.Count);
    }

    /// <summary>What each credential must get: the data routes 200 for A's people; what needs more than a viewer, 403.</summary>
    private static HttpStatusCode Expected(string route, string runtime, Credential credential)
    {
        if (credential.Expected != HttpStatusCode.OK)
        {
            return credential.Expected;
        }

        var admin = credential.Name.StartsWith("admin", StringComparison.Ordinal);
        return route switch
        {
            // B's anomaly is not there for A.
            "GET /api/v1/anomalies/{anomalyId}" => HttpStatusCode.NotFound,
            // A tenant's admin is no super-admin: tenants are the platform's.
            "GET /api/v1/tenants" or "GET /api/v1/tenants/{tenant_id}" => HttpStatusCode.Forbidden,
            "GET /api/v1/apikeys" or "GET /api/admin/api-keys" => admin ? HttpStatusCode.OK : HttpStatusCode.Forbidden,
            // Another tenant's server is not there for A (404), and a viewer may not read the registry at all.
            "GET /api/admin/servers/{slug}" => admin ? HttpStatusCode.NotFound : HttpStatusCode.Forbidden,
            _ => HttpStatusCode.OK,
        };
    }

    /// <summary>The routes whose answer holds tenant data that A has (its names begin with "alpha").</summary>
    private static bool ShowsData(string route) => route is not (
        "GET /api/health" or "GET /api/v1/rbac/permissions" or "GET /v1/sites" or "GET /api/admin/servers/{slug}"
        or "GET /api/v1/status" or "GET /api/v1/anomalies/{anomalyId}" or "GET /api/v1/rca/correlations" or "POST /api/v1/rca/analyze"
        or "GET /api/alerts/history" or "GET /api/v1/tenants" or "GET /api/v1/tenants/{tenant_id}");

    private static string Cut(string body) => body.Length > 300 ? body[..300] : body;

    /// <summary>One tenant's data in every store, named after it ("alpha…" or "beta…").</summary>
    private static async Task SeedAsync(Setup setup, string tenant, string name)
    {
        var admin = new Credential("admin token", SiteToken, tenant, HttpStatusCode.OK, false);
        using (var channel = setup.Site.GrpcChannel())
        {
            var client = new Aggregator.AggregatorClient(channel);
            var metadata = new Metadata { { "authorization", $"Bearer {SiteToken}" }, { AdminTokenSource.ScopeHeader, tenant } };
            // The same agent id and sequence in both tenants, and an agent of the tenant's own name for the batch list.
            foreach (var batch in new[]
            {
                Batch($"{name}-agent", 1, Cpu(T0, 1, "main", $"{name}_own")),
                Batch(setup.AgentId, 1, Cpu(T0, 5, "main", $"{name}_work"), Lock(T0 + 1, 1, 100, 0xabc, "main", $"{name}_lock")),
            })
            {
                var pushed = await client.PushAsync(batch, metadata, cancellationToken: Cancel);
                Assert.True(pushed.Accepted && !pushed.Duplicate, pushed.Error);
            }
        }

        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, body) = await HttpAsync(setup.Site.Http, HttpMethod.Post, "/api/aggregate", admin, new { agent_id = setup.AgentId, source = "storage" });
            return body.Contains($"{name}_work", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(30), $"{tenant}'s profile stored");

        Assert.Equal(HttpStatusCode.Created, (await HttpAsync(setup.Site.Http, HttpMethod.Post, "/api/alerts", admin,
            new { name = $"{name}-alert", metric = "buffer_utilization", @operator = "gt", threshold = 0.5, severity = "warning" })).Item1);

        var (registered, server) = await HttpAsync(setup.Site.Http, HttpMethod.Put, $"/api/admin/servers/{name}-box", admin, new { name = $"{name} box" });
        Assert.True(registered is HttpStatusCode.OK or HttpStatusCode.Created, server);
        var token = JsonNode.Parse(server)!["token"]!.GetValue<string>();
        using (var ingest = await Servers.ServerSamples.IngestAsync(setup.Site.Http, $"{name}-box", token,
            Servers.ServerSamples.Wrapped(Servers.ServerSamples.Sample(TimeProvider.System.GetUtcNow())).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        }

        Assert.Equal(HttpStatusCode.Created, (await HttpAsync(setup.Site.Http, HttpMethod.Post, "/api/admin/api-keys", admin, new { name = $"{name}-dashboard" })).Item1);

        var job = Jobs.JobEvents.Event($"{name}-app", "1", "started", Jobs.JobEvents.T0, site: "site-1");
        var (accepted, _) = await HttpAsync(setup.Site.JobsHttp, HttpMethod.Post, "/v1/ingest/events", admin, job);
        Assert.Equal(HttpStatusCode.OK, accepted);
        var subjob = Jobs.JobEvents.Event($"{name}-app", "2", "started", Jobs.JobEvents.T0, type: "subjob", parent: "1", site: "site-1");
        Assert.Equal(HttpStatusCode.OK, (await HttpAsync(setup.Site.JobsHttp, HttpMethod.Post, "/v1/ingest/events", admin, subjob)).Item1);

        var centralAdmin = new Credential("central admin token", CentralToken, null, HttpStatusCode.OK, false);
        Assert.Equal(HttpStatusCode.Created, (await HttpAsync(setup.Central.Http, HttpMethod.Post, "/api/v1/tenants", centralAdmin, new { tenant_id = tenant, name = $"{name} tenant" })).Item1);
        Assert.Equal(HttpStatusCode.Created, (await HttpAsync(setup.Central.Http, HttpMethod.Post, "/api/v1/apikeys", centralAdmin with { Tenant = tenant },
            new { name = $"{name}-key", scope = "read" })).Item1);

        // The watchdog: a history with an anomaly on the tenant's service, and an edge of its service graph.
        var (imported, answer) = await HttpAsync(setup.Central.Http, HttpMethod.Post, "/api/v1/metrics/import", centralAdmin with { Tenant = tenant },
            Watchdog.WatchdogApiTests.History($"{name}-svc", "cpu_usage_percent", 3 * 24 * 60, (2 * 24 * 60) + 600));
        Assert.Equal(HttpStatusCode.OK, imported);
        setup.Anomalies[tenant] = JsonNode.Parse(answer)!["anomalies_opened"]![0]!.GetValue<string>();
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeSeconds();
        Assert.Equal(HttpStatusCode.OK, (await HttpAsync(setup.Central.Http, HttpMethod.Post, "/api/v1/metrics/import", centralAdmin with { Tenant = tenant },
            new { series = new[] { new { service_id = $"{name}-live", metric_name = "requests_per_second", points = new[] { new double[] { now, 1 } } } } })).Item1);
        Assert.Equal(HttpStatusCode.OK, (await HttpAsync(setup.Central.Http, HttpMethod.Put, "/api/v1/rca/topology", centralAdmin with { Tenant = tenant },
            new { edges = new[] { new { from = $"{name}-front", to = $"{name}-svc" } } })).Item1);
    }
}
