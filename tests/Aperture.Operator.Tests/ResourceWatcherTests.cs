using System.Collections.Concurrent;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Operator.Tests;

/// <summary>The generic watcher against the test API server: convergence through drops, 410s and status-only writes.</summary>
public sealed class ResourceWatcherTests : IAsyncLifetime
{
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;
    private readonly ResourceCache<Site> _cache = new();
    private readonly ConcurrentQueue<string> _changed = new();
    private ResourceWatcher<Site> _watcher = null!;
    private CancellationTokenSource _stop = null!;
    private Task _running = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<bool> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(10), what, Cancel);

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
        await CreateAsync("obs", "before");
        _watcher = new ResourceWatcher<Site>(new CustomResourceSource<Site>(_client, "sites"), _cache, _changed.Enqueue, TimeProvider.System, NullLogger.Instance);
        _stop = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        _running = _watcher.RunAsync(_stop.Token);
        await _watcher.Synced.WaitAsync(TimeSpan.FromSeconds(10), Cancel);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _running.WaitAsync(TimeSpan.FromSeconds(10));
        _stop.Dispose();
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private Task<object> CreateAsync(string ns, string name) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new Site
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new SiteSpec
            {
                ClickHouse = new SiteClickHouse { ConnectionSecretRef = new SecretKeyReference { Name = "ch", Key = "cs" } },
                Redis = new SiteRedis { ConnectionSecretRef = new SecretKeyReference { Name = "r", Key = "c" } },
            },
        }, "aperture.dev", "v1alpha1", ns, "sites", cancellationToken: Cancel);

    private Task<object> PatchAsync(string ns, string name, string json, bool status = false) => status
        ? _client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(json, V1Patch.PatchType.MergePatch), "aperture.dev", "v1alpha1", ns, "sites", name, cancellationToken: Cancel)
        : _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch(json, V1Patch.PatchType.MergePatch), "aperture.dev", "v1alpha1", ns, "sites", name, cancellationToken: Cancel);

    [Fact]
    public async Task The_cache_follows_creates_updates_and_deletes_and_reports_their_keys()
    {
        Assert.True(_cache.TryGet("obs/before", out _));
        Assert.Contains("obs/before", _changed);

        await CreateAsync("obs", "after");
        await PatchAsync("obs", "after", "{\"spec\":{\"replicas\":4}}");
        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync("aperture.dev", "v1alpha1", "obs", "sites", "before", cancellationToken: Cancel);

        await EventuallyAsync(() => _cache.TryGet("obs/after", out var s) && s!.Spec.Replicas == 4 && !_cache.TryGet("obs/before", out _), "the cache converging");
        Assert.True(_changed.Count(k => k == "obs/after") >= 2, "the create and the spec change are both reported");
    }

    [Fact]
    public async Task A_status_only_write_is_cached_but_does_not_wake_the_controller()
    {
        _changed.Clear();

        await PatchAsync("obs", "before", "{\"status\":{\"readyReplicas\":1}}", status: true);
        await EventuallyAsync(() => _cache.TryGet("obs/before", out var s) && s!.Status.ReadyReplicas == 1, "the status in the cache");

        Assert.Empty(_changed);
    }

    [Fact]
    public async Task After_a_dropped_watch_the_watcher_resumes_from_its_version_without_listing()
    {
        var relists = _watcher.Relists;
        _server.Store.DropWatches();
        await CreateAsync("obs", "while-reconnecting");

        await EventuallyAsync(() => _cache.TryGet("obs/while-reconnecting", out _), "the object created across the drop");
        Assert.Equal(relists, _watcher.Relists);
    }

    [Fact]
    public async Task After_410_gone_the_watcher_lists_again_and_sees_what_it_missed()
    {
        var relists = _watcher.Relists;
        // The watcher stays away (its watches fail) until the history it would resume from is compacted.
        var compacted = false;
        for (var i = 0; i < 20; i++)
        {
            _server.FailNext(r => r.Query["watch"] == "true" && !Volatile.Read(ref compacted), 500);
        }

        _server.Store.DropWatches();
        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync("aperture.dev", "v1alpha1", "obs", "sites", "before", cancellationToken: Cancel);
        await CreateAsync("obs", "missed");
        _server.Store.Compact();
        Volatile.Write(ref compacted, true);

        await EventuallyAsync(() => _cache.TryGet("obs/missed", out _) && !_cache.TryGet("obs/before", out _), "the relist");
        Assert.True(_watcher.Relists > relists);
        Assert.Contains("obs/before", _changed);
    }
}
