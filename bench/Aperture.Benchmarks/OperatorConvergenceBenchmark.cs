using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 4's figure: resources of mixed kinds (Sites and ProfilingTargets) from created to Ready on
/// the test API server — seconds, reconciles/s, peak memory — and the writes the operator makes in a
/// steady state afterwards (target 0). The bench plays the StatefulSet controller: it marks each
/// StatefulSet's replicas ready, as kube-controller-manager would once pods run.
/// </summary>
public static class OperatorConvergenceBenchmark
{
    private const string Ns = "bench";

    public static async Task RunAsync(int resources, TimeSpan steadyFor)
    {
        var sites = resources / 2;
        var targets = resources - sites;
        Console.WriteLine($"## operator: {resources:N0} resources ({sites:N0} Sites, {targets:N0} ProfilingTargets) from created to Ready, then {steadyFor.TotalSeconds:F0} s steady");
        await using var server = await TestApiServer.StartAsync();
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = server.Url.ToString().TrimEnd('/') });
        foreach (var (name, key) in new[] { ("ch", "cs"), ("redis", "config") })
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = name }, Data = new Dictionary<string, byte[]> { [key] = [1] } }, Ns);
        }

        await using var host = OperatorHost.Create(new OperatorOptions
        {
            ListenAddress = "127.0.0.1",
            MetricsPort = 0,
            KubernetesApi = server.Url.ToString().TrimEnd('/'),
            LeaderElection = false,
            Controllers = new ControllerOptions { Workers = 4, ResyncPeriod = TimeSpan.FromSeconds(20) },
            Sites = new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromSeconds(1) },
        });
        await host.StartAsync();
        using var http = new HttpClient { BaseAddress = host.Url };
        var before = await ReconcilesAsync(http);
        var memoryBefore = ProcessMemory.ResidentBytes(Environment.ProcessId);

        var stopwatch = Stopwatch.StartNew();
        await Parallel.ForEachAsync(Enumerable.Range(0, sites), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (i, token) =>
        {
            await client.CustomObjects.CreateNamespacedCustomObjectAsync(new Site
            {
                Metadata = new V1ObjectMeta { Name = $"site-{i}" },
                Spec = new SiteSpec
                {
                    ClickHouse = new SiteClickHouse { ConnectionSecretRef = new SecretKeyReference { Name = "ch", Key = "cs" } },
                    Redis = new SiteRedis { ConnectionSecretRef = new SecretKeyReference { Name = "redis", Key = "config" } },
                },
            }, ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: token);
            if (i < targets)
            {
                await client.CustomObjects.CreateNamespacedCustomObjectAsync(new ProfilingTarget
                {
                    Metadata = new V1ObjectMeta { Name = $"target-{i}" },
                    Spec = new ProfilingTargetSpec { SiteRef = new NamedReference { Name = $"site-{i}" }, EventTypes = [ProfilingEventType.Cpu] },
                }, ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", cancellationToken: token);
            }
        });
        var created = stopwatch.Elapsed;

        // The StatefulSet controller's part, and counting what is Ready.
        var peak = memoryBefore;
        while (true)
        {
            foreach (var statefulSet in (await client.AppsV1.ListNamespacedStatefulSetAsync(Ns)).Items.Where(s => (s.Status?.ReadyReplicas ?? 0) < s.Spec.Replicas))
            {
                await client.AppsV1.PatchNamespacedStatefulSetStatusAsync(new V1Patch(
                    string.Create(CultureInfo.InvariantCulture, $"{{\"status\":{{\"replicas\":{statefulSet.Spec.Replicas},\"readyReplicas\":{statefulSet.Spec.Replicas}}}}}"),
                    V1Patch.PatchType.MergePatch), statefulSet.Metadata.Name, Ns);
            }

            peak = Math.Max(peak, ProcessMemory.ResidentBytes(Environment.ProcessId));
            var ready = await CountReadyAsync(client, "sites") + await CountReadyAsync(client, "profilingtargets");
            if (ready == resources)
            {
                break;
            }

            if (stopwatch.Elapsed > TimeSpan.FromMinutes(5))
            {
                throw new TimeoutException($"only {ready} of {resources} resources Ready after 5 minutes");
            }

            await Task.Delay(200);
        }

        var converged = stopwatch.Elapsed;
        var reconciles = await ReconcilesAsync(http) - before;
        var writesAtReady = server.Store.Writes.Count;
        await Task.Delay(steadyFor);
        var steadyWrites = server.Store.Writes.Skip(writesAtReady).Where(w => w.FieldManager == "aperture-operator" || w.Verb is "apply" or "patch-status").ToList();

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"created in                {created.TotalSeconds,10:F1} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"all Ready after           {converged.TotalSeconds,10:F1} s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"reconciles                {reconciles,10:F0}  ({reconciles / converged.TotalSeconds:F0}/s)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"peak memory (process)     {peak / 1048576.0,10:F0} MiB  (test API server, operator and bench in one process; {memoryBefore / 1048576.0:F0} MiB before)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"writes in {steadyFor.TotalSeconds:F0} s steady state {steadyWrites.Count,7}  (target 0; resyncs every 20 s)"));
    }

    private static async Task<int> CountReadyAsync(Kubernetes client, string plural)
    {
        var list = (JsonElement)await client.CustomObjects.ListNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, plural);
        return list.GetProperty("items").EnumerateArray().Count(i =>
            i.TryGetProperty("status", out var status) && status.TryGetProperty("conditions", out var conditions)
            && conditions.EnumerateArray().Any(c => c.GetProperty("type").GetString() == "Ready" && c.GetProperty("status").GetString() == "True"));
    }

    private static async Task<double> ReconcilesAsync(HttpClient http)
    {
        var text = await http.GetStringAsync("/metrics");
        return text.Split('\n')
            .Where(l => l.StartsWith("aperture_operator_reconcile_total{", StringComparison.Ordinal))
            .Sum(l => double.Parse(l[(l.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture));
    }
}
