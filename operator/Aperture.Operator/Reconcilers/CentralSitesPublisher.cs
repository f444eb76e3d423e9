using System.Net;
using Aperture.Contracts.Resources;
using Aperture.Operator.Desired;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// Keeps the central runtime's site list (<see cref="CentralResources.SitesConfigMap"/>) in step with
/// the Sites. Every Site reconcile asks; the ConfigMap is written only when its content changes, so
/// a steady set of Sites costs no writes.
/// </summary>
public sealed class CentralSitesPublisher(IKubernetes client, string ns, Func<IReadOnlyList<Site>> sites) : IDisposable
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private string? _published;

    public async Task PublishAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var desired = CentralResources.SitesConfigMap(sites(), ns);
            var content = desired.Data[CentralResources.SitesKey];
            if (content == _published)
            {
                return;
            }

            // After a restart, what the API server holds decides whether a write is needed.
            _published ??= await CurrentAsync(cancellationToken);
            if (content != _published)
            {
                await client.CoreV1.PatchNamespacedConfigMapAsync(
                    new V1Patch(KubernetesJson.Serialize(desired), V1Patch.PatchType.ApplyPatch), desired.Metadata.Name, ns,
                    fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
                _published = content;
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    private async Task<string?> CurrentAsync(CancellationToken cancellationToken)
    {
        try
        {
            var current = await client.CoreV1.ReadNamespacedConfigMapAsync(CentralResources.ConfigMapName, ns, cancellationToken: cancellationToken);
            return current.Data?.TryGetValue(CentralResources.SitesKey, out var data) == true ? data : null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    public void Dispose() => _gate.Dispose();
}
