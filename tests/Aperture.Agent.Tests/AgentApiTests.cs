using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Agent.Api;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>agent-api.md on a real agent over HTTP.</summary>
public sealed class AgentApiTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<JsonElement> JsonAsync(HttpResponseMessage response) =>
        JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        Assert.Equal(status, response.StatusCode);
        var body = await JsonAsync(response);
        Assert.Equal(code, body.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Every_endpoint_answers_in_the_specs_shape()
    {
        await using var agent = await AgentUnderTest.StartAsync("self_telemetry:\n  debug: {enabled: true}\ncollectors:\n  interval_seconds: 0.2\n");
        await Eventually.HoldsAsync(async () => (await agent.Api.GetAsync("/ready", Cancel)).IsSuccessStatusCode, Patience, "the agent ready", Cancel);

        Assert.Equal("ok", (await JsonAsync(await agent.Api.GetAsync("/healthz", Cancel))).GetProperty("status").GetString());

        var ready = await JsonAsync(await agent.Api.GetAsync("/ready", Cancel));
        Assert.Equal("ready", ready.GetProperty("status").GetString());
        foreach (var check in new[] { "collectors", "export", "discovery" })
        {
            Assert.Equal("ok", ready.GetProperty("checks").GetProperty(check).GetString());
        }

        using var metrics = await agent.Api.GetAsync("/metrics", Cancel);
        Assert.Equal("text/plain", metrics.Content.Headers.ContentType?.MediaType);
        Assert.Contains(metrics.Content.Headers.ContentType!.Parameters, p => p.Name == "version" && p.Value == "0.0.4");
        var metricsText = await metrics.Content.ReadAsStringAsync(Cancel);
        Assert.Contains("# TYPE aperture_agent_host_samples_total counter", metricsText, StringComparison.Ordinal);
        Assert.Contains("aperture_agent_spool_dropped_total{channel=\"jobs\"} 0", metricsText, StringComparison.Ordinal);

        var status = await JsonAsync(await agent.Api.GetAsync("/status", Cancel));
        Assert.Equal("agent", status.GetProperty("mode").GetString());
        Assert.Equal("linux", status.GetProperty("host").GetProperty("os").GetString());
        Assert.Equal(Environment.MachineName, status.GetProperty("host").GetProperty("name").GetString());
        Assert.True(status.GetProperty("collectors").GetProperty("samples_collected").GetInt64() >= 1);
        Assert.False(status.GetProperty("profiling").GetProperty("available").GetBoolean());

        var export = await JsonAsync(await agent.Api.GetAsync("/status/export", Cancel));
        Assert.Equal(["jobs", "profiles", "samples"], export.GetProperty("queues").EnumerateObject().Select(q => q.Name).Order());
        Assert.Equal(agent.SpoolDir, export.GetProperty("spool").GetProperty("dir").GetString());
        Assert.Contains("no server", export.GetProperty("host_samples").GetProperty("skipped").GetString() + "no server", StringComparison.Ordinal);

        var discovery = await JsonAsync(await agent.Api.GetAsync("/status/discovery", Cancel));
        Assert.Equal(Environment.MachineName, discovery.GetProperty("host").GetProperty("name").GetString());

        var collectors = await JsonAsync(await agent.Api.GetAsync("/status/collectors", Cancel));
        var byName = collectors.GetProperty("collectors").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.True(byName["host"].GetProperty("loaded").GetBoolean());
        Assert.False(byName["cpu_profiler"].GetProperty("permitted").GetBoolean());
        Assert.Equal("cpu profiler not linked in this build", byName["cpu_profiler"].GetProperty("reason").GetString());
        Assert.Contains(collectors.GetProperty("not_permitted").EnumerateArray(), n => n.GetProperty("name").GetString() == "cpu_profiler");
        foreach (var kernelEvents in new[] { "lock_events", "syscall_events" })
        {
            Assert.False(byName[kernelEvents].GetProperty("permitted").GetBoolean());
            Assert.Equal("kernel event collector not linked in this build", byName[kernelEvents].GetProperty("reason").GetString());
            Assert.Contains(collectors.GetProperty("not_permitted").EnumerateArray(), n => n.GetProperty("name").GetString() == kernelEvents);
        }

        var config = await JsonAsync(await agent.Api.GetAsync("/config", Cancel));
        Assert.Equal(agent.SpoolDir, config.GetProperty("spool").GetProperty("dir").GetString());

        var vars = await JsonAsync(await agent.Api.GetAsync("/debug/vars", Cancel));
        Assert.True(vars.GetProperty("memstats").GetProperty("Alloc").GetInt64() > 0);
        Assert.True(vars.GetProperty("cmdline").GetArrayLength() >= 1);
        Assert.Equal(4, (await JsonAsync(await agent.Api.GetAsync("/debug/pprof/", Cancel))).GetProperty("profiles").GetArrayLength());
        Assert.True((await JsonAsync(await agent.Api.GetAsync("/debug/pprof/heap", Cancel))).GetProperty("generations").GetArrayLength() >= 3);
        Assert.True((await JsonAsync(await agent.Api.GetAsync("/debug/pprof/gc", Cancel))).GetProperty("collections").TryGetProperty("gen0", out _));
        Assert.True((await JsonAsync(await agent.Api.GetAsync("/debug/pprof/threads", Cancel))).GetProperty("count").GetInt32() > 1);
        await AssertErrorAsync(await agent.Api.GetAsync("/debug/pprof/profile?seconds=1&format=svg", Cancel), HttpStatusCode.BadRequest, "invalid_request");
        await AssertErrorAsync(await agent.Api.GetAsync("/debug/pprof/profile?seconds=999&format=nettrace", Cancel), HttpStatusCode.BadRequest, "invalid_request");

        var flush = await JsonAsync(await agent.Api.PostAsync("/admin/flush", null, Cancel));
        Assert.Equal("ok", flush.GetProperty("status").GetString());
        Assert.Equal(0, flush.GetProperty("remaining").GetProperty("jobs").GetInt32());

        var reload = await JsonAsync(await agent.Api.PostAsync("/admin/reload", null, Cancel));
        Assert.Equal("Configuration reloaded", reload.GetProperty("message").GetString());

        var openApi = await JsonAsync(await agent.Api.GetAsync("/openapi.json", Cancel));
        Assert.Equal("3.0.3", openApi.GetProperty("openapi").GetString());
        foreach (var route in OpenApiDocument.Routes)
        {
            Assert.True(openApi.GetProperty("paths").GetProperty(route.Path).TryGetProperty(route.Method, out _), $"{route.Method} {route.Path} in openapi.json");
            if (route.Api == "agent" && route.Method == "get" && route.Path != "/debug/pprof/profile")
            {
                Assert.Equal(HttpStatusCode.OK, (await agent.Api.GetAsync(route.Path, Cancel)).StatusCode);
            }
        }

        await AssertErrorAsync(await agent.Api.GetAsync("/no/such/route", Cancel), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await agent.Api.GetAsync("/admin/reload", Cancel), HttpStatusCode.MethodNotAllowed, "invalid_request");
    }

    [Fact]
    public async Task The_agents_own_cpu_profile_is_an_eventpipe_trace()
    {
        await using var agent = await AgentUnderTest.StartAsync("self_telemetry:\n  debug: {enabled: true}\n");

        using var response = await agent.Api.GetAsync("/debug/pprof/profile?seconds=1&format=nettrace", Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var trace = await response.Content.ReadAsByteArrayAsync(Cancel);
        Assert.True(trace.Length > 1000, $"a trace of {trace.Length} bytes");
        Assert.Equal("Nettrace", System.Text.Encoding.ASCII.GetString(trace, 0, 8));
    }

    [Fact]
    public async Task The_agents_own_cpu_profile_in_pprof_names_its_methods()
    {
        await using var agent = await AgentUnderTest.StartAsync("self_telemetry:\n  debug: {enabled: true}\ncollectors:\n  interval_seconds: 0.05\n");

        using var response = await agent.Api.GetAsync("/debug/pprof/profile?seconds=2", Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var gzip = new System.IO.Compression.GZipStream(await response.Content.ReadAsStreamAsync(Cancel), System.IO.Compression.CompressionMode.Decompress);
        var profile = Aperture.Contracts.Pprof.Profile.Parser.ParseFrom(gzip);
        Assert.Equal("samples", profile.StringTable[(int)profile.SampleType[0].Type]);
        Assert.Equal(1_000_000, profile.Period);
        Assert.True(profile.Sample.Sum(s => s.Value[0]) > 100, "a second of sampling every thread every millisecond");
        var functions = profile.Function.Select(f => profile.StringTable[(int)f.Name]).ToList();
        Assert.Contains(functions, f => f.Contains("System.Threading", StringComparison.Ordinal));
        Assert.All(profile.Sample, s => Assert.All(s.LocationId, id => Assert.Contains(profile.Location, l => l.Id == id)));
    }

    [Fact]
    public async Task Debug_endpoints_are_off_unless_enabled()
    {
        await using var agent = await AgentUnderTest.StartAsync();

        await AssertErrorAsync(await agent.Api.GetAsync("/debug/vars", Cancel), HttpStatusCode.NotFound, "not_found");
        await AssertErrorAsync(await agent.Api.GetAsync("/debug/pprof/heap", Cancel), HttpStatusCode.NotFound, "not_found");
    }

    [Fact]
    public async Task With_auth_on_the_probes_and_metrics_stay_open_and_every_other_route_wants_the_token()
    {
        await using var agent = await AgentUnderTest.StartAsync(
            "self_telemetry:\n  debug: {enabled: true}\n",
            new Dictionary<string, string?> { ["APERTURE_AUTH_TOKEN"] = "t0ken-for-tests" });

        foreach (var open in new[] { "/healthz", "/ready", "/metrics" })
        {
            using var response = await agent.Api.GetAsync(open, Cancel);
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var routes = OpenApiDocument.Routes.Where(r => r.Api == "agent" && r.Secured).ToList();
        Assert.True(routes.Count >= 14);
        foreach (var route in routes)
        {
            using var request = new HttpRequestMessage(new HttpMethod(route.Method.ToUpperInvariant()), route.Path);
            using var response = await agent.Api.SendAsync(request, Cancel);
            await AssertErrorAsync(response, HttpStatusCode.Unauthorized, "unauthorized");
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);

            using var wrong = new HttpRequestMessage(new HttpMethod(route.Method.ToUpperInvariant()), route.Path);
            wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken-for-test");
            Assert.Equal(HttpStatusCode.Unauthorized, (await agent.Api.SendAsync(wrong, Cancel)).StatusCode);
        }

        using var authorised = new HttpRequestMessage(HttpMethod.Get, "/status");
        authorised.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken-for-tests");
        Assert.Equal(HttpStatusCode.OK, (await agent.Api.SendAsync(authorised, Cancel)).StatusCode);
        using var config = new HttpRequestMessage(HttpMethod.Get, "/config");
        config.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "t0ken-for-tests");
        var configText = await (await agent.Api.SendAsync(config, Cancel)).Content.ReadAsStringAsync(Cancel);
        Assert.DoesNotContain("t0ken-for-tests", configText, StringComparison.Ordinal);
        Assert.Contains("[REDACTED]", configText, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Past_the_rate_limit_the_api_answers_429_with_retry_after_and_the_probes_do_not()
    {
        await using var agent = await AgentUnderTest.StartAsync("self_telemetry:\n  rate_limit: {enabled: true, requests_per_second: 2, burst: 3}\n");

        // At once, so that the bucket (3, refilled at 2 a second) cannot keep up however slow this machine is.
        var statuses = await Task.WhenAll(Enumerable.Range(0, 24).Select(_ => agent.Api.GetAsync("/status", Cancel)));

        var limited = statuses.Where(r => r.StatusCode == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(limited);
        Assert.True(statuses.Count(r => r.StatusCode == HttpStatusCode.OK) >= 3);
        var first = limited[0];
        Assert.True(first.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1));
        await AssertErrorAsync(first, HttpStatusCode.TooManyRequests, "service_unavailable");
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await agent.Api.GetAsync("/healthz", Cancel)).StatusCode);
        }

        var metrics = await agent.Api.GetStringAsync("/metrics", Cancel);
        Assert.Contains($"aperture_agent_api_rate_limited_total {limited.Count}", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cors_preflight_is_answered_for_allowed_origins_before_auth()
    {
        await using var agent = await AgentUnderTest.StartAsync(
            "self_telemetry:\n  auth: {enabled: true, bearer_token: abc}\n  cors:\n    enabled: true\n    allowed_origins: [\"http://localhost:3000\"]\n");

        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/status");
        preflight.Headers.Add("Origin", "http://localhost:3000");
        preflight.Headers.Add("Access-Control-Request-Method", "GET");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization");
        using var answer = await agent.Api.SendAsync(preflight, Cancel);
        Assert.Equal(HttpStatusCode.NoContent, answer.StatusCode);
        Assert.Equal("http://localhost:3000", answer.Headers.GetValues("Access-Control-Allow-Origin").Single());
        Assert.Contains("Authorization", answer.Headers.GetValues("Access-Control-Allow-Headers").Single(), StringComparison.Ordinal);
        Assert.Contains("GET", answer.Headers.GetValues("Access-Control-Allow-Methods").Single(), StringComparison.Ordinal);

        using var stranger = new HttpRequestMessage(HttpMethod.Options, "/status");
        stranger.Headers.Add("Origin", "http://evil.example");
        stranger.Headers.Add("Access-Control-Request-Method", "GET");
        using var refused = await agent.Api.SendAsync(stranger, Cancel);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));

        using var real = new HttpRequestMessage(HttpMethod.Get, "/status");
        real.Headers.Add("Origin", "http://localhost:3000");
        real.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "abc");
        using var response = await agent.Api.SendAsync(real, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("http://localhost:3000", response.Headers.GetValues("Access-Control-Allow-Origin").Single());
    }

    [Fact]
    public async Task A_reload_with_a_bad_file_answers_400_and_keeps_the_configuration_in_force()
    {
        await using var agent = await AgentUnderTest.StartAsync("profiling:\n  sample_rate: 99\n");
        Assert.Equal(HttpStatusCode.NotFound, (await agent.Api.GetAsync("/debug/vars", Cancel)).StatusCode);

        agent.WriteConfig("profiling:\n  sample_rate: 49\nself_telemetry:\n  debug: {enabled: true}\n");
        Assert.Equal(HttpStatusCode.OK, (await agent.Api.PostAsync("/admin/reload", null, Cancel)).StatusCode);
        Assert.Equal(49, (await JsonAsync(await agent.Api.GetAsync("/config", Cancel))).GetProperty("profiling").GetProperty("sample_rate").GetInt32());
        Assert.Equal(HttpStatusCode.OK, (await agent.Api.GetAsync("/debug/vars", Cancel)).StatusCode);

        agent.WriteConfig("profiling:\n  sample_rate: 0\n  min_latency_microseconds: -1\nexport:\n  jobs: {endpoint: \"not a url\"}\n");
        using var invalid = await agent.Api.PostAsync("/admin/reload", null, Cancel);
        var message = (await JsonAsync(invalid)).GetProperty("message").GetString()!;
        await AssertErrorAsync(invalid, HttpStatusCode.BadRequest, "invalid_request");
        Assert.Contains("profiling.sample_rate", message, StringComparison.Ordinal);
        Assert.Contains("profiling.min_latency_microseconds", message, StringComparison.Ordinal);
        Assert.Contains("export.jobs.endpoint", message, StringComparison.Ordinal);

        agent.WriteConfig("profiling: [this is: not: yaml\n");
        await AssertErrorAsync(await agent.Api.PostAsync("/admin/reload", null, Cancel), HttpStatusCode.BadRequest, "invalid_request");

        var config = await JsonAsync(await agent.Api.GetAsync("/config", Cancel));
        Assert.Equal(49, config.GetProperty("profiling").GetProperty("sample_rate").GetInt32());
        Assert.Equal(string.Empty, config.GetProperty("export").GetProperty("jobs").GetProperty("endpoint").GetString());
        Assert.Equal(HttpStatusCode.OK, (await agent.Api.GetAsync("/debug/vars", Cancel)).StatusCode);
        var status = await JsonAsync(await agent.Api.GetAsync("/status", Cancel));
        Assert.Contains("line", status.GetProperty("config").GetProperty("last_reload_error").GetString(), StringComparison.Ordinal);
        Assert.Contains("aperture_agent_config_reload_errors_total 2", await agent.Api.GetStringAsync("/metrics", Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_file_is_reloaded_without_a_request()
    {
        await using var agent = await AgentUnderTest.StartAsync("profiling:\n  sample_rate: 99\n");

        agent.WriteConfig("profiling:\n  sample_rate: 33\n");

        await Eventually.HoldsAsync(async () =>
            (await JsonAsync(await agent.Api.GetAsync("/config", Cancel))).GetProperty("profiling").GetProperty("sample_rate").GetInt32() == 33,
            Patience, "the watched file reloaded", Cancel);
    }
}
