using System.Net;
using System.Text.Json;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

public sealed record SiteReconcilerOptions
{
    /// <summary>The runtime image a Site without one of its own runs.</summary>
    public string RuntimeImage { get; init; } = "ghcr.io/aperture-dev/aperture-runtime:0.1.0";

    /// <summary>How soon a Site that is not ready yet (pods starting, a Secret missing) is looked at again.</summary>
    public TimeSpan NotReadyPoll { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a Ready MonitoredServer's last-seen time and snapshot count are read from its Site's runtime.</summary>
    public TimeSpan ServerStatusPoll { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The central runtime, where a Site checks API keys and sends its series for the watchdog; null: none.</summary>
    public Uri? CentralUrl { get; init; }
}

/// <summary>
/// A Site: its Secrets must exist; then its ConfigMap, Services and StatefulSet are applied with
/// server-side apply under one field manager, and its status tells the ready replicas, the
/// endpoint and a Ready condition. Children carry the Site as controller owner, so deleting the
/// Site lets garbage collection remove them; no finalizer is needed.
/// </summary>
public sealed class SiteReconciler(
    IKubernetes client, SiteReconcilerOptions options, TimeProvider time, Func<Site, IReadOnlyList<AlertRule>>? alertRules = null, CentralSitesPublisher? central = null)
    : IReconciler<Site>
{
    public async Task<ReconcileResult> ReconcileAsync(string key, Site? site, CancellationToken cancellationToken)
    {
        central?.Request();

        if (site is null || site.Metadata.DeletionTimestamp is not null)
        {
            return new ReconcileResult.Success();
        }

        var ns = site.Metadata.NamespaceProperty;
        var missing = await MissingSecretsAsync(ns, [site.Spec.ClickHouse.ConnectionSecretRef, site.Spec.Redis.ConnectionSecretRef, .. site.Spec.AuthTokenSecretRef is { } token ? [token] : Array.Empty<SecretKeyReference>()], cancellationToken);
        if (missing.Count > 0)
        {
            await SetStatusAsync(site, readyReplicas: null, ready: false, "SecretNotFound", $"Missing: {string.Join(", ", missing)}", cancellationToken);
            return new ReconcileResult.Success(options.NotReadyPoll);
        }

        var configMap = SiteResources.ConfigMap(site, alertRules?.Invoke(site) ?? []);
        await ApplyAsync(configMap, (patch, t) => client.CoreV1.PatchNamespacedConfigMapAsync(patch, configMap.Metadata.Name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: t), cancellationToken);
        foreach (var service in new[] { SiteResources.HeadlessService(site), SiteResources.ClientService(site) })
        {
            await ApplyAsync(service, (patch, t) => client.CoreV1.PatchNamespacedServiceAsync(patch, service.Metadata.Name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: t), cancellationToken);
        }

        var statefulSet = SiteResources.StatefulSet(site, options.RuntimeImage, configMap, options.CentralUrl);
        var applied = await ApplyAsync(statefulSet, (patch, t) => client.AppsV1.PatchNamespacedStatefulSetAsync(patch, statefulSet.Metadata.Name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: t), cancellationToken);

        var ready = applied.Status?.ReadyReplicas ?? 0;
        var available = ready >= site.Spec.Replicas;
        await SetStatusAsync(
            site,
            ready,
            available,
            available ? "Available" : "Progressing",
            available ? $"{ready} of {site.Spec.Replicas} aggregator replicas ready" : $"{ready} of {site.Spec.Replicas} aggregator replicas ready; waiting",
            cancellationToken);
        return available ? new ReconcileResult.Success() : new ReconcileResult.Success(options.NotReadyPoll);
    }

    private async Task<List<string>> MissingSecretsAsync(string ns, IEnumerable<SecretKeyReference> references, CancellationToken cancellationToken)
    {
        var missing = new List<string>();
        foreach (var reference in references.DistinctBy(r => (r.Name, r.Key)))
        {
            try
            {
                var secret = await client.CoreV1.ReadNamespacedSecretAsync(reference.Name, ns, cancellationToken: cancellationToken);
                if (secret.Data?.ContainsKey(reference.Key) != true && secret.StringData?.ContainsKey(reference.Key) != true)
                {
                    missing.Add($"key '{reference.Key}' of Secret '{reference.Name}'");
                }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                missing.Add($"Secret '{reference.Name}'");
            }
        }

        return missing;
    }

    private static Task<TObject> ApplyAsync<TObject>(TObject desired, Func<V1Patch, CancellationToken, Task<TObject>> patch, CancellationToken cancellationToken) =>
        patch(new V1Patch(KubernetesJson.Serialize(desired), V1Patch.PatchType.ApplyPatch), cancellationToken);

    /// <summary>Writes the status only when it says something new, so a steady Site costs no writes.</summary>
    private async Task SetStatusAsync(Site site, int? readyReplicas, bool ready, string reason, string message, CancellationToken cancellationToken)
    {
        var conditions = Conditions.With(site.Status.Conditions, Conditions.Ready, ready, reason, message, site.Metadata.Generation, time);
        var endpoint = SiteResources.Endpoint(site);
        if (Conditions.Same(conditions, site.Status.Conditions) && site.Status.ReadyReplicas == readyReplicas
            && site.Status.Endpoint == endpoint && site.Status.ObservedGeneration == site.Metadata.Generation)
        {
            return;
        }

        var status = new SiteStatus
        {
            Conditions = conditions,
            ReadyReplicas = readyReplicas,
            Endpoint = endpoint,
            ObservedGeneration = site.Metadata.Generation,
        };
        var patch = JsonSerializer.Serialize(new { status }, StatusJson);
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(
            new V1Patch(patch, V1Patch.PatchType.MergePatch), ApertureApi.Group, ApertureApi.Version, site.Metadata.NamespaceProperty, "sites", site.Metadata.Name,
            fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
    }

    private static readonly JsonSerializerOptions StatusJson = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull };
}
