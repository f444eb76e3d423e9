using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Grpc.Core;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Profiling;

public sealed class IngestFaultTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_end_of_a_burst_is_stored_when_pushes_stop_not_when_the_flush_interval_ends()
    {
        // An interval and a row count the test never reaches: only the idle rule can flush.
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Profiling:FlushInterval=00:10:00",
            "--Aperture:Profiling:FlushRows=10000000",
            "--Aperture:Profiling:FlushIdle=00:00:00.200");
        using var channel = runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var agent = Agent("burst");
        for (var sequence = 1UL; sequence <= 5; sequence++)
        {
            Assert.True((await client.PushAsync(Batch(agent, sequence, Cpu(T0 + (long)sequence, 2, "main", "burst")), cancellationToken: Cancel)).Accepted);
        }

        await WaitForStorageAsync(runtime.Http, agent, 10, Cancel);
    }

    [Fact]
    public async Task A_full_buffer_drops_the_batch_counts_it_and_tells_the_agent_then_recovers()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Profiling:BufferCapacity=2",
            "--Aperture:Profiling:FlushInterval=00:00:00.100",
            "--Aperture:Profiling:MaxRetryDelay=00:00:00.500");
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await runtime.Http.GetAsync("/readyz", Cancel)).IsSuccessStatusCode, TimeSpan.FromSeconds(30), "ready");
        await runtime.ClickHouse.StopAsync();
        using var channel = runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var agent = Agent("overflow");

        var first = await client.PushAsync(Batch(agent, 1, Cpu(T0, 1, "main")), cancellationToken: Cancel);
        var second = await client.PushAsync(Batch(agent, 2, Cpu(T0 + 1, 1, "main")), cancellationToken: Cancel);
        var third = await client.PushAsync(Batch(agent, 3, Cpu(T0 + 2, 1, "main")), cancellationToken: Cancel);

        Assert.True(first.Accepted && second.Accepted);
        Assert.False(third.Accepted);
        Assert.Contains("buffer full", third.Error, StringComparison.Ordinal);
        Assert.True(third.RetryAfterMs > 0);
        var metrics = await runtime.Http.GetStringAsync("/metrics", Cancel);
        Assert.Matches(@"aperture_buffer_drops_total [1-9]", metrics);
        var health = await runtime.Http.GetFromJsonAsync<JsonElement>("/api/health", Cancel);
        Assert.Equal(1L, health.GetProperty("push_total_error").GetInt64());
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        using (var ready = await runtime.Http.GetAsync("/readyz", Cancel))
        {
            Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        }

        // ClickHouse returns: the writer's retries store the two held batches, the buffer drains, and the
        // dropped batch, sent again, is taken as new rather than called a replay.
        await runtime.ClickHouse.StartAsync();
        await WaitForStorageAsync(runtime.Http, agent, 2, Cancel);
        var retried = await client.PushAsync(Batch(agent, 3, Cpu(T0 + 2, 1, "main")), cancellationToken: Cancel);
        Assert.True(retried.Accepted);
        Assert.False(retried.Duplicate);
        await WaitForStorageAsync(runtime.Http, agent, 3, Cancel);
        var flushErrors = (await runtime.Http.GetFromJsonAsync<JsonElement>("/api/health", Cancel)).GetProperty("clickhouse_flush_error").GetInt64();
        Assert.True(flushErrors > 0);
    }

    [Fact]
    public async Task Batches_lost_with_a_crashed_aggregator_are_taken_again_when_the_agent_replays_them_and_stored_once()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Profiling:FlushInterval=00:00:00.100",
            "--Aperture:Profiling:MaxRetryDelay=00:00:00.200",
            "--Aperture:Profiling:HeartbeatTimeout=00:00:00.600");
        var agent = Agent("crash");
        var batches = Enumerable.Range(1, 3).Select(i => Batch(agent, (ulong)i, Cpu(T0 + i, (ulong)i, "main", "lost"))).ToArray();

        // ClickHouse is down: the aggregator acknowledges the batches but cannot store them, then goes away.
        await runtime.ClickHouse.StopAsync();
        using (var channel = runtime.GrpcChannel())
        {
            var client = new Aggregator.AggregatorClient(channel);
            foreach (var batch in batches)
            {
                Assert.True((await client.PushAsync(batch, cancellationToken: Cancel)).Accepted);
            }
        }

        await runtime.StopRuntimeAsync();
        await runtime.ClickHouse.StartAsync();
        await runtime.StartRuntimeAsync();
        await Task.Delay(1000, Cancel);

        // The agent replays from its spool: the new aggregator takes what the old one lost.
        using (var channel = runtime.GrpcChannel())
        {
            var client = new Aggregator.AggregatorClient(channel);
            foreach (var batch in batches)
            {
                var replay = await client.PushAsync(batch, cancellationToken: Cancel);
                Assert.True(replay.Accepted);
                Assert.False(replay.Duplicate);
            }

            await WaitForStorageAsync(runtime.Http, agent, 6, Cancel);
            await RuntimeEnvironment.WaitUntilAsync(
                async () => (await client.PushAsync(batches[0], cancellationToken: Cancel)).Duplicate, TimeSpan.FromSeconds(10), "a stored batch called a replay");
        }

        await Task.Delay(500, Cancel);
        var stored = await PostJsonAsync(runtime.Http, "/api/aggregate", new { agent_id = agent, source = "storage" }, Cancel);
        Assert.Equal(6UL, stored.GetProperty("total_events").GetUInt64());
    }

    [Fact]
    public async Task A_replay_to_a_live_aggregator_that_holds_the_batch_is_a_duplicate_even_before_it_is_stored()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        await runtime.ClickHouse.StopAsync();
        using var channel = runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var batch = Batch(Agent("held"), 1, Cpu(T0, 1, "main"));

        Assert.False((await client.PushAsync(batch, cancellationToken: Cancel)).Duplicate);
        Assert.True((await client.PushAsync(batch, cancellationToken: Cancel)).Duplicate);
        await runtime.ClickHouse.StartAsync();
    }

    [Fact]
    public async Task With_a_token_every_route_but_the_probes_needs_it_over_http_and_grpc()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:AuthToken=s3cret-token");
        var http = runtime.Http;

        foreach (var open in new[] { "/healthz", "/readyz", "/metrics" })
        {
            using var response = await http.GetAsync(open, Cancel);
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        foreach (var header in new[] { null, "Bearer wrong-token", "Basic s3cret-token", "Bearer s3cret-tokenX" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/health");
            if (header is not null)
            {
                request.Headers.TryAddWithoutValidation("Authorization", header);
            }

            using var response = await http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
            Assert.Equal("unauthorized", body.GetProperty("error").GetString());
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/health"))
        {
            request.Headers.Authorization = new("Bearer", "s3cret-token");
            using var response = await http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        using var channel = runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var batch = Batch(Agent("auth"), 1, Cpu(T0, 1, "main"));
        var none = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync(batch, cancellationToken: Cancel).ResponseAsync);
        var wrong = await Assert.ThrowsAsync<RpcException>(() =>
            client.PushAsync(batch, new Metadata { { "authorization", "Bearer nope" } }, cancellationToken: Cancel).ResponseAsync);
        var accepted = await client.PushAsync(batch, new Metadata { { "authorization", "Bearer s3cret-token" } }, cancellationToken: Cancel);

        Assert.Equal(StatusCode.Unauthenticated, none.StatusCode);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.True(accepted.Accepted);
    }
}
