using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>The job sidecar (jobs-api.md) forwarding to a jobs API that the test runs, takes away and brings back.</summary>
public sealed class SidecarTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Config(RecordingReceiver jobs) => $$"""
        export:
          jobs: {endpoint: "{{jobs.BaseUrl}}", timeout_seconds: 2}
          retry: {initial_backoff_ms: 50, max_backoff_ms: 200}
        sidecar:
          site_id: fab1
        """;

    private static string Event(int n, string? key = null) => JsonSerializer.Serialize(new Dictionary<string, object?>
    {
        ["idempotency_key"] = key,
        ["app"] = new { app_id = "0b8f6d7e-0000-4000-8000-000000000001", name = "processor", version = "1.0.0" },
        ["entity"] = new { type = "job", id = $"job-{n}", parent_id = (string?)null, business_key = $"batch-{n}", sub_key = (string?)null },
        ["event"] = new { kind = "started", at = "2025-10-19T12:00:00Z", status = "running", metrics = new { }, metadata = new { n } },
    }.Where(p => p.Value is not null).ToDictionary());

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static List<JsonObject> EventsReceived(RecordingReceiver jobs) =>
        [.. jobs.Requests.Where(r => r.Path == "/v1/ingest/events").SelectMany(r => JsonNode.Parse(r.Body) switch
        {
            JsonArray array => array.Select(e => e!.AsObject()),
            JsonObject single => [single],
            _ => [],
        })];

    [Fact]
    public async Task Events_are_forwarded_with_an_idempotency_key_and_the_site()
    {
        await using var jobs = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync(Config(jobs));

        using var single = await agent.Sidecar.PostAsync("/v1/ingest/events", Json(Event(1, key: "given-key-1")), Cancel);
        Assert.Equal(HttpStatusCode.OK, single.StatusCode);
        var answer = JsonNode.Parse(await single.Content.ReadAsStringAsync(Cancel))!;
        Assert.True(answer["ok"]!.GetValue<bool>());
        Assert.Equal("given-key-1", answer["idempotency_key"]!.GetValue<string>());

        using var batch = await agent.Sidecar.PostAsync("/v1/ingest/events:batch", Json($"[{Event(2)},{Event(3)},{Event(4)}]"), Cancel);
        var counts = JsonNode.Parse(await batch.Content.ReadAsStringAsync(Cancel))!;
        Assert.True(counts["ok"]!.GetValue<bool>());
        Assert.Equal(3, counts["forwarded"]!.GetValue<int>());
        Assert.Equal(0, counts["spooled"]!.GetValue<int>());

        var received = EventsReceived(jobs);
        Assert.Equal(["job-1", "job-2", "job-3", "job-4"], received.Select(e => e["entity"]!["id"]!.GetValue<string>()));
        Assert.Equal("given-key-1", received[0]["idempotency_key"]!.GetValue<string>());
        Assert.All(received, e => Assert.True(Guid.TryParse(e["idempotency_key"]!.GetValue<string>(), out _) || e["idempotency_key"]!.GetValue<string>() == "given-key-1"));
        Assert.Equal(4, received.Select(e => e["idempotency_key"]!.GetValue<string>()).Distinct().Count());
        Assert.All(received, e => Assert.Equal("fab1", e["site_id"]!.GetValue<string>()));
        Assert.All(jobs.Requests, r => Assert.StartsWith("application/json", r.Headers["Content-Type"], StringComparison.Ordinal));

        var health = JsonNode.Parse(await agent.Sidecar.GetStringAsync("/v1/healthz", Cancel))!;
        Assert.Equal("ok", health["status"]!.GetValue<string>());
        Assert.Equal("sidecar-agent", health["service"]!.GetValue<string>());
        Assert.Equal(0, health["spool_count"]!.GetValue<int>());
        Assert.Equal(agent.SpoolDir, health["spool_dir"]!.GetValue<string>());
        Assert.False(string.IsNullOrEmpty(health["version"]!.GetValue<string>()));

        var metrics = await agent.Sidecar.GetStringAsync("/metrics", Cancel);
        Assert.Contains("aperture_agent_sidecar_events_total 4", metrics, StringComparison.Ordinal);
        Assert.Contains("aperture_agent_delivery_forwarded_total{channel=\"jobs\"} 4", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task While_the_jobs_api_is_down_events_spool_and_replay_in_order_once_it_returns()
    {
        await using var jobs = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync(Config(jobs));
        await jobs.StopAsync(); // connection refused

        var spooled = 0;
        for (var n = 0; n < 10; n++)
        {
            using var response = await agent.Sidecar.PostAsync("/v1/ingest/events:batch", Json($"[{Event(n * 2)},{Event((n * 2) + 1)}]"), Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var counts = JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!;
            Assert.Equal(0, counts["forwarded"]!.GetValue<int>());
            spooled += counts["spooled"]!.GetValue<int>();
        }

        Assert.Equal(20, spooled);
        var health = JsonNode.Parse(await agent.Sidecar.GetStringAsync("/v1/healthz", Cancel))!;
        Assert.Equal(20, health["spool_count"]!.GetValue<int>());
        Assert.Equal(20, Directory.GetFiles(agent.SpoolDir, "*.jobs.spool").Length);
        using var ready = await agent.Api.GetAsync("/ready", Cancel);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.StartsWith("failed: jobs:", JsonNode.Parse(await ready.Content.ReadAsStringAsync(Cancel))!["checks"]!["export"]!.GetValue<string>(), StringComparison.Ordinal);

        // An upstream that answers but fails keeps them spooled too.
        await jobs.StartAsync();
        jobs.Status = 503;
        await Eventually.HoldsAsync(() => !jobs.Requests.IsEmpty, Patience, "a replay attempt", Cancel);
        Assert.Equal(20, agent.Host.Agent.Jobs.Waiting);

        jobs.Status = 200;
        await Eventually.HoldsAsync(() => agent.Host.Agent.Jobs.Waiting == 0, Patience, "the spool replayed", Cancel);

        // Every event reached the jobs API in the order it came; the 503 answers carried the same keys again.
        var lastDelivery = EventsReceived(jobs).GroupBy(e => e["idempotency_key"]!.GetValue<string>()).Select(g => g.Last()).ToList();
        Assert.Equal(20, lastDelivery.Count);
        Assert.Equal(Enumerable.Range(0, 20).Select(n => $"job-{n}"), lastDelivery.Select(e => e["entity"]!["id"]!.GetValue<string>()));
        Assert.Equal(0, JsonNode.Parse(await agent.Sidecar.GetStringAsync("/v1/healthz", Cancel))!["spool_count"]!.GetValue<int>());
        Assert.Empty(Directory.GetFiles(agent.SpoolDir, "*.jobs.spool"));

        // A new event after the replay goes straight through.
        using var after = await agent.Sidecar.PostAsync("/v1/ingest/events:batch", Json($"[{Event(99)}]"), Cancel);
        Assert.Equal(1, JsonNode.Parse(await after.Content.ReadAsStringAsync(Cancel))!["forwarded"]!.GetValue<int>());
        Assert.Equal(HttpStatusCode.OK, (await agent.Api.GetAsync("/ready", Cancel)).StatusCode);
    }

    [Fact]
    public async Task Malformed_events_are_refused_in_the_error_format()
    {
        await using var jobs = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync(Config(jobs));

        async Task Refused(string path, string body, string? field)
        {
            using var response = await agent.Sidecar.PostAsync(path, Json(body), Cancel);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            var error = JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!;
            Assert.Equal("invalid_request", error["error"]!.GetValue<string>());
            if (field is not null)
            {
                Assert.Equal(field, error["details"]!["field"]!.GetValue<string>());
            }
        }

        await Refused("/v1/ingest/events", "{not json", "body");
        await Refused("/v1/ingest/events", $"[{Event(1)}]", "body");
        await Refused("/v1/ingest/events", "{\"entity\":{}}", "body.event");
        await Refused("/v1/ingest/events:batch", Event(1), "body");
        await Refused("/v1/ingest/events:batch", $"[{Event(1)}, 5]", "[1]");
        Assert.Empty(jobs.Requests);

        // The jobs API refusing an event is passed back as a 400, not spooled for ever.
        jobs.Status = 400;
        jobs.ResponseBody = "{\"error\":\"invalid_request\",\"message\":\"unknown kind\"}";
        await Refused("/v1/ingest/events", Event(2), null);
        Assert.Equal(0, agent.Host.Agent.Jobs.Waiting);
    }

    [Fact]
    public async Task A_full_spool_drops_the_oldest_events_counts_them_and_replays_the_newest()
    {
        await using var jobs = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync(Config(jobs) + "\nspool: {max_bytes: 8192}\n");
        await jobs.StopAsync();

        for (var n = 0; n < 60; n++)
        {
            using var response = await agent.Sidecar.PostAsync("/v1/ingest/events", Json(Event(n, key: $"key-{n:D2}")), Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var waiting = agent.Host.Agent.Jobs.Waiting;
        var dropped = agent.Host.Agent.Jobs.Dropped;
        Assert.Equal(60, waiting + dropped);
        Assert.True(dropped > 0, "the spool filled");
        Assert.True(agent.Host.Agent.Spool.Bytes <= 8192);
        Assert.Contains($"aperture_agent_spool_dropped_total{{channel=\"jobs\"}} {dropped}", await agent.Api.GetStringAsync("/metrics", Cancel), StringComparison.Ordinal);

        await jobs.StartAsync();
        await Eventually.HoldsAsync(() => agent.Host.Agent.Jobs.Waiting == 0, Patience, "the spool replayed", Cancel);
        var keys = EventsReceived(jobs).Select(e => e["idempotency_key"]!.GetValue<string>()).ToList();
        Assert.Equal(Enumerable.Range((int)dropped, waiting).Select(n => $"key-{n:D2}"), keys);
    }
}
