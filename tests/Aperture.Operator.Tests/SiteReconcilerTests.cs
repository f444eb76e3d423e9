using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Operator.Tests;

/// <summary>The Site controller, end to end on the test API server with the real client.</summary>
public sealed class SiteReconcilerTests : IAsyncLifetime
{
    private const string Ns = "obs";
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;
    private CancellationTokenSource _stop = null!;
    private Task _running = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(15), what, Cancel);

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
        var cache = new ResourceCache<Site>();
        var queue = new WorkQueue<string>(TimeProvider.System, TimeSpan.FromMilliseconds(50), TimeSpan.FromSeconds(2));
        var watcher = new ResourceWatcher<Site>(new CustomResourceSource<Site>(_client, "sites"), cache, queue.Add, TimeProvider.System, NullLogger.Instance);
        var reconciler = new SiteReconciler(_client, new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200) }, TimeProvider.System);
        var controller = new Controller<Site>("Site", watcher, cache, queue, reconciler,
            new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromMilliseconds(300) }, TimeProvider.System, NullLogger.Instance);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        _running = controller.RunAsync(_stop.Token);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private Task CreateSecretAsync(string name, string key) =>
        _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = name },
            Data = new Dictionary<string, byte[]> { [key] = "secret"u8.ToArray() },
        }, Ns, cancellationToken: Cancel);

    private Task CreateSiteAsync() =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west", replicas: 2), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);

    private async Task<Site> SiteAsync() =>
        ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", Cancel)).Deserialize<Site>()!;

    private async Task<Condition?> ReadyAsync() => (await SiteAsync()).Status.Conditions?.SingleOrDefault(c => c.Type == Conditions.Ready);

    [Fact]
    public async Task A_site_missing_its_secret_is_not_ready_and_recovers_by_itself_when_the_secret_appears()
    {
        await CreateSecretAsync("redis", "config");
        await CreateSiteAsync();

        await EventuallyAsync(async () => (await ReadyAsync())?.Reason == "SecretNotFound", "Ready=False SecretNotFound");
        var notReady = (await ReadyAsync())!;
        Assert.Equal(ConditionStatus.False, notReady.Status);
        Assert.Contains("Secret 'ch'", notReady.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<k8s.Autorest.HttpOperationException>(() => _client.AppsV1.ReadNamespacedStatefulSetAsync("eu-west-aggregator", Ns, cancellationToken: Cancel));

        await CreateSecretAsync("ch", "cs");

        await EventuallyAsync(async () => (await ReadyAsync())?.Reason == "Progressing", "the children applied");
        var statefulSet = await _client.AppsV1.ReadNamespacedStatefulSetAsync("eu-west-aggregator", Ns, cancellationToken: Cancel);
        Assert.Equal(2, statefulSet.Spec.Replicas);
        Assert.Equal("eu-west", statefulSet.Metadata.OwnerReferences.Single().Name);
    }

    [Fact]
    public async Task A_site_becomes_ready_when_its_replicas_are_and_a_steady_site_costs_no_writes()
    {
        await CreateSecretAsync("ch", "cs");
        await CreateSecretAsync("redis", "config");
        await CreateSiteAsync();
        await EventuallyAsync(async () => (await ReadyAsync())?.Reason == "Progressing", "the children applied");

        Assert.Equal(2, (await _client.CoreV1.ListNamespacedServiceAsync(Ns, cancellationToken: Cancel)).Items.Count);
        Assert.Single((await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items);

        // The API server's StatefulSet controller would report the pods; the test plays its part.
        await _client.AppsV1.PatchNamespacedStatefulSetStatusAsync(
            new V1Patch("{\"status\":{\"replicas\":2,\"readyReplicas\":2}}", V1Patch.PatchType.MergePatch), "eu-west-aggregator", Ns, cancellationToken: Cancel);

        await EventuallyAsync(async () => (await ReadyAsync())?.Status == ConditionStatus.True, "Ready=True");
        var site = await SiteAsync();
        Assert.Equal(2, site.Status.ReadyReplicas);
        Assert.Equal("eu-west-aggregator.obs.svc:9090", site.Status.Endpoint);
        Assert.Equal(site.Metadata.Generation, site.Status.ObservedGeneration);

        // Several resyncs later, nothing was written again.
        var writes = _server.Store.Writes.Count;
        await Task.Delay(1500, Cancel);
        Assert.Equal(writes, _server.Store.Writes.Count);
    }

    [Fact]
    public async Task Deleting_the_site_leaves_none_of_its_objects_behind()
    {
        await CreateSecretAsync("ch", "cs");
        await CreateSecretAsync("redis", "config");
        await CreateSiteAsync();
        await EventuallyAsync(async () => (await ReadyAsync())?.Reason == "Progressing", "the children applied");

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", cancellationToken: Cancel);

        Assert.Empty((await _client.AppsV1.ListNamespacedStatefulSetAsync(Ns, cancellationToken: Cancel)).Items);
        Assert.Empty((await _client.CoreV1.ListNamespacedServiceAsync(Ns, cancellationToken: Cancel)).Items);
        Assert.Empty((await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items);
        Assert.Equal(2, (await _client.CoreV1.ListNamespacedSecretAsync(Ns, cancellationToken: Cancel)).Items.Count);
    }
}
