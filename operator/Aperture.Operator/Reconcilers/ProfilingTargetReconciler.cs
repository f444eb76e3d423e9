using System.Net;
using System.Text.Json;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

public sealed record ProfilingTargetReconcilerOptions
{
    public string AgentImage { get; init; } = "ghcr.io/aperture-dev/aperture-agent:0.1.0";

    /// <summary>How soon a target whose Site is missing is looked at again.</summary>
    public TimeSpan NotReadyPoll { get; init; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// ProfilingTargets: all targets of a Site become that Site's agent DaemonSet and ConfigMap, and the
/// agents' ServiceAccount, pod-reading Role and RoleBinding (all owned by the Site); when a Site has no
/// target left, they are deleted together. Level-triggered: each run reads
/// the namespace's Sites and targets, whatever the event was.
/// </summary>
public sealed class ProfilingTargetReconciler(
    IKubernetes client,
    ResourceCache<ProfilingTarget> targets,
    ProfilingTargetReconcilerOptions options,
    TimeProvider time) : IReconciler<ProfilingTarget>
{
    public async Task<ReconcileResult> ReconcileAsync(string key, ProfilingTarget? target, CancellationToken cancellationToken)
    {
        var (ns, _) = ResourceKeys.Split(key);
        if (target is null || target.Metadata.DeletionTimestamp is not null)
        {
            // The target is gone, and with it the knowledge of its Site: every agent DaemonSet of the
            // namespace whose Site has no target left goes.
            await RemoveOrphanedAgentsAsync(ns, cancellationToken);
            return new ReconcileResult.Success();
        }

        var site = await SiteAsync(ns, target.Spec.SiteRef.Name, cancellationToken);
        if (site is null)
        {
            await SetStatusAsync(target, false, "SiteNotFound", $"Site '{target.Spec.SiteRef.Name}' not found in namespace {ns}", cancellationToken);
            return new ReconcileResult.Success(options.NotReadyPoll);
        }

        await ApplyAgentsAsync(site, TargetsOf(ns, site.Metadata.Name), cancellationToken);
        if (target.Spec.TenantRef is { } tenant && await TenantIdAsync(ns, tenant.Name, cancellationToken) is null)
        {
            await SetStatusAsync(target, false, "TenantNotFound", $"Tenant '{tenant.Name}' not found in namespace {ns}; the target is left out of the agents' configuration", cancellationToken);
            return new ReconcileResult.Success(options.NotReadyPoll);
        }

        await SetStatusAsync(target, true, "Scheduled", $"Profiled by DaemonSet {AgentResources.Name(site)} on nodes labelled {AgentResources.NodeLabel}={AgentResources.NodeLabelValue}", cancellationToken);
        return new ReconcileResult.Success();
    }

    /// <summary>The tenant id of a Tenant resource, or null when it is missing or being deleted.</summary>
    private async Task<string?> TenantIdAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            var tenant = ((JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ns, "tenants", name, cancellationToken)).Deserialize<Tenant>(Json)!;
            return tenant.Metadata.DeletionTimestamp is null ? tenant.Spec.TenantId : null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private List<ProfilingTarget> TargetsOf(string ns, string site) =>
        [.. targets.All().Where(t => t.Metadata.NamespaceProperty == ns && t.Metadata.DeletionTimestamp is null && t.Spec.SiteRef.Name == site)];

    private async Task RemoveOrphanedAgentsAsync(string ns, CancellationToken cancellationToken)
    {
        var agents = await client.AppsV1.ListNamespacedDaemonSetAsync(ns, labelSelector: $"app.kubernetes.io/component={AgentResources.Component}", cancellationToken: cancellationToken);
        foreach (var daemonSet in agents.Items)
        {
            var siteName = daemonSet.Metadata.Labels is { } labels && labels.TryGetValue("app.kubernetes.io/instance", out var instance) ? instance : null;
            if (siteName is not null && TargetsOf(ns, siteName).Count == 0 && await SiteAsync(ns, siteName, cancellationToken) is { } site)
            {
                await ApplyAgentsAsync(site, [], cancellationToken);
            }
        }
    }

    private async Task<Site?> SiteAsync(string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            var site = ((JsonElement)await client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ns, "sites", name, cancellationToken)).Deserialize<Site>(Json)!;
            return site.Metadata.DeletionTimestamp is null ? site : null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task ApplyAgentsAsync(Site site, List<ProfilingTarget> ofSite, CancellationToken cancellationToken)
    {
        var ns = site.Metadata.NamespaceProperty;
        var name = AgentResources.Name(site);
        if (ofSite.Count == 0)
        {
            await DeleteIfPresentAsync(() => client.AppsV1.DeleteNamespacedDaemonSetAsync(name, ns, cancellationToken: cancellationToken));
            await DeleteIfPresentAsync(() => client.CoreV1.DeleteNamespacedConfigMapAsync(name, ns, cancellationToken: cancellationToken));
            await DeleteIfPresentAsync(() => client.RbacAuthorizationV1.DeleteNamespacedRoleBindingAsync(AgentResources.PodReaderName(site), ns, cancellationToken: cancellationToken));
            await DeleteIfPresentAsync(() => client.RbacAuthorizationV1.DeleteNamespacedRoleAsync(AgentResources.PodReaderName(site), ns, cancellationToken: cancellationToken));
            await DeleteIfPresentAsync(() => client.CoreV1.DeleteNamespacedServiceAccountAsync(name, ns, cancellationToken: cancellationToken));
            return;
        }

        // A target's data goes to its tenant; one whose Tenant is missing is left out rather than profiled into another.
        var tenantIds = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var reference in ofSite.Select(t => t.Spec.TenantRef?.Name).OfType<string>().Distinct(StringComparer.Ordinal))
        {
            if (await TenantIdAsync(ns, reference, cancellationToken) is { } id)
            {
                tenantIds[reference] = id;
            }
        }

        ofSite = [.. ofSite.Where(t => t.Spec.TenantRef is null || tenantIds.ContainsKey(t.Spec.TenantRef.Name))];
        if (ofSite.Count == 0)
        {
            await ApplyAgentsAsync(site, [], cancellationToken);
            return;
        }

        // The agents' identity exists before the pods that use it.
        await client.CoreV1.PatchNamespacedServiceAccountAsync(Apply(AgentResources.ServiceAccount(site)), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
        await client.RbacAuthorizationV1.PatchNamespacedRoleAsync(Apply(AgentResources.PodReaderRole(site)), AgentResources.PodReaderName(site), ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
        await client.RbacAuthorizationV1.PatchNamespacedRoleBindingAsync(Apply(AgentResources.PodReaderBinding(site)), AgentResources.PodReaderName(site), ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);

        var configMap = AgentResources.ConfigMap(site, ofSite, tenantIds);
        await client.CoreV1.PatchNamespacedConfigMapAsync(Apply(configMap), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
        var daemonSet = AgentResources.DaemonSet(site, ofSite, options.AgentImage, configMap);
        // The node affinity's terms are replaced whole: a merge would keep a removed target's nodes.
        await client.AppsV1.PatchNamespacedDaemonSetAsync(Apply(daemonSet), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
    }

    private static async Task DeleteIfPresentAsync(Func<Task> delete)
    {
        try
        {
            await delete();
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    private static V1Patch Apply<T>(T desired) => new(KubernetesJson.Serialize(desired), V1Patch.PatchType.ApplyPatch);

    private async Task SetStatusAsync(ProfilingTarget target, bool ready, string reason, string message, CancellationToken cancellationToken)
    {
        var conditions = Conditions.With(target.Status.Conditions, Conditions.Ready, ready, reason, message, target.Metadata.Generation, time);
        if (Conditions.Same(conditions, target.Status.Conditions) && target.Status.ObservedGeneration == target.Metadata.Generation)
        {
            return;
        }

        var patch = JsonSerializer.Serialize(new { status = new ResourceStatus { Conditions = conditions, ObservedGeneration = target.Metadata.Generation } }, Json);
        await client.CustomObjects.PatchNamespacedCustomObjectStatusAsync(new V1Patch(patch, V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, target.Metadata.NamespaceProperty, "profilingtargets", target.Metadata.Name,
            fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
    }

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };
}
