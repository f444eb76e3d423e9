using System.Net;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// Keeps the central runtime's site list (<see cref="CentralResources.SitesConfigMap"/>) in step with
/// the Sites. Every Site reconcile asks (<see cref="Request"/>, which never waits); a loop renders the
/// list once for all the asks of a moment, so 500 Sites converging render it a few times, not 500;
/// the ConfigMap is written only when its content changes, so a steady set of Sites costs no writes.
/// </summary>
public sealed class CentralSitesPublisher(IKubernetes client, string ns, Func<IReadOnlyList<Site>> sites, TimeProvider time) : IDisposable
{
    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(5);
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly System.Threading.Channels.Channel<bool> _asks = System.Threading.Channels.Channel.CreateBounded<bool>(
        new System.Threading.Channels.BoundedChannelOptions(1) { FullMode = System.Threading.Channels.BoundedChannelFullMode.DropWrite });
    private string? _published;

    /// <summary>Asks for the list to be brought up to date soon.</summary>
    public void Request() => _asks.Writer.TryWrite(true);

    /// <summary>Publishes after each burst of asks until <paramref name="cancellationToken"/> ends; a failed write is tried again.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _asks.Reader.WaitToReadAsync(cancellationToken))
            {
                await Task.Delay(Coalesce, time, cancellationToken);
                _asks.Reader.TryRead(out _);
                try
                {
                    await PublishAsync(cancellationToken);
                }
                catch (Exception e) when (e is HttpOperationException or HttpRequestException)
                {
                    await Task.Delay(RetryDelay, time, cancellationToken);
                    Request();
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private async Task PublishAsync(CancellationToken cancellationToken)
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
