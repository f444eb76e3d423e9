using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Configuration;
using Aperture.Agent.Discovery;
using Aperture.KubernetesTestServer;
using Aperture.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Agent.Tests;

/// <summary>
/// Profiling targets' pods found through the test Kubernetes API server (list, watch, 410 Gone) and mapped
/// to processes through proc/PID/cgroup files of a fake host root.
/// </summary>
public sealed class PodDiscoveryTests : IAsyncLifetime
{
    private const string Ns = "shop";
    private const string Node = "node-a";
    private static readonly ResourceKind Pods = ResourceKinds.Find(string.Empty, "v1", "pods")!;
    private readonly TemporaryDirectory _root = new("aperture-host-root");
    private TestApiServer _server = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _root.Dispose();
    }

    /// <summary>A pod of the API server; its uid is the server's, and the processes given are placed in it on the fake host.</summary>
    private string CreatePod(string name, string node, Dictionary<string, string> labels, params int[] pids)
    {
        var body = new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = name, ["labels"] = new JsonObject([.. labels.Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))]) },
            ["spec"] = new JsonObject { ["nodeName"] = node, ["containers"] = new JsonArray(new JsonObject { ["name"] = "app", ["image"] = "app:1" }) },
            ["status"] = new JsonObject { ["phase"] = "Running" },
        };
        var uid = _server.Store.Create(Pods, Ns, body, null)["metadata"]!["uid"]!.GetValue<string>();
        foreach (var pid in pids)
        {
            FakeProc.Write(_root.Path, pid, FakeProc.PodCgroup(uid));
        }

        return uid;
    }

    private AgentConfig Config(string targetsYaml) => AgentConfigLoader.Parse($$"""
        collectors: {host_root: "{{_root.Path}}"}
        discovery:
          kubernetes: {api_server: "{{_server.Url}}", node_name: {{Node}}, request_timeout_seconds: 5, initial_backoff_ms: 50, max_backoff_ms: 200}
        profiling:
          targets:
        {{targetsYaml}}
        """, new Dictionary<string, string?>());

    private static readonly Dictionary<string, string> Checkout = new() { ["app"] = "checkout" };

    [Fact]
    public async Task A_target_selects_the_processes_of_its_pods_on_this_node_and_follows_them()
    {
        CreatePod("checkout-1", Node, Checkout, 101, 102);
        CreatePod("checkout-2", "node-b", Checkout, 201);
        CreatePod("cart-1", Node, new() { ["app"] = "cart" }, 301);
        FakeProc.Write(_root.Path, 1, "0::/init.scope");
        var config = Config("""
                - {name: checkout, namespace: shop, pod_selector: {app: checkout}, event_types: [cpu, lock], sample_rate: 199}
                - {name: node, event_types: [syscall]}
            """);
        await using var discovery = new TargetDiscovery(config, _ => null, TimeProvider.System, NullLoggerFactory.Instance);
        discovery.Start();

        await Eventually.HoldsAsync(() => Task.FromResult(discovery.Connected && discovery.PodsWatched == 1), TimeSpan.FromSeconds(15), "the checkout pod of this node listed", Cancel);
        var selection = discovery.Resolve();
        Assert.Equal([101, 102], selection.For(ProfilingTargetConfig.Cpu).Pids);
        Assert.False(selection.For(ProfilingTargetConfig.Cpu).AllProcesses);
        Assert.Equal([101, 102], selection.For(ProfilingTargetConfig.Lock).Pids);
        Assert.True(selection.For(ProfilingTargetConfig.Syscall).AllProcesses);
        Assert.Equal("checkout-1", Assert.Single(selection.Targets[0].Pods).Pod.Name);
        Assert.Equal(199, selection.CpuSampleRate);

        // A watch event adds a pod; a process that starts in a known pod is found on the next resolve.
        var added = CreatePod("checkout-3", Node, Checkout, 103);
        FakeProc.Write(_root.Path, 104, FakeProc.PodCgroup(added));
        await Eventually.HoldsAsync(() => Task.FromResult(discovery.PodsWatched == 2), TimeSpan.FromSeconds(15), "the new pod seen by the watch", Cancel);
        Assert.True(discovery.PodsChanged);
        Assert.Equal([101, 102, 103, 104], discovery.Resolve().For(ProfilingTargetConfig.Cpu).Pids);
        Assert.False(discovery.PodsChanged);

        // ... and a deletion removes it.
        _server.Store.Delete(Pods, Ns, "checkout-1");
        await Eventually.HoldsAsync(() => Task.FromResult(discovery.PodsWatched == 1), TimeSpan.FromSeconds(15), "the deleted pod gone", Cancel);
        Assert.Equal([103, 104], discovery.Resolve().For(ProfilingTargetConfig.Cpu).Pids);
    }

    [Fact]
    public async Task A_watch_whose_history_is_gone_lists_again()
    {
        _server.BookmarkInterval = TimeSpan.FromMinutes(5);
        CreatePod("checkout-1", Node, Checkout, 101);
        await using var discovery = new TargetDiscovery(Config("""
                - {name: checkout, namespace: shop, pod_selector: {app: checkout}}
            """), _ => null, TimeProvider.System, NullLoggerFactory.Instance);
        discovery.Start();
        await Eventually.HoldsAsync(() => Task.FromResult(discovery.PodsWatched == 1), TimeSpan.FromSeconds(15), "the first list", Cancel);

        // Changes the watch does not see (the test server sends nothing for a pod that leaves the selector, nor for
        // another node's pod), then compaction and a dropped connection: the watch resumes from a version that is
        // gone, gets 410, and lists again, which is the only way it learns that checkout-1 no longer matches.
        _server.Store.Patch(Pods, Ns, "checkout-1", new JsonObject { ["metadata"] = new JsonObject { ["labels"] = new JsonObject { ["app"] = "retired" } } }, status: false, apply: false, fieldManager: null);
        CreatePod("elsewhere", "node-b", Checkout);
        _server.Store.Compact();
        _server.Store.DropWatches();

        await Eventually.HoldsAsync(
            () => Task.FromResult(discovery.Lists >= 2 && discovery.PodsWatched == 0),
            TimeSpan.FromSeconds(15), "checkout-1 gone after the re-list", Cancel);
        Assert.Empty(discovery.Resolve().For(ProfilingTargetConfig.Cpu).Pids);
        Assert.True(discovery.Connected);

        // The watch after the re-list sees what happens next.
        CreatePod("checkout-2", Node, Checkout, 102);
        await Eventually.HoldsAsync(
            () => Task.FromResult(discovery.Resolve().For(ProfilingTargetConfig.Cpu).Pids.SequenceEqual([102])),
            TimeSpan.FromSeconds(15), "a new pod after the re-list", Cancel);
        Assert.True(discovery.Lists >= 2, $"{discovery.Lists} lists");
    }

    [Fact]
    public async Task An_unreachable_api_is_reported_and_selects_nothing()
    {
        var port = FreePort.Next();
        var config = AgentConfigLoader.Parse($$"""
            collectors: {host_root: "{{_root.Path}}"}
            discovery:
              kubernetes: {api_server: "http://127.0.0.1:{{port}}", node_name: {{Node}}, request_timeout_seconds: 1, initial_backoff_ms: 50, max_backoff_ms: 100}
            profiling:
              targets:
                - {name: checkout, namespace: shop, pod_selector: {app: checkout} }
            """, new Dictionary<string, string?>());
        await using var discovery = new TargetDiscovery(config, _ => null, TimeProvider.System, NullLoggerFactory.Instance);
        discovery.Start();

        await Eventually.HoldsAsync(() => Task.FromResult(discovery.Problem is { } p && p.Contains("checkout", StringComparison.Ordinal)), TimeSpan.FromSeconds(15), "the failure reported", Cancel);
        Assert.False(discovery.Connected);
        var cpu = discovery.Resolve().For(ProfilingTargetConfig.Cpu);
        Assert.False(cpu.AllProcesses);
        Assert.Empty(cpu.Pids);
        Assert.False(cpu.Any);
    }

    [Fact]
    public void Outside_kubernetes_targets_with_pods_say_why()
    {
        var config = AgentConfigLoader.Parse("""
            profiling:
              targets:
                - {name: checkout, namespace: shop, pod_selector: {app: checkout}}
            """, new Dictionary<string, string?>());
        var discovery = new TargetDiscovery(config, _ => null, TimeProvider.System, NullLoggerFactory.Instance);

        Assert.False(discovery.KubernetesEnabled);
        Assert.Contains("does not run in Kubernetes", discovery.Problem, StringComparison.Ordinal);
        Assert.Equal("https://10.0.0.1:6443/", KubernetesApiAccess.ServerAddress(new KubernetesDiscoveryConfig(), n => n switch
        {
            "KUBERNETES_SERVICE_HOST" => "10.0.0.1",
            "KUBERNETES_SERVICE_PORT" => "6443",
            _ => null,
        })!.ToString());
    }

    [Fact]
    public async Task The_agent_profiles_the_pods_processes_and_reports_them_in_status_discovery()
    {
        var uid = CreatePod("checkout-1", Node, Checkout, 101, 102);
        CreatePod("checkout-2", "node-b", Checkout, 201);
        var profiler = new RecordingProfileSource();
        await using var agent = await AgentUnderTest.StartAsync($$"""
            collectors: {host_root: "{{_root.Path}}"}
            discovery:
              kubernetes: {api_server: "{{_server.Url}}", node_name: {{Node}}, request_timeout_seconds: 5, initial_backoff_ms: 50}
            profiling:
              interval_seconds: 0.2
              targets:
                - {name: checkout, namespace: shop, pod_selector: {app: checkout}, event_types: [cpu], sample_rate: 250}
                - {name: locks, namespace: shop, pod_selector: {app: checkout}, event_types: [lock]}
            """, profiler: profiler);

        await Eventually.HoldsAsync(() => Task.FromResult(profiler.Last is { CpuSampling: true, LockEvents: true } s && s.Pids.SequenceEqual([101, 102])), TimeSpan.FromSeconds(15), "the profiler given the pod's processes", Cancel);
        var settings = profiler.Last!;
        Assert.Equal(250, settings.SampleRateHz);
        Assert.True(settings.LockEvents);
        Assert.Equal([101, 102], settings.EffectiveLockPids);
        Assert.False(settings.SyscallEvents);

        var discovery = await agent.Api.GetFromJsonAsync<JsonElement>("/status/discovery", Cancel);
        var kubernetes = discovery.GetProperty("kubernetes");
        Assert.True(kubernetes.GetProperty("enabled").GetBoolean());
        Assert.True(kubernetes.GetProperty("connected").GetBoolean());
        Assert.Equal(Node, kubernetes.GetProperty("node").GetString());
        Assert.Equal(2, kubernetes.GetProperty("pods_watched").GetInt32());
        var target = discovery.GetProperty("targets")[0];
        Assert.Equal("checkout", target.GetProperty("name").GetString());
        Assert.Equal(2, target.GetProperty("processes").GetInt32());
        var pod = Assert.Single(target.GetProperty("pods").EnumerateArray());
        Assert.Equal(uid, pod.GetProperty("uid").GetString());
        Assert.Equal(2, pod.GetProperty("processes").GetInt32());
        Assert.Equal("ok", discovery.GetProperty("check").GetString());

        // The pod goes: nothing is selected, and the profiler stops rather than sampling every process.
        _server.Store.Delete(Pods, Ns, "checkout-1");
        await Eventually.HoldsAsync(() => Task.FromResult(profiler.Last is { CpuSampling: false, LockEvents: false }), TimeSpan.FromSeconds(15), "the profiler idle without pods", Cancel);
        Assert.Contains("checkout", profiler.Last!.IdleReason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ready_names_why_discovery_fails_and_the_agent_keeps_running()
    {
        await using var agent = await AgentUnderTest.StartAsync($$"""
            collectors: {host_root: "{{_root.Path}}"}
            discovery:
              kubernetes: {api_server: "http://127.0.0.1:{{FreePort.Next()}}", node_name: {{Node}}, request_timeout_seconds: 1, initial_backoff_ms: 50, max_backoff_ms: 100}
            profiling:
              targets:
                - {name: checkout, namespace: shop, pod_selector: {app: checkout} }
            """, profiler: new RecordingProfileSource());

        JsonElement ready = default;
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await agent.Api.GetAsync("/ready", Cancel);
            ready = await response.Content.ReadFromJsonAsync<JsonElement>(Cancel);
            return ready.GetProperty("checks").GetProperty("discovery").GetString()!.StartsWith("failed: kubernetes: target checkout:", StringComparison.Ordinal);
        }, TimeSpan.FromSeconds(15), "the discovery check failing with its reason", Cancel);
        var discovery = await agent.Api.GetFromJsonAsync<JsonElement>("/status/discovery", Cancel);
        Assert.False(discovery.GetProperty("kubernetes").GetProperty("connected").GetBoolean());
        Assert.Contains("127.0.0.1", discovery.GetProperty("kubernetes").GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCodeOk, (int)(await agent.Api.GetAsync("/healthz", Cancel)).StatusCode);
    }

    private const int HttpStatusCodeOk = 200;

    /// <summary>Records the settings the agent hands its profiler.</summary>
    private sealed class RecordingProfileSource : ICpuProfileSource
    {
        private volatile CpuProfilerSettings? _last;

        public CpuProfilerSettings? Last => _last;

        public void Configure(CpuProfilerSettings settings) => _last = settings;

        public CpuProfileProbe Probe() => new(_last?.CpuSampling ?? false, "recording");

        public CpuProfile Collect() => new([], 0);
    }
}
