using System.Net;
using System.Text;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Google.Protobuf;
using Grpc.Core;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Profiling;

/// <summary>Reads kept to one profiling target (the workload a batch names), from the buffer and from ClickHouse.</summary>
public sealed partial class AggregatorApiTests
{
    private static PushRequest For(string target, PushRequest batch)
    {
        batch.Target = target;
        return batch;
    }

    private static string Target(string name) => $"{name}-{Guid.NewGuid():N}";

    private static List<string> CpuStacks(JsonElement aggregate) =>
        [.. aggregate.GetProperty("cpu").GetProperty("stacks").EnumerateArray()
            .Select(s => string.Join(';', s.GetProperty("stack").GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("function").GetString())))
            .Order(StringComparer.Ordinal)];

    [Fact]
    public async Task An_aggregate_for_a_target_sees_only_that_targets_stacks_from_every_agent_in_the_buffer_and_in_ClickHouse()
    {
        var (nodeA, nodeB) = (Agent("target-a"), Agent("target-b"));
        var (checkout, search) = (Target("checkout"), Target("search"));
        await PushAllAsync(
            For(checkout, Batch(nodeA, 1, Cpu(T0, 10, "main", "pay"))),
            For(checkout, Batch(nodeB, 1, Cpu(T0 + 1, 5, "main", "pay"), Cpu(T0 + 2, 2, "main", "ship"))),
            For(search, Batch(nodeA, 2, Cpu(T0 + 3, 7, "main", "find"))),
            Batch(nodeB, 2, Cpu(T0 + 4, 3, "main", "untargeted")));
        await WaitForStorageAsync(Http, nodeA, 17, Cancel);
        await WaitForStorageAsync(Http, nodeB, 10, Cancel);

        foreach (var source in new[] { "buffer", "storage" })
        {
            var only = await PostJsonAsync(Http, "/api/aggregate", new { target = checkout, source }, Cancel);
            Assert.Equal(source, only.GetProperty("source").GetString());
            Assert.Equal(["main;pay", "main;ship"], CpuStacks(only));
            Assert.Equal(17UL, only.GetProperty("total_events").GetUInt64());
            Assert.Equal(0, only.GetProperty("skipped_batches").GetInt32());

            // The target and the agent narrow together; tenant and agent filtering are as without a target.
            var oneNode = await PostJsonAsync(Http, "/api/aggregate", new { target = checkout, agent_id = nodeA, source }, Cancel);
            Assert.Equal(10UL, oneNode.GetProperty("total_events").GetUInt64());
            var everyTarget = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = nodeB, source }, Cancel);
            Assert.Equal(["main;pay", "main;ship", "main;untargeted"], CpuStacks(everyTarget));
            var nobody = await PostJsonAsync(Http, "/api/aggregate", new { target = Target("nobody"), source }, Cancel);
            Assert.Equal(0UL, nobody.GetProperty("total_events").GetUInt64());
        }

        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var grpc = await client.AggregateAsync(new AggregateRequest { Target = search, Source = "storage" }, cancellationToken: Cancel);
        Assert.Equal(7UL, grpc.TotalEvents);
        Assert.Equal("find", Assert.Single(grpc.Cpu.Stacks).Stack.Frames[^1].Function);
    }

    [Fact]
    public async Task A_diff_for_a_target_compares_only_that_targets_stacks_in_both_windows()
    {
        var (nodeA, nodeB) = (Agent("tdiff-a"), Agent("tdiff-b"));
        var (checkout, search) = (Target("checkout"), Target("search"));
        const long mid = T0 + 1_000_000;
        const long end = T0 + 2_000_000;
        await PushAllAsync(
            For(checkout, Batch(nodeA, 1, Cpu(T0 + 10, 30, "main", "old"), Cpu(T0 + 20, 20, "main", "both"))),
            For(search, Batch(nodeA, 2, Cpu(T0 + 30, 100, "main", "find"))),
            For(checkout, Batch(nodeB, 1, Cpu(mid + 10, 45, "main", "both"), Cpu(mid + 20, 5, "main", "new"))),
            For(search, Batch(nodeB, 2, Cpu(mid + 30, 7, "main", "find"))));
        await WaitForStorageAsync(Http, nodeA, 150, Cancel);
        await WaitForStorageAsync(Http, nodeB, 57, Cancel);

        var response = await PostJsonAsync(Http, "/api/diff", new
        {
            baseline_start_ns = T0,
            baseline_end_ns = mid,
            comparison_start_ns = mid,
            comparison_end_ns = end,
            event_type = "cpu",
            target = checkout,
        }, Cancel);

        Assert.Equal(string.Empty, response.GetProperty("error").GetString());
        var result = JsonDocument.Parse(response.GetProperty("result_json").GetString()!).RootElement;
        Assert.Equal((50UL, 50UL), (result.GetProperty("baseline_total").GetUInt64(), result.GetProperty("comparison_total").GetUInt64()));
        var stacks = result.GetProperty("stacks").EnumerateArray()
            .Select(s => (s.GetProperty("stack").GetString(), s.GetProperty("baseline").GetUInt64(), s.GetProperty("comparison").GetUInt64()))
            .ToList();
        Assert.Equal([("main;old", 30UL, 0UL), ("main;both", 20UL, 45UL), ("main;new", 0UL, 5UL)], stacks);

        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var grpc = await client.DiffAsync(new DiffRequest
        {
            BaselineAgentId = nodeA,
            BaselineStartNs = (ulong)T0,
            BaselineEndNs = (ulong)mid,
            ComparisonAgentId = nodeB,
            ComparisonStartNs = (ulong)mid,
            ComparisonEndNs = (ulong)end,
            EventType = EventType.Cpu,
            Target = search,
        }, cancellationToken: Cancel);
        Assert.Equal(string.Empty, grpc.Error);
        var searched = JsonDocument.Parse(grpc.ResultJson).RootElement;
        Assert.Equal((100UL, 7UL), (searched.GetProperty("baseline_total").GetUInt64(), searched.GetProperty("comparison_total").GetUInt64()));
        Assert.Equal("main;find", Assert.Single(searched.GetProperty("stacks").EnumerateArray()).GetProperty("stack").GetString());
    }

    [Fact]
    public async Task A_target_longer_than_a_kubernetes_name_is_refused_over_grpc_and_http_and_in_queries()
    {
        var agent = Agent("longtarget");
        var tooLong = new string('t', 254);
        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);

        var refused = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync(For(tooLong, Batch(agent, 1, Cpu(T0, 1, "main"))), cancellationToken: Cancel).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, refused.StatusCode);
        Assert.Contains("target must be at most 253", refused.Status.Detail, StringComparison.Ordinal);

        using (var content = new ByteArrayContent(For(tooLong, Batch(agent, 2, Cpu(T0, 1, "main"))).ToByteArray()))
        {
            content.Headers.ContentType = new("application/x-protobuf");
            using var response = await Http.PostAsync("/api/push", content, Cancel);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("invalid_request", error.GetProperty("error").GetString());
            Assert.Equal("target", error.GetProperty("details").GetProperty("field").GetString());
        }

        foreach (var path in new[] { "/api/aggregate", "/api/diff" })
        {
            var body = JsonSerializer.Serialize(new
            {
                target = tooLong,
                baseline_start_ns = T0,
                baseline_end_ns = T0 + 10,
                comparison_start_ns = T0,
                comparison_end_ns = T0 + 10,
            });
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await Http.PostAsync(path, content, Cancel);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
            Assert.Equal("target", error.GetProperty("details").GetProperty("field").GetString());
        }

        // 253 characters, the longest Kubernetes name, is a target.
        await PushAllAsync(For(tooLong[..253], Batch(agent, 3, Cpu(T0, 4, "main"))));
        var held = await PostJsonAsync(Http, "/api/aggregate", new { target = tooLong[..253], agent_id = agent, source = "buffer" }, Cancel);
        Assert.Equal(4UL, held.GetProperty("total_events").GetUInt64());
    }
}
