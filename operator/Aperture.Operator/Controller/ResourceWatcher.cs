using System.Collections.Concurrent;
using System.Text.Json;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Aperture.Operator.Controller;

/// <summary>Lists and watches one kind; knows nothing of what the kind is.</summary>
public interface IResourceSource<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    Task<(IReadOnlyList<T> Items, string ResourceVersion)> ListAsync(CancellationToken cancellationToken);

    IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, Action<Exception> onError, CancellationToken cancellationToken);

    /// <summary>The one namespace this source lists and watches; null for every namespace.</summary>
    string? Namespace => null;
}

/// <summary>The work queue's keys: namespace/name.</summary>
public static class ResourceKeys
{
    public static string Of(IKubernetesObject<V1ObjectMeta> obj) => $"{obj.Metadata.NamespaceProperty}/{obj.Metadata.Name}";

    public static (string Namespace, string Name) Split(string key)
    {
        var slash = key.IndexOf('/', StringComparison.Ordinal);
        return (key[..slash], key[(slash + 1)..]);
    }
}

/// <summary>The last known state of every object of one kind, by namespace/name.</summary>
public sealed class ResourceCache<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    private readonly ConcurrentDictionary<string, T> _objects = new(StringComparer.Ordinal);

    public int Count => _objects.Count;

    public bool TryGet(string key, out T? obj) => _objects.TryGetValue(key, out obj);

    public IReadOnlyList<T> All() => [.. _objects.Values];

    internal T? Set(T obj)
    {
        T? previous = default;
        _objects.AddOrUpdate(ResourceKeys.Of(obj), obj, (_, old) =>
        {
            previous = old;
            return obj;
        });
        return previous;
    }

    internal bool Remove(string key) => _objects.TryRemove(key, out _);

    /// <summary>
    /// Replaces everything (or, given <paramref name="ns"/>, everything of that namespace) with a fresh list;
    /// returns the keys that changed or vanished.
    /// </summary>
    internal IReadOnlyList<string> Replace(IReadOnlyList<T> items, string? ns = null)
    {
        var fresh = items.ToDictionary(i => ResourceKeys.Of(i), StringComparer.Ordinal);
        var vanished = _objects.Keys.Where(k => !fresh.ContainsKey(k) && (ns is null || ResourceKeys.Split(k).Namespace == ns)).ToList();
        foreach (var key in vanished)
        {
            _objects.TryRemove(key, out _);
        }

        foreach (var (key, obj) in fresh)
        {
            _objects[key] = obj;
        }

        return [.. vanished, .. fresh.Keys];
    }
}

/// <summary>
/// Keeps a <see cref="ResourceCache{T}"/> in step with the API server and reports the keys that
/// need a reconcile: lists, then watches from the list's resourceVersion (with bookmarks); after a
/// dropped watch it watches again from the last version seen, and after 410 Gone it lists again.
/// A change that leaves generation, deletion and finalizers as they were (a status update) is
/// cached but not reported, so the operator's own status writes do not wake it up; a watcher of
/// owned workloads, whose status is the news, passes its own <paramref name="matters"/>. Several sources
/// (one per watched namespace) fill one cache, each listing and watching on its own.
/// </summary>
public sealed partial class ResourceWatcher<T>(
    IReadOnlyList<IResourceSource<T>> sources,
    ResourceCache<T> cache,
    Action<string> changed,
    TimeProvider time,
    ILogger logger,
    Func<T, T, bool>? matters = null)
    where T : IKubernetesObject<V1ObjectMeta>
{
    public ResourceWatcher(IResourceSource<T> source, ResourceCache<T> cache, Action<string> changed, TimeProvider time, ILogger logger, Func<T, T, bool>? matters = null)
        : this([source], cache, changed, time, logger, matters)
    {
    }

    private readonly Func<T, T, bool> _matters = matters ?? SpecChanged;

    private static readonly TimeSpan MaxDelay = TimeSpan.FromSeconds(30);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _unsynced = sources.Count;
    private int _relists;

    /// <summary>Completes once the first list of every source is in the cache.</summary>
    public Task Synced => _synced.Task;

    public int Relists => _relists;

    public Task RunAsync(CancellationToken cancellationToken) => Task.WhenAll(sources.Select(s => RunAsync(s, cancellationToken)));

    private async Task RunAsync(IResourceSource<T> source, CancellationToken cancellationToken)
    {
        var synced = false;
        string? version = null;
        var delay = TimeSpan.FromMilliseconds(200);
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                if (version is null)
                {
                    var (items, listVersion) = await source.ListAsync(cancellationToken);
                    foreach (var key in cache.Replace(items, source.Namespace))
                    {
                        changed(key);
                    }

                    version = listVersion;
                    Interlocked.Increment(ref _relists);
                    if (!synced)
                    {
                        synced = true;
                        if (Interlocked.Decrement(ref _unsynced) == 0)
                        {
                            _synced.TrySetResult();
                        }
                    }
                }

                Exception? error = null;
                await foreach (var (type, obj) in source.WatchAsync(version, e => error = e, cancellationToken))
                {
                    version = obj.Metadata.ResourceVersion ?? version;
                    Apply(type, obj);
                }

                if (error is KubernetesException { Status.Code: 410 } || error is HttpOperationException { Response.StatusCode: System.Net.HttpStatusCode.Gone })
                {
                    LogExpired(typeof(T).Name, version);
                    version = null;
                }
                else if (error is not null)
                {
                    throw error;
                }

                delay = TimeSpan.FromMilliseconds(200);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or HttpOperationException or KubernetesException or IOException or JsonException)
            {
                LogWatchFailed(typeof(T).Name, e.Message, delay);
                await Task.Delay(delay, time, cancellationToken);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxDelay.Ticks));
            }
        }
    }

    private void Apply(WatchEventType type, T obj)
    {
        var key = ResourceKeys.Of(obj);
        switch (type)
        {
            case WatchEventType.Bookmark:
                return;
            case WatchEventType.Deleted:
                cache.Remove(key);
                changed(key);
                return;
            case WatchEventType.Added:
            case WatchEventType.Modified:
                var previous = cache.Set(obj);
                if (previous is null || _matters(previous, obj))
                {
                    changed(key);
                }

                return;
            default:
                return;
        }
    }

    private static bool SpecChanged(T previous, T current) =>
        previous.Metadata.Generation != current.Metadata.Generation
        || previous.Metadata.DeletionTimestamp != current.Metadata.DeletionTimestamp
        || !(previous.Metadata.Finalizers ?? []).SequenceEqual(current.Metadata.Finalizers ?? [])
        // Kinds without a generation (ConfigMaps, Secrets) change by version alone.
        || (current.Metadata.Generation is null && previous.Metadata.ResourceVersion != current.Metadata.ResourceVersion);

    [LoggerMessage(EventId = 700, Level = LogLevel.Information, Message = "Watch of {Kind} expired at version {Version}; listing again")]
    private partial void LogExpired(string kind, string? version);

    [LoggerMessage(EventId = 701, Level = LogLevel.Warning, Message = "Watch of {Kind} failed, retrying in {Delay}: {Reason}")]
    private partial void LogWatchFailed(string kind, string reason, TimeSpan delay);
}

/// <summary>The sources of one custom resource kind for the namespaces the operator watches.</summary>
public static class CustomResourceSources
{
    /// <summary>One source per namespace of <paramref name="namespaces"/>, or one for every namespace when it is empty.</summary>
    public static IReadOnlyList<IResourceSource<T>> For<T>(IKubernetes client, string plural, IReadOnlyList<string> namespaces)
        where T : IKubernetesObject<V1ObjectMeta> =>
        namespaces.Count == 0 ? [new CustomResourceSource<T>(client, plural)] : [.. namespaces.Select(n => new CustomResourceSource<T>(client, plural, n))];
}

/// <summary>A custom resource kind of Aperture's, listed and watched in every namespace, or in <paramref name="ns"/> alone.</summary>
public sealed class CustomResourceSource<T>(IKubernetes client, string plural, string? ns = null) : IResourceSource<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public string? Namespace => ns;

    public async Task<(IReadOnlyList<T> Items, string ResourceVersion)> ListAsync(CancellationToken cancellationToken)
    {
        var list = (JsonElement)(ns is null
            ? await client.CustomObjects.ListClusterCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, plural, cancellationToken: cancellationToken)
            : await client.CustomObjects.ListNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ns, plural, cancellationToken: cancellationToken));
        var items = list.GetProperty("items").EnumerateArray().Select(i => i.Deserialize<T>(Json)!).ToList();
        return (items, list.GetProperty("metadata").GetProperty("resourceVersion").GetString()!);
    }

    public async IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(
        string resourceVersion, Action<Exception> onError, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var events = ns is null
            ? client.CustomObjects.WatchListClusterCustomObjectAsync(
                ApertureApi.Group, ApertureApi.Version, plural, allowWatchBookmarks: true, resourceVersion: resourceVersion,
                timeoutSeconds: 300, onError: onError, cancellationToken: cancellationToken)
            : client.CustomObjects.WatchListNamespacedCustomObjectAsync(
                ApertureApi.Group, ApertureApi.Version, ns, plural, allowWatchBookmarks: true, resourceVersion: resourceVersion,
                timeoutSeconds: 300, onError: onError, cancellationToken: cancellationToken);
        await foreach (var (type, item) in events)
        {
            yield return (type, ((JsonElement)item).Deserialize<T>(Json)!);
        }
    }
}

/// <summary>
/// A built-in kind (a workload the operator owns), listed and watched in every namespace through
/// the typed client's calls, narrowed by a label selector so the cache holds only the operator's objects.
/// </summary>
public sealed class ApiResourceSource<T>(
    Func<string, CancellationToken, Task<(IReadOnlyList<T> Items, string ResourceVersion)>> list,
    Func<string, string, Action<Exception>, CancellationToken, IAsyncEnumerable<(WatchEventType Type, T Object)>> watch,
    string labelSelector,
    string? ns = null) : IResourceSource<T>
    where T : IKubernetesObject<V1ObjectMeta>
{
    public string? Namespace => ns;

    public Task<(IReadOnlyList<T> Items, string ResourceVersion)> ListAsync(CancellationToken cancellationToken) => list(labelSelector, cancellationToken);

    public IAsyncEnumerable<(WatchEventType Type, T Object)> WatchAsync(string resourceVersion, Action<Exception> onError, CancellationToken cancellationToken) =>
        watch(labelSelector, resourceVersion, onError, cancellationToken);
}
