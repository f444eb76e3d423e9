using System.Text.Json.Nodes;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>Host samples to servers-api.md's ingest API (a receiver the test runs), and the agent's metrics over OTLP.</summary>
public sealed class HostSampleExportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Host_samples_go_to_the_ingest_api_under_the_slug_and_token_and_spool_while_it_fails()
    {
        await using var ingest = await RecordingReceiver.StartNewAsync();
        ingest.Status = 503;
        await using var agent = await AgentUnderTest.StartAsync($$"""
            agent:
              labels: {rack: r1}
            collectors:
              interval_seconds: 0.1
            export:
              servers: {endpoint: "{{ingest.BaseUrl}}", server_slug: gpu-box-01, token: "srv-token-1"}
              retry: {initial_backoff_ms: 50, max_backoff_ms: 100}
            """);

        await Eventually.HoldsAsync(() => agent.Host.Agent.Samples.Waiting >= 5, Patience, "samples spooled while ingest fails", Cancel);
        ingest.Status = 200;
        await Eventually.HoldsAsync(() => agent.Host.Agent.Samples.Waiting == 0 && agent.Host.Agent.Samples.Replayed >= 5, Patience, "the spooled samples replayed", Cancel);

        var delivered = ingest.Requests.ToList();
        Assert.All(delivered, r =>
        {
            Assert.Equal("POST", r.Method);
            Assert.Equal("/api/ingest/servers/gpu-box-01/metrics/", r.Path);
            Assert.Equal("srv-token-1", r.Headers["X-Monitoring-Token"]);
        });
        var bodies = delivered.Select(r => JsonNode.Parse(r.Body)!).ToList();
        var sample = bodies[^1]["sample"]!;
        foreach (var field in new[] { "collected_at", "cpu_usage_percent", "cpu_user_percent", "cpu_system_percent", "cpu_iowait_percent", "cpu_load_1", "cpu_load_5", "cpu_load_15", "cpu_frequency_mhz", "cpu_count_logical", "cpu_count_physical", "memory_total_bytes", "memory_used_bytes", "memory_available_bytes", "memory_percent", "swap_total_bytes", "swap_used_bytes", "swap_percent", "network_rx_bytes_total", "network_tx_bytes_total", "process_count", "disks", "gpus" })
        {
            Assert.True(sample.AsObject().ContainsKey(field), $"sample.{field}");
        }

        Assert.True(sample["memory_total_bytes"]!.GetValue<long>() > 0);
        Assert.Equal(Environment.ProcessorCount, sample["cpu_count_logical"]!.GetValue<int>());
        Assert.Equal("r1", bodies[^1]["agent"]!["labels"]!["rack"]!.GetValue<string>());
        Assert.Equal(Environment.MachineName, bodies[^1]["agent"]!["hostname"]!.GetValue<string>());

        // The 503 answers and the replay carry the same samples: the successful deliveries are in collection order.
        var firstOk = delivered.Count - (int)(agent.Host.Agent.Samples.Replayed + agent.Host.Agent.Samples.Forwarded);
        var times = bodies.Skip(firstOk).Select(b => b["sample"]!["collected_at"]!.GetValue<DateTimeOffset>()).ToList();
        Assert.Equal(times.Order(), times);
    }

    [Fact]
    public async Task Without_a_server_token_host_samples_are_collected_but_not_sent()
    {
        await using var ingest = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync($$"""
            collectors:
              interval_seconds: 0.1
            export:
              servers: {endpoint: "{{ingest.BaseUrl}}", server_slug: gpu-box-01}
            """);

        await Eventually.HoldsAsync(() => agent.Host.Agent.Metrics.HostSamples >= 3, Patience, "samples collected", Cancel);
        Assert.Empty(ingest.Requests);
        Assert.Equal(0, agent.Host.Agent.Samples.Waiting);
        var export = JsonNode.Parse(await agent.Api.GetStringAsync("/status/export", Cancel))!;
        Assert.Contains("no server token", export["host_samples"]!["skipped"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_agents_own_metrics_go_to_an_otlp_endpoint_when_one_is_configured()
    {
        await using var collector = await RecordingReceiver.StartNewAsync();
        await using var agent = await AgentUnderTest.StartAsync($$"""
            export:
              otlp: {endpoint: "{{collector.BaseUrl}}", protocol: "http/protobuf", interval_seconds: 1}
            """);

        await Eventually.HoldsAsync(() => collector.Requests.Any(r => r.Path == "/v1/metrics"), Patience, "an OTLP export", Cancel);
        var export = collector.Requests.First(r => r.Path == "/v1/metrics");
        Assert.Equal("application/x-protobuf", export.Headers["Content-Type"]);
        Assert.Contains("aperture.agent.host_samples", System.Text.Encoding.UTF8.GetString(export.Body), StringComparison.Ordinal);
        Assert.True((JsonNode.Parse(await agent.Api.GetStringAsync("/status/export", Cancel))!)["otlp"]!["enabled"]!.GetValue<bool>());
    }
}
