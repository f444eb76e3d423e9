using System.Net;
using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>The test API server, driven by the real KubernetesClient, behaves as the operator needs the real one to.</summary>
public sealed class TestApiServerTests : IAsyncLifetime
{
    private const string Ns = "obs";
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private static Site NewSite(string name = "eu-west") => new()
    {
        Metadata = new V1ObjectMeta { Name = name },
        Spec = new SiteSpec
        {
            ClickHouse = new SiteClickHouse { ConnectionSecretRef = new SecretKeyReference { Name = "ch", Key = "cs" } },
            Redis = new SiteRedis { ConnectionSecretRef = new SecretKeyReference { Name = "r", Key = "c" } },
        },
    };

    private Task<object> CreateSiteAsync(Site site) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(site, "aperture.dev", "v1alpha1", Ns, "sites", cancellationToken: Cancel);

    private async Task<Site> GetSiteAsync(string name = "eu-west") =>
        ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync("aperture.dev", "v1alpha1", Ns, "sites", name, Cancel)).Deserialize<Site>()!;

    [Fact]
    public async Task A_resource_is_created_read_and_listed_with_server_fields()
    {
        await CreateSiteAsync(NewSite());

        var site = await GetSiteAsync();
        var list = await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel);

        Assert.False(string.IsNullOrEmpty(site.Metadata.Uid));
        Assert.Equal(1, site.Metadata.Generation);
        Assert.NotNull(site.Metadata.ResourceVersion);
        Assert.Equal(Ns, site.Metadata.NamespaceProperty);
        Assert.Empty(list.Items);
        var duplicate = await Assert.ThrowsAsync<HttpOperationException>(() => CreateSiteAsync(NewSite()));
        Assert.Equal(HttpStatusCode.Conflict, duplicate.Response.StatusCode);
    }

    [Fact]
    public async Task An_invalid_custom_resource_is_refused_with_422_naming_the_field()
    {
        var site = NewSite();
        site.Spec.Replicas = 50;

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => CreateSiteAsync(site));

        Assert.Equal((HttpStatusCode)422, error.Response.StatusCode);
        Assert.True(error.Response.Content.Contains("spec.replicas: must be <= 10", StringComparison.Ordinal), error.Response.Content);
    }

    [Fact]
    public async Task An_update_from_a_stale_version_is_a_409_conflict()
    {
        var map = await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "c" }, Data = new Dictionary<string, string> { ["a"] = "1" } }, Ns, cancellationToken: Cancel);
        map.Data["a"] = "2";
        await _client.CoreV1.ReplaceNamespacedConfigMapAsync(map, "c", Ns, cancellationToken: Cancel);
        map.Data["a"] = "3";

        var error = await Assert.ThrowsAsync<HttpOperationException>(() => _client.CoreV1.ReplaceNamespacedConfigMapAsync(map, "c", Ns, cancellationToken: Cancel));

        Assert.Equal(HttpStatusCode.Conflict, error.Response.StatusCode);
        Assert.Equal("2", (await _client.CoreV1.ReadNamespacedConfigMapAsync("c", Ns, cancellationToken: Cancel)).Data["a"]);
    }

    [Fact]
    public async Task Status_is_changed_only_through_its_subresource_and_generation_follows_the_spec()
    {
        await CreateSiteAsync(NewSite());
        var site = await GetSiteAsync();
        site.Status = new SiteStatus { ReadyReplicas = 1, Endpoint = "x:9090" };
        await _client.CustomObjects.ReplaceNamespacedCustomObjectStatusAsync(site, "aperture.dev", "v1alpha1", Ns, "sites", "eu-west", cancellationToken: Cancel);
        var withStatus = await GetSiteAsync();

        withStatus.Status = new SiteStatus { ReadyReplicas = 99 };
        withStatus.Spec.Replicas = 3;
        await _client.CustomObjects.ReplaceNamespacedCustomObjectAsync(withStatus, "aperture.dev", "v1alpha1", Ns, "sites", "eu-west", cancellationToken: Cancel);
        var after = await GetSiteAsync();

        Assert.Equal(1, withStatus.Metadata.Generation);
        Assert.Equal(1, after.Status.ReadyReplicas);
        Assert.Equal(3, after.Spec.Replicas);
        Assert.Equal(2, after.Metadata.Generation);
    }

    [Fact]
    public async Task A_finalizer_holds_a_deleted_resource_until_it_is_removed_and_owned_objects_are_collected_after()
    {
        var site = NewSite();
        site.Metadata.Finalizers = ["aperture.dev/cleanup"];
        await CreateSiteAsync(site);
        var created = await GetSiteAsync();
        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap
        {
            Metadata = new V1ObjectMeta
            {
                Name = "owned",
                OwnerReferences = [new V1OwnerReference { ApiVersion = "aperture.dev/v1alpha1", Kind = "Site", Name = "eu-west", Uid = created.Metadata.Uid, Controller = true }],
            },
        }, Ns, cancellationToken: Cancel);

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync("aperture.dev", "v1alpha1", Ns, "sites", "eu-west", cancellationToken: Cancel);
        var terminating = await GetSiteAsync();
        Assert.NotNull(terminating.Metadata.DeletionTimestamp);
        Assert.Single((await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items);

        var patch = new V1Patch("{\"metadata\":{\"finalizers\":null}}", V1Patch.PatchType.MergePatch);
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(patch, "aperture.dev", "v1alpha1", Ns, "sites", "eu-west", cancellationToken: Cancel);

        var gone = await Assert.ThrowsAsync<HttpOperationException>(() => GetSiteAsync());
        Assert.Equal(HttpStatusCode.NotFound, gone.Response.StatusCode);
        Assert.Empty((await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items);
    }

    [Fact]
    public async Task Server_side_apply_creates_then_merges_and_an_unchanged_apply_writes_nothing()
    {
        var desired = new V1ConfigMap { ApiVersion = "v1", Kind = "ConfigMap", Metadata = new V1ObjectMeta { Name = "applied" }, Data = new Dictionary<string, string> { ["k"] = "v" } };
        var patch = new V1Patch(KubernetesJson.Serialize(desired), V1Patch.PatchType.ApplyPatch);

        var first = await _client.CoreV1.PatchNamespacedConfigMapAsync(patch, "applied", Ns, fieldManager: "aperture-operator", force: true, cancellationToken: Cancel);
        var second = await _client.CoreV1.PatchNamespacedConfigMapAsync(patch, "applied", Ns, fieldManager: "aperture-operator", force: true, cancellationToken: Cancel);

        Assert.Equal("v", first.Data["k"]);
        Assert.Equal(first.Metadata.ResourceVersion, second.Metadata.ResourceVersion);
        Assert.Single(_server.Store.Writes, w => w.Name == "applied");
    }

    [Fact]
    public async Task A_watch_streams_changes_with_bookmarks_and_a_compacted_version_is_410_gone()
    {
        var list = await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        stop.CancelAfter(TimeSpan.FromSeconds(10));
        var seen = new List<string>();
        var watch = Task.Run(async () =>
        {
            await foreach (var (type, item) in _client.CoreV1.WatchListNamespacedConfigMapAsync(
                Ns, allowWatchBookmarks: true, resourceVersion: list.Metadata.ResourceVersion, cancellationToken: stop.Token))
            {
                lock (seen)
                {
                    seen.Add($"{type}:{item.Metadata.Name}");
                }

                if (seen.Contains("Deleted:w") && seen.Contains("Bookmark:"))
                {
                    return;
                }
            }
        }, stop.Token);

        await _client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "w" } }, Ns, cancellationToken: Cancel);
        await _client.CoreV1.DeleteNamespacedConfigMapAsync("w", Ns, cancellationToken: Cancel);
        await watch;

        Assert.Equal(["Added:w", "Deleted:w"], seen.Where(s => !s.StartsWith("Bookmark", StringComparison.Ordinal)));

        _server.Store.Compact();
        Exception? error = null;
        await foreach (var _ in _client.CoreV1.WatchListNamespacedConfigMapAsync(Ns, resourceVersion: list.Metadata.ResourceVersion, onError: e => error = e, cancellationToken: Cancel))
        {
        }

        var status = Assert.IsType<KubernetesException>(error);
        Assert.Equal(410, status.Status.Code);
    }
}
