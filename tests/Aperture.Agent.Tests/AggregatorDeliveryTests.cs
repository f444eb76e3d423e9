using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Aperture.Agent.Collectors.Profiling;
using Aperture.Runtime.Tests;
using Aperture.Testing;
using ClickHouse.Driver;

namespace Aperture.Agent.Tests;

/// <summary>Profiles pushed over gRPC to a real aggregator (runtime, embedded ClickHouse, Redis) that goes away mid-stream.</summary>
public sealed class AggregatorDeliveryTests
{
    private const string Token = "push-token-for-tests";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task An_aggregator_stopped_mid_stream_and_restarted_receives_every_batch_exactly_once()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(extraArgs: ["--Aperture:AuthToken", Token]);
        var profiler = new CountingProfiler();
        var agentId = $"agent-{Guid.NewGuid():N}";
        await using var agent = await AgentUnderTest.StartAsync(
            $$"""
            agent: {id: "{{agentId}}"}
            profiling: {interval_seconds: 0.1}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{runtime.GrpcPort}}", timeout_seconds: 2}
              retry: {initial_backoff_ms: 50, max_backoff_ms: 500}
            """,
            new Dictionary<string, string?> { ["APERTURE_AUTH_TOKEN"] = Token },
            profiler);
        var profiles = agent.Host.Agent.Profiles;

        await Eventually.HoldsAsync(() => profiles.Forwarded >= 10, Patience, "batches pushed while the aggregator is up", Cancel);
        await runtime.StopRuntimeAsync();
        await Eventually.HoldsAsync(() => profiles.Waiting >= 10, Patience, "batches spooled while the aggregator is down", Cancel);
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, (await agent.Api.GetAsync("/ready", Cancel)).StatusCode);

        await runtime.StartRuntimeAsync();
        await Eventually.HoldsAsync(() => profiles.Waiting == 0 && profiles.Replayed >= 10, Patience, "the spool replayed", Cancel);
        profiler.Stop();
        await Task.Delay(TimeSpan.FromMilliseconds(500), Cancel); // a collection that began before Stop has made its batch
        await agent.Api.PostAsync("/admin/flush", null, Cancel);
        var made = agent.Host.Agent.Metrics.ProfileBatches;
        // A batch being sent when the flush returned is in none of the counts yet: wait for it to land.
        await Eventually.HoldsAsync(
            () => profiles.Waiting == 0 && profiles.Forwarded + profiles.Replayed == made, Patience, "every batch made forwarded or replayed", Cancel);
        Assert.Equal(made, profiles.Forwarded + profiles.Replayed + profiles.Waiting);
        Assert.Equal(0, profiles.Rejected);
        Assert.Equal(0, profiles.Dropped);

        // In ClickHouse: every batch once, by (agent, sequence), and every sample counted once.
        var clickHouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);
        async Task<ulong> Scalar(string sql) => Convert.ToUInt64(await clickHouse.ExecuteScalarAsync(sql, cancellationToken: Cancel), System.Globalization.CultureInfo.InvariantCulture);
        var where = $"WHERE agent_id = '{agentId}'"; // hex and dashes only, made above
        await Eventually.HoldsAsync(async () => await Scalar($"SELECT count() FROM {runtime.Database}.profile_batches {where}") >= (ulong)made, Patience, "every batch in ClickHouse", Cancel);
        await Task.Delay(TimeSpan.FromSeconds(2), Cancel); // a duplicate would have had time to arrive too
        Assert.Equal((ulong)made, await Scalar($"SELECT count() FROM {runtime.Database}.profile_batches {where}"));
        Assert.Equal((ulong)made, await Scalar($"SELECT uniqExact(sequence) FROM {runtime.Database}.profile_batches {where}"));
        Assert.Equal(profiler.SamplesEmitted, (long)await Scalar($"SELECT sum(count) FROM {runtime.Database}.profile_samples {where}"));

        // And through the runtime's query API, with the same bearer token.
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/batches?agent_id={agentId}&limit=1000");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Token);
        using var response = await runtime.Http.SendAsync(request, Cancel);
        var batches = JsonNode.Parse(await response.Content.ReadAsStringAsync(Cancel))!["batches"]!.AsArray();
        Assert.Equal(made, batches.Count);
        Assert.Equal(profiler.EventsEmitted, batches.Sum(b => b!["event_count"]!.GetValue<long>()));
    }

    /// <summary>A stand-in for the perf_event profiler: two stacks per collection, with counts that never repeat.</summary>
    private sealed class CountingProfiler : ICpuProfileSource
    {
        private long _collections;
        private long _samples;
        private long _events;
        private volatile bool _stopped;

        public long SamplesEmitted => Interlocked.Read(ref _samples);

        public long EventsEmitted => Interlocked.Read(ref _events);

        public void Stop() => _stopped = true;

        public CpuProfileProbe Probe() => new(true, "test profiler");

        public CpuProfile Collect()
        {
            if (_stopped)
            {
                return new CpuProfile([], 0);
            }

            var n = (ulong)Interlocked.Increment(ref _collections);
            var now = (ulong)DateTimeOffset.FromUnixTimeSeconds(1_800_000_000).AddMilliseconds(n).ToUnixTimeMilliseconds() * 1_000_000;
            CpuProfileFrame[] main = [new(0x1000, "main", "/usr/bin/busy"), new(0x1100, "work", "/usr/bin/busy")];
            CpuProfileStack[] stacks =
            [
                new([.. main, new(0x1200, "hot_loop", "/usr/bin/busy")], n, 4242, 4243, now, now + 1000),
                new([.. main, new(0x1300, "cold_path", "/usr/bin/busy")], 1, 4242, 4244, now, now),
            ];
            Interlocked.Add(ref _samples, (long)n + 1);
            Interlocked.Add(ref _events, stacks.Length);
            return new CpuProfile(stacks, 10_101_010);
        }
    }
}
