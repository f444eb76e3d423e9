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
/// the namespace's Sites and targets, whatever the event was. With a central runtime, the agents push with
/// the Site's ingestion key (<see cref="SiteAgentKeys"/>), allowed exactly the tenants of its targets: made
/// before the DaemonSet refers to it, the old key revoked once the DaemonSet names the new one, and revoked
/// with its Secret when the last target goes.
/// </summary>
public sealed class ProfilingTargetReconciler(
    IKubernetes client,
    ResourceCache<ProfilingTarget> targets,
    ProfilingTargetReconcilerOptions options,
    TimeProvider time,
    SiteAgentKeys? agentKeys = null) : IReconciler<ProfilingTarget>
{
    public async Task<ReconcileResult> ReconcileAsync(string key, ProfilingTarget? target, CancellationToken cancellationToken)
    {
        var (ns, _) = ResourceKeys.Split(key);
        if (target is null || target.Metadata.DeletionTimestamp is not null)
        {
            // The target is gone, and with it the knowledge of its Site: every agent DaemonSet of the
            // namespace whose Site has no target left goes.
            return await RemoveOrphanedAgentsAsync(ns, cancellationToken) is { } removeFailure
                ? new ReconcileResult.Failure(removeFailure.Message)
                : new ReconcileResult.Success();
        }

        var site = await SiteAsync(ns, target.Spec.SiteRef.Name, cancellationToken);
        if (site is null)
        {
            await SetStatusAsync(target, false, "SiteNotFound", $"Site '{target.Spec.SiteRef.Name}' not found in namespace {ns}", cancellationToken);
            return new ReconcileResult.Success(options.NotReadyPoll);
        }

        if (await ApplyAgentsAsync(site, TargetsOf(ns, site.Metadata.Name), cancellationToken) is { } failure)
        {
            await SetStatusAsync(target, false, failure.Reason, failure.Message, cancellationToken);
            return failure.Retry ? new ReconcileResult.Failure(failure.Message) : new ReconcileResult.Success(options.NotReadyPoll);
        }

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

    private async Task<AgentFailure?> RemoveOrphanedAgentsAsync(string ns, CancellationToken cancellationToken)
    {
        AgentFailure? failure = null;
        var agents = await client.AppsV1.ListNamespacedDaemonSetAsync(ns, labelSelector: $"app.kubernetes.io/component={AgentResources.Component}", cancellationToken: cancellationToken);
        foreach (var daemonSet in agents.Items)
        {
            var siteName = daemonSet.Metadata.Labels is { } labels && labels.TryGetValue("app.kubernetes.io/instance", out var instance) ? instance : null;
            if (siteName is not null && TargetsOf(ns, siteName).Count == 0 && await SiteAsync(ns, siteName, cancellationToken) is { } site)
            {
                failure ??= await ApplyAgentsAsync(site, [], cancellationToken);
            }
        }

        // A key whose revocation failed outlives its DaemonSet: its Secret is how it is found again (by name: the
        // operator may read Secrets it knows, not list them).
        if (agentKeys is not null)
        {
            var sites = (JsonElement)await client.CustomObjects.ListNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ns, "sites", cancellationToken: cancellationToken);
            foreach (var siteName in sites.GetProperty("items").EnumerateArray().Select(s => s.GetProperty("metadata").GetProperty("name").GetString()).OfType<string>())
            {
                if (TargetsOf(ns, siteName).Count == 0)
                {
                    failure ??= await RemoveKeyAsync(ns, siteName, cancellationToken);
                }
            }
        }

        return failure;
    }

    private async Task<AgentFailure?> RemoveKeyAsync(string ns, string site, CancellationToken cancellationToken)
    {
        try
        {
            await agentKeys!.RemoveAsync(ns, site, cancellationToken);
            return null;
        }
        catch (HttpRequestException e)
        {
            return new AgentFailure(CentralFailure.Of(e).Reason, $"The agents' key of Site {site} cannot be revoked: {e.Message}", Retry: true);
        }
    }

    /// <summary>Why the agents are not as they should be; <c>Retry</c>: soon, with the per-object backoff.</summary>
    private sealed record AgentFailure(string Reason, string Message, bool Retry);

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

    private async Task<AgentFailure?> ApplyAgentsAsync(Site site, List<ProfilingTarget> ofSite, CancellationToken cancellationToken)
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
            // No agent holds the key any more.
            return agentKeys is null ? null : await RemoveKeyAsync(ns, site.Metadata.Name, cancellationToken);
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
            return await ApplyAgentsAsync(site, [], cancellationToken);
        }

        // The agents' identity exists before the pods that use it.
        await client.CoreV1.PatchNamespacedServiceAccountAsync(Apply(AgentResources.ServiceAccount(site)), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
        await client.RbacAuthorizationV1.PatchNamespacedRoleAsync(Apply(AgentResources.PodReaderRole(site)), AgentResources.PodReaderName(site), ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);
        await client.RbacAuthorizationV1.PatchNamespacedRoleBindingAsync(Apply(AgentResources.PodReaderBinding(site)), AgentResources.PodReaderName(site), ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);

        var configMap = AgentResources.ConfigMap(site, ofSite, tenantIds);
        await client.CoreV1.PatchNamespacedConfigMapAsync(Apply(configMap), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);

        // The key exists (in its Secret) before the pods that push with it. When it cannot be made the agents keep
        // the key they have, if any, and the target says why.
        AgentKey? key = null;
        AgentFailure? failure = null;
        if (agentKeys is not null)
        {
            try
            {
                key = await agentKeys.EnsureAsync(site, ofSite.Select(t => AgentResources.TenantOf(t, tenantIds)), cancellationToken);
            }
            catch (HttpRequestException e)
            {
                failure = new AgentFailure(CentralFailure.Of(e).Reason, $"The agents' ingestion key cannot be made: {e.Message}", Retry: true);
            }
            catch (AgentKeyConflictException e)
            {
                failure = new AgentFailure("SecretConflict", e.Message, Retry: false);
            }
        }

        var keyId = key?.KeyId ?? (failure is not null ? await agentKeys!.HeldKeyIdAsync(site, cancellationToken) : null);
        var daemonSet = AgentResources.DaemonSet(site, ofSite, options.AgentImage, configMap, keyId);
        // The node affinity's terms are replaced whole: a merge would keep a removed target's nodes.
        await client.AppsV1.PatchNamespacedDaemonSetAsync(Apply(daemonSet), name, ns, fieldManager: ObjectMetadata.FieldManager, force: true, cancellationToken: cancellationToken);

        // The DaemonSet names the new key now (its pods roll onto it): the old one goes.
        if (key?.Replaced is { } replaced)
        {
            try
            {
                await agentKeys!.RevokeAsync(ns, site.Metadata.Name, replaced, cancellationToken);
            }
            catch (HttpRequestException e)
            {
                failure = new AgentFailure(CentralFailure.Of(e).Reason, $"The agents' replaced key {replaced.KeyId} cannot be revoked: {e.Message}", Retry: true);
            }
        }

        return failure;
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
