using k8s;
using k8s.Models;

namespace Aperture.Operator.Controller;

/// <summary>Sources for the workloads the operator makes, so that their changes wake their owner's reconcile.</summary>
public static class OwnedWorkloads
{
    /// <summary>The StatefulSets of every namespace, or of each of <paramref name="namespaces"/> when it is not empty.</summary>
    public static IReadOnlyList<IResourceSource<V1StatefulSet>> StatefulSets(IKubernetes client, string labelSelector, IReadOnlyList<string> namespaces) =>
        namespaces.Count == 0 ? [StatefulSets(client, labelSelector)] : [.. namespaces.Select(ns => StatefulSets(client, labelSelector, ns))];

    private static ApiResourceSource<V1StatefulSet> StatefulSets(IKubernetes client, string labelSelector, string ns) => new(
        async (selector, cancellationToken) =>
        {
            var list = await client.AppsV1.ListNamespacedStatefulSetAsync(ns, labelSelector: selector, cancellationToken: cancellationToken);
            return (list.Items.ToList(), list.Metadata.ResourceVersion);
        },
        (selector, version, onError, cancellationToken) => client.AppsV1.WatchListNamespacedStatefulSetAsync(
            ns, allowWatchBookmarks: true, labelSelector: selector, resourceVersion: version, timeoutSeconds: 300, onError: onError, cancellationToken: cancellationToken),
        labelSelector,
        ns);

    public static ApiResourceSource<V1StatefulSet> StatefulSets(IKubernetes client, string labelSelector) => new(
        async (selector, cancellationToken) =>
        {
            var list = await client.AppsV1.ListStatefulSetForAllNamespacesAsync(labelSelector: selector, cancellationToken: cancellationToken);
            return (list.Items.ToList(), list.Metadata.ResourceVersion);
        },
        (selector, version, onError, cancellationToken) => client.AppsV1.WatchListStatefulSetForAllNamespacesAsync(
            allowWatchBookmarks: true, labelSelector: selector, resourceVersion: version, timeoutSeconds: 300, onError: onError, cancellationToken: cancellationToken),
        labelSelector);

    /// <summary>The work-queue key of the object's controller owner of <paramref name="ownerKind"/>, if it has one.</summary>
    public static string? OwnerKey(IKubernetesObject<V1ObjectMeta> owned, string ownerKind) =>
        owned.Metadata.OwnerReferences?.FirstOrDefault(o => o.Controller == true && o.Kind == ownerKind) is { } owner
            ? $"{owned.Metadata.NamespaceProperty}/{owner.Name}"
            : null;
}
