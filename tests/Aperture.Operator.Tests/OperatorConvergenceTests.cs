using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>The operator converges through the faults a real cluster has: conflicts and its own restarts.</summary>
public sealed class OperatorConvergenceTests : IAsyncLifetime
{
    private const string Ns = "obs";
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(20), what, Cancel);

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
        foreach (var (name, key) in new[] { ("ch", "cs"), ("redis", "config") })
        {
            await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = name }, Data = new Dictionary<string, byte[]> { [key] = [1] } }, Ns, cancellationToken: Cancel);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private OperatorHost Operator(TimeSpan? notReadyPoll = null) => OperatorHost.Create(new OperatorOptions
    {
        ListenAddress = "127.0.0.1",
        MetricsPort = 0,
        KubernetesApi = _server.Url.ToString().TrimEnd('/'),
        LeaderElection = false,
        Controllers = new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromSeconds(30) },
        Sites = new SiteReconcilerOptions { NotReadyPoll = notReadyPoll ?? TimeSpan.FromMilliseconds(200) },
    });

    private Task CreateSiteAsync() =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west"), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);

    private async Task<int?> ReplicasAsync() =>
        (await _client.AppsV1.ListNamespacedStatefulSetAsync(Ns, cancellationToken: Cancel)).Items.SingleOrDefault()?.Spec.Replicas;

    [Fact]
    public async Task Conflicts_on_its_writes_are_retried_until_the_site_converges()
    {
        for (var i = 0; i < 3; i++)
        {
            _server.FailNext(r => r.Method == "PATCH" && r.Path.Value!.Contains("/statefulsets/", StringComparison.Ordinal), 409);
        }

        await using var host = Operator();
        await host.StartAsync();
        await CreateSiteAsync();

        await EventuallyAsync(async () => await ReplicasAsync() == 1, "the StatefulSet after three conflicts");
        Assert.Equal(0, _server.PendingFailures);
    }

    [Fact]
    public async Task Changes_made_while_the_operator_was_down_are_applied_when_it_returns()
    {
        await using (var first = Operator())
        {
            await first.StartAsync();
            await CreateSiteAsync();
            await EventuallyAsync(async () => await ReplicasAsync() == 1, "the first operator's StatefulSet");
        }

        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"replicas\":3}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", cancellationToken: Cancel);
        await Task.Delay(300, Cancel);
        Assert.Equal(1, await ReplicasAsync());

        await using var second = Operator();
        await second.StartAsync();
        await EventuallyAsync(async () => await ReplicasAsync() == 3, "the restarted operator applying the change");
    }

    [Fact]
    public async Task A_site_hears_of_its_statefulset_becoming_ready_from_the_watch_not_a_poll()
    {
        // Polls and resyncs far beyond the test's patience: only the StatefulSet watch can wake the Site.
        await using var host = Operator(notReadyPoll: TimeSpan.FromHours(1));
        await host.StartAsync();
        await CreateSiteAsync();
        await EventuallyAsync(async () => await ReplicasAsync() == 1, "the StatefulSet");
        await EventuallyAsync(async () => (await SiteAsync()).Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == ConditionStatus.False) == true, "the Site not ready yet");

        // What the StatefulSet controller would write once the pod is ready.
        await _client.AppsV1.PatchNamespacedStatefulSetStatusAsync(
            new V1Patch("{\"status\":{\"replicas\":1,\"readyReplicas\":1,\"availableReplicas\":1}}", V1Patch.PatchType.MergePatch), "eu-west-aggregator", Ns, cancellationToken: Cancel);

        await EventuallyAsync(async () => (await SiteAsync()).Status.ReadyReplicas == 1, "the Site's ready replicas from the watch");
        Assert.Contains((await SiteAsync()).Status.Conditions!, c => c.Type == "Ready" && c.Status == ConditionStatus.True);
    }

    [Fact]
    public async Task The_central_site_list_follows_the_sites_and_is_not_rewritten_when_nothing_changed()
    {
        await using var host = Operator();
        await host.StartAsync();
        await CreateSiteAsync();
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("us-east"), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);

        async Task<string?> SitesJsonAsync()
        {
            var list = await _client.CoreV1.ListNamespacedConfigMapAsync("default", cancellationToken: Cancel);
            return list.Items.SingleOrDefault(c => c.Metadata.Name == "aperture-central-sites")?.Data["sites.json"];
        }

        await EventuallyAsync(async () => await SitesJsonAsync() is { } json && json.Contains("us-east-aggregator.obs.svc:18000", StringComparison.Ordinal)
            && json.Contains("eu-west-aggregator.obs.svc:18000", StringComparison.Ordinal), "both sites in the central list");
        var version = (await _client.CoreV1.ReadNamespacedConfigMapAsync("aperture-central-sites", "default", cancellationToken: Cancel)).Metadata.ResourceVersion;

        // A change to a Site that leaves the list as it was does not rewrite it.
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"replicas\":2}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", cancellationToken: Cancel);
        await EventuallyAsync(async () => await ReplicasOfAsync("eu-west-aggregator") == 2, "the Site's change applied");
        Assert.Equal(version, (await _client.CoreV1.ReadNamespacedConfigMapAsync("aperture-central-sites", "default", cancellationToken: Cancel)).Metadata.ResourceVersion);

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "sites", "us-east", cancellationToken: Cancel);
        await EventuallyAsync(async () => await SitesJsonAsync() is { } json && !json.Contains("us-east", StringComparison.Ordinal), "the deleted site gone from the list");
    }

    [Fact]
    public async Task Without_any_site_the_central_site_list_is_published_empty_so_the_central_runtime_can_start()
    {
        await using var host = Operator();
        await host.StartAsync();

        await EventuallyAsync(
            async () => (await _client.CoreV1.ListNamespacedConfigMapAsync("default", cancellationToken: Cancel)).Items.Any(c => c.Metadata.Name == "aperture-central-sites"),
            "the central site list");
        var sites = JsonDocument.Parse((await _client.CoreV1.ReadNamespacedConfigMapAsync("aperture-central-sites", "default", cancellationToken: Cancel)).Data["sites.json"]);
        Assert.Empty(sites.RootElement.GetProperty("Aperture").GetProperty("Central").GetProperty("Sites").EnumerateObject());
    }

    private async Task<int?> ReplicasOfAsync(string name) =>
        (await _client.AppsV1.ListNamespacedStatefulSetAsync(Ns, cancellationToken: Cancel)).Items.SingleOrDefault(s => s.Metadata.Name == name)?.Spec.Replicas;

    private async Task<Site> SiteAsync() =>
        ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", Cancel))
            .Deserialize<Site>()!;
}
