using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Agent.Profiling;
using Aperture.Agent.Profiling.Tests;
using Aperture.KubernetesTestServer;
using Aperture.Runtime.Tests;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>The whole profiling path: perf_event_open in the agent, gRPC Push, the aggregator, its flame-graph API.</summary>
// Not beside the other class that opens perf events: With_profiling_switched_off_no_perf_event_is_opened counts them in this process.
[Collection(PerfEventCollection.Name)]
public sealed class ProfilerEndToEndTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_agent_profiles_a_program_and_the_aggregator_shows_its_hot_function_on_top()
    {
        if (PerfCpuProfiler.Probe() is { Available: false } refused)
        {
            Assert.Skip($"the kernel refuses perf_event_open here: {refused.Reason}");
        }

        using var work = new TemporaryDirectory("aperture-agent-profile");
        using var program = HotProgram.Run(HotProgram.Compile(work.Path), seconds: 60);
        await using var runtime = await RuntimeEnvironment.StartAsync();
        using var profiler = new PerfCpuProfileSource();
        var agentId = $"agent-{Guid.NewGuid():N}";
        await using var agent = await AgentUnderTest.StartAsync(
            $$"""
            agent: {id: "{{agentId}}"}
            profiling: {interval_seconds: 0.5, sample_rate: 199, pids: [{{program.Pid}}]}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{runtime.GrpcPort}}", timeout_seconds: 5}
            """,
            profiler: profiler);

        var status = await agent.Api.GetStringAsync("/status/collectors", Cancel);
        Assert.Contains("sampling 1 processes at 199 Hz", status, StringComparison.Ordinal);

        var frames = await AggregatorStacks.TopCpuStackAsync(runtime.Http, agentId, 50, "samples of the hot program at the aggregator", Cancel);
        Assert.Equal("aperture_hot_loop", frames[^1]);
        Assert.Contains("aperture_outer", frames);
        Assert.Contains("main", frames);
    }

    [Fact]
    public async Task A_target_profiles_the_processes_of_its_pod_and_not_those_of_another()
    {
        if (PerfCpuProfiler.Probe() is { Available: false } refused)
        {
            Assert.Skip($"the kernel refuses perf_event_open here: {refused.Reason}");
        }

        using var work = new TemporaryDirectory("aperture-agent-pod-profile");
        var hotBinary = HotProgram.Compile(work.Path);
        var otherBinary = HotProgram.CompileC(work.Path, "aperture-other", HotProgram.Source.Replace("aperture_hot_loop", "aperture_other_loop", StringComparison.Ordinal), ["-O0", "-fno-omit-frame-pointer", "-g0"]);
        using var selected = HotProgram.Run(hotBinary, seconds: 60);
        using var unselected = HotProgram.Run(otherBinary, seconds: 60);

        // The pods live in the test API server; their processes are the real programs, placed in the pods by
        // cgroup files of a fake host root (the profiler opens the real pids under /proc, as it does in a pod
        // with the host's PID namespace).
        await using var kubernetes = await TestApiServer.StartAsync();
        var pods = ResourceKinds.Find(string.Empty, "v1", "pods")!;
        using var hostRoot = new TemporaryDirectory("aperture-agent-host-root");
        foreach (var (name, app, pid) in new[] { ("checkout-1", "checkout", selected.Pid), ("cart-1", "cart", unselected.Pid) })
        {
            var pod = kubernetes.Store.Create(pods, "shop", new JsonObject
            {
                ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject { ["app"] = app } },
                ["spec"] = new JsonObject { ["nodeName"] = "node-a" },
            }, null);
            FakeProc.Write(hostRoot.Path, pid, FakeProc.PodCgroup(pod["metadata"]!["uid"]!.GetValue<string>()));
        }

        await using var runtime = await RuntimeEnvironment.StartAsync();
        using var profiler = new PerfCpuProfileSource();
        var agentId = $"agent-{Guid.NewGuid():N}";
        await using var agent = await AgentUnderTest.StartAsync(
            $$"""
            agent: {id: "{{agentId}}"}
            collectors: {host_root: "{{hostRoot.Path}}"}
            discovery:
              kubernetes: {api_server: "{{kubernetes.Url}}", node_name: node-a}
            profiling:
              interval_seconds: 0.5
              targets:
                - {name: checkout, namespace: shop, pod_selector: {app: checkout}, event_types: [cpu], sample_rate: 199}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{runtime.GrpcPort}}", timeout_seconds: 5}
            """,
            profiler: profiler);

        await Eventually.HoldsAsync(
            async () => (await agent.Api.GetStringAsync("/status/collectors", Cancel)).Contains("sampling 1 processes at 199 Hz", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the profiler sampling the one process of the selected pod", Cancel);

        JsonElement stacks = default;
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await runtime.Http.PostAsJsonAsync("/api/aggregate", new { agent_id = agentId, event_type = "cpu", limit = 100 }, Cancel);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            stacks = body.GetProperty("cpu").GetProperty("stacks");
            return stacks.GetArrayLength() > 0 && body.GetProperty("total_events").GetUInt64() >= 50;
        }, TimeSpan.FromSeconds(60), "samples of the selected program at the aggregator", Cancel);

        var functions = stacks.EnumerateArray().Select(s => s.GetProperty("stack").GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("function").GetString()).ToList()).ToList();
        Assert.Equal("aperture_hot_loop", functions[0][^1]);
        Assert.DoesNotContain(functions, frames => frames.Contains("aperture_other_loop"));
    }

    [Fact]
    public async Task The_agent_traces_lock_waits_and_syscalls_and_the_aggregator_shows_them()
    {
        using var work = new TemporaryDirectory("aperture-agent-kernel-events");
        using var program = ContendedProgram.Run(ContendedProgram.Compile(work.Path), seconds: 60);
        await using var runtime = await RuntimeEnvironment.StartAsync();
        using var profiler = new PerfCpuProfileSource();
        var agentId = $"agent-{Guid.NewGuid():N}";
        await using var agent = await AgentUnderTest.StartAsync(
            $$"""
            agent: {id: "{{agentId}}"}
            profiling: {interval_seconds: 0.5, pids: [{{program.Pid}}], lock_events: true, syscall_events: true, min_latency_microseconds: 0}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{runtime.GrpcPort}}", timeout_seconds: 5}
            """,
            profiler: profiler);

        var collectors = await agent.Api.GetFromJsonAsync<JsonElement>("/status/collectors", Cancel);
        var byName = collectors.GetProperty("collectors").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        if (!byName["cpu_profiler"].GetProperty("loaded").GetBoolean() || !byName["lock_events"].GetProperty("loaded").GetBoolean())
        {
            Assert.Skip($"the kernel refuses perf events or tracepoints here: {byName["cpu_profiler"].GetProperty("reason")}; {byName["lock_events"].GetProperty("reason")}");
        }

        Assert.True(byName["syscall_events"].GetProperty("loaded").GetBoolean());
        var summary = (await agent.Api.GetFromJsonAsync<JsonElement>("/status", Cancel)).GetProperty("collectors");
        Assert.True(summary.GetProperty("lock_events").GetBoolean());
        Assert.True(summary.GetProperty("syscall_events").GetBoolean());
        foreach (var kind in new[] { "lock", "syscall" })
        {
            JsonElement stacks = default;
            await Eventually.HoldsAsync(async () =>
            {
                using var response = await runtime.Http.PostAsJsonAsync("/api/aggregate", new { agent_id = agentId, event_type = kind, limit = 100 }, Cancel);
                var body = await response.Content.ReadFromJsonAsync<JsonElement>(Cancel);
                stacks = body.GetProperty(kind).GetProperty("stacks");
                return stacks.GetArrayLength() > 0;
            }, TimeSpan.FromSeconds(60), $"{kind} events of the contended program at the aggregator", Cancel);

            // value is the summed wait (lock) or latency (syscall) in ns.
            Assert.Contains(stacks.EnumerateArray(), s => s.GetProperty("value").GetUInt64() > 0 && s.GetProperty("count").GetUInt64() > 0);
            if (kind == "lock")
            {
                Assert.Contains(stacks.EnumerateArray(), s => s.GetProperty("stack").GetProperty("frames").EnumerateArray().Any(f => f.GetProperty("function").GetString() == "aperture_worker"));
            }
        }
    }

    [Fact]
    public async Task With_profiling_switched_off_no_perf_event_is_opened()
    {
        using var profiler = new PerfCpuProfileSource();
        await using var agent = await AgentUnderTest.StartAsync("profiling: {enabled: false, sample_rate: 99}", profiler: profiler);

        var collectors = await agent.Api.GetFromJsonAsync<JsonElement>("/status/collectors", Cancel);
        var byName = collectors.GetProperty("collectors").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        foreach (var name in new[] { "cpu_profiler", "lock_events", "syscall_events" })
        {
            Assert.False(byName[name].GetProperty("loaded").GetBoolean(), name);
            Assert.Contains("profiling.enabled: false", byName[name].GetProperty("reason").GetString(), StringComparison.Ordinal);
        }

        // A process's open perf events show in its fd table as anon_inode:[perf_event].
        var perfEvents = Directory.EnumerateFiles("/proc/self/fd")
            .Select(fd => { try { return new FileInfo(fd).LinkTarget; } catch (IOException) { return null; } })
            .Count(target => target == "anon_inode:[perf_event]");
        Assert.Equal(0, perfEvents);
    }
}

/// <summary>The test classes that open perf events, run one after the other.</summary>
[CollectionDefinition(Name)]
public sealed class PerfEventCollection
{
    public const string Name = "perf_event";
}
