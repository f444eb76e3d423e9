using System.Text.Json;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// Reads and writes Aperture's custom resources for the reconcilers that keep state outside the
/// cluster (AlertRule, MonitoredServer): a fresh read, the Site a resource points at, finalizers and
/// status as merge patches under the operator's field manager.
/// </summary>
public sealed class ApertureObjects(IKubernetes client)
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The resource as the API server has it now (null when gone), not as a cache last saw it.</summary>
    public async Task<T?> GetAsync<T>(string ns, string plural, string name, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            return ((JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync(
                ApertureApi.Group, ApertureApi.Version, ns, plural, name, cancellationToken)).Deserialize<T>(Json);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The Site named by a reference, or null when it is missing or being deleted.</summary>
    public async Task<Site?> SiteAsync(string ns, NamedReference reference, CancellationToken cancellationToken)
    {
        var site = await GetAsync<Site>(ns, "sites", reference.Name, cancellationToken);
        return site?.Metadata.DeletionTimestamp is null ? site : null;
    }

    /// <summary>Adds or removes one finalizer; the resourceVersion makes a concurrent change a 409, retried by the queue.</summary>
    public async Task SetFinalizerAsync(IKubernetesObject<V1ObjectMeta> resource, string plural, string finalizer, bool present, CancellationToken cancellationToken)
    {
        var current = resource.Metadata.Finalizers ?? [];
        if (current.Contains(finalizer) == present)
        {
            return;
        }

        List<string> finalizers = present ? [.. current, finalizer] : [.. current.Where(f => f != finalizer)];
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(
            new V1Patch(JsonSerializer.Serialize(new { metadata = new { finalizers, resourceVersion = resource.Metadata.ResourceVersion } }), V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, resource.Metadata.NamespaceProperty, plural, resource.Metadata.Name,
            fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// A deleted resource's last step: undo what it registered with its Site's runtime (when both are still there),
    /// then drop the finalizer. The finalizer stays while the runtime cannot be reached, so the queue tries again.
    /// </summary>
    /// <param name="registered">What the runtime knows the resource by (from status); null when nothing was registered.</param>
    /// <param name="what">Names the registration in the failure, e.g. "rule" or "server".</param>
    public async Task<ReconcileResult> ReleaseAsync(
        IKubernetesObject<V1ObjectMeta> resource, string plural, string finalizer, Site? site, string? registered, string what,
        Func<Site, string, CancellationToken, Task> unregister, CancellationToken cancellationToken)
    {
        if (site is not null && registered is not null)
        {
            try
            {
                await unregister(site, registered, cancellationToken);
            }
            catch (HttpRequestException e)
            {
                return new ReconcileResult.Failure($"cannot remove {what} {registered} from Site {site.Metadata.Name}: {e.Message}");
            }
        }

        await SetFinalizerAsync(resource, plural, finalizer, present: false, cancellationToken);
        return new ReconcileResult.Success();
    }

    public async Task PatchStatusAsync<TStatus>(IKubernetesObject<V1ObjectMeta> resource, string plural, TStatus status, CancellationToken cancellationToken) =>
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(JsonSerializer.Serialize(new { status }, Json), V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, resource.Metadata.NamespaceProperty, plural, resource.Metadata.Name,
            fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
}
