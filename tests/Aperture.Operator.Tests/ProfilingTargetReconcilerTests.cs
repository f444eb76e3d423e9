using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>ProfilingTargets through the whole operator host (one replica, no election) on the test API server.</summary>
public sealed class ProfilingTargetReconcilerTests : IAsyncLifetime
{
    private const string Ns = "obs";
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;
    private OperatorHost _operator = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(15), what, Cancel);

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
        _operator = OperatorHost.Create(new OperatorOptions
        {
            ListenAddress = "127.0.0.1",
            MetricsPort = 0,
            KubernetesApi = _server.Url.ToString().TrimEnd('/'),
            LeaderElection = false,
            Controllers = new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromMilliseconds(500) },
            Sites = new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200) },
            ProfilingTargets = new ProfilingTargetReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200) },
        });
        await _operator.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _operator.DisposeAsync();
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private Task CreateSiteAsync() =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west"), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);

    private Task CreateTargetAsync(string name, Dictionary<string, string>? nodeSelector = null, Dictionary<string, string>? podSelector = null, string? tenant = null) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new ProfilingTarget
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new ProfilingTargetSpec
            {
                SiteRef = new NamedReference { Name = "eu-west" },
                EventTypes = [ProfilingEventType.Cpu],
                NodeSelector = nodeSelector,
                PodSelector = podSelector,
                TenantRef = tenant is null ? null : new NamedReference { Name = tenant },
            },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", cancellationToken: Cancel);

    private async Task<Dictionary<string, string>> AgentTenantsAsync() =>
        System.Text.Json.Nodes.JsonNode.Parse((await _client.CoreV1.ReadNamespacedConfigMapAsync("eu-west-agent", Ns, cancellationToken: Cancel)).Data["agent.yaml"])!["profiling"]!["targets"]!
            .AsArray().ToDictionary(t => t!["name"]!.GetValue<string>(), t => t!["tenant"]!.GetValue<string>());

    private static async Task<bool> ExistsAsync(Func<Task> read)
    {
        try
        {
            await read();
            return true;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return false;
        }
    }

    private async Task<(bool Account, bool Role, bool Binding)> AgentRbacAsync() => (
        await ExistsAsync(() => _client.CoreV1.ReadNamespacedServiceAccountAsync("eu-west-agent", Ns, cancellationToken: Cancel)),
        await ExistsAsync(() => _client.RbacAuthorizationV1.ReadNamespacedRoleAsync("eu-west-agent-pods", Ns, cancellationToken: Cancel)),
        await ExistsAsync(() => _client.RbacAuthorizationV1.ReadNamespacedRoleBindingAsync("eu-west-agent-pods", Ns, cancellationToken: Cancel)));

    private Task DeleteTargetAsync(string name) =>
        _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", name, cancellationToken: Cancel);

    private async Task<V1DaemonSet?> DaemonSetAsync()
    {
        try
        {
            return await _client.AppsV1.ReadNamespacedDaemonSetAsync("eu-west-agent", Ns, cancellationToken: Cancel);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<Condition?> ReadyAsync(string target) =>
        ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", target, Cancel))
            .Deserialize<ProfilingTarget>()!.Status.Conditions?.SingleOrDefault(c => c.Type == Conditions.Ready);

    [Fact]
    public async Task Targets_merge_into_one_daemonset_that_follows_them_and_goes_with_the_last()
    {
        await CreateSiteAsync();
        await CreateTargetAsync("gpu", new Dictionary<string, string> { ["gpu"] = "h100" });
        await CreateTargetAsync("all");

        await EventuallyAsync(async () => (await DaemonSetAsync())?.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms.Count == 2, "a DaemonSet for both targets");
        Assert.Equal("eu-west", (await DaemonSetAsync())!.Metadata.OwnerReferences.Single().Name);
        // Without a central runtime the agents get no key of their own.
        Assert.DoesNotContain((await DaemonSetAsync())!.Spec.Template.Spec.Containers.Single().Env, e => e.Name == AgentResources.AggregatorTokenVariable);
        Assert.False(await ExistsAsync(() => _client.CoreV1.ReadNamespacedSecretAsync("eu-west-agent-key", Ns, cancellationToken: Cancel)));
        await EventuallyAsync(async () => (await ReadyAsync("gpu"))?.Status == ConditionStatus.True, "the target Ready");

        await DeleteTargetAsync("gpu");
        await EventuallyAsync(async () => (await DaemonSetAsync())?.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms.Count == 1, "the DaemonSet without the removed target");

        await DeleteTargetAsync("all");
        await EventuallyAsync(
            async () => await DaemonSetAsync() is null
                && !(await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items.Any(c => c.Metadata.Name == "eu-west-agent"),
            "the DaemonSet and its ConfigMap removed with the last target");
    }

    [Fact]
    public async Task The_agents_service_account_and_pod_reader_role_come_and_go_with_the_targets()
    {
        await CreateSiteAsync();
        await CreateTargetAsync("checkout", podSelector: new Dictionary<string, string> { ["app"] = "checkout" });

        await EventuallyAsync(async () => await AgentRbacAsync() == (true, true, true) && await DaemonSetAsync() is not null, "the agents' ServiceAccount, Role, RoleBinding and DaemonSet");
        var role = await _client.RbacAuthorizationV1.ReadNamespacedRoleAsync("eu-west-agent-pods", Ns, cancellationToken: Cancel);
        var rule = Assert.Single(role.Rules);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["get", "list", "watch"], rule.Verbs);
        var binding = await _client.RbacAuthorizationV1.ReadNamespacedRoleBindingAsync("eu-west-agent-pods", Ns, cancellationToken: Cancel);
        Assert.Equal("eu-west-agent", binding.Subjects.Single().Name);
        Assert.Equal("eu-west", (await _client.CoreV1.ReadNamespacedServiceAccountAsync("eu-west-agent", Ns, cancellationToken: Cancel)).Metadata.OwnerReferences.Single().Name);
        Assert.Equal("eu-west-agent", (await DaemonSetAsync())!.Spec.Template.Spec.ServiceAccountName);
        var config = await _client.CoreV1.ReadNamespacedConfigMapAsync("eu-west-agent", Ns, cancellationToken: Cancel);
        var target = System.Text.Json.Nodes.JsonNode.Parse(config.Data["agent.yaml"])!["profiling"]!["targets"]![0]!;
        Assert.Equal(("checkout", Ns, "checkout"), (target["name"]!.GetValue<string>(), target["namespace"]!.GetValue<string>(), target["pod_selector"]!["app"]!.GetValue<string>()));

        // A later reconcile that changes nothing writes nothing to them.
        var writes = _server.Store.Writes.Count(w => w.Kind is "ServiceAccount" or "Role" or "RoleBinding");
        await CreateTargetAsync("other");
        await EventuallyAsync(async () => (await DaemonSetAsync())?.Spec.Template.Metadata.Annotations["aperture.dev/config-hash"] is not null
            && (await _client.CoreV1.ReadNamespacedConfigMapAsync("eu-west-agent", Ns, cancellationToken: Cancel)).Data["agent.yaml"].Contains("\"other\"", StringComparison.Ordinal), "the second target in the agent config");
        Assert.Equal(writes, _server.Store.Writes.Count(w => w.Kind is "ServiceAccount" or "Role" or "RoleBinding"));

        await DeleteTargetAsync("checkout");
        await DeleteTargetAsync("other");
        await EventuallyAsync(async () => await AgentRbacAsync() == (false, false, false) && await DaemonSetAsync() is null, "the agents' RBAC removed with the last target");
    }

    [Fact]
    public async Task A_target_of_a_missing_site_is_not_ready_and_recovers_when_the_site_appears()
    {
        await CreateTargetAsync("early");

        await EventuallyAsync(async () => (await ReadyAsync("early"))?.Reason == "SiteNotFound", "Ready=False SiteNotFound");

        await CreateSiteAsync();
        await EventuallyAsync(async () => (await ReadyAsync("early"))?.Status == ConditionStatus.True, "the target Ready once the Site exists");
        Assert.NotNull(await DaemonSetAsync());
    }

    [Fact]
    public async Task A_target_profiles_into_its_tenant_and_one_whose_tenant_is_missing_is_left_out_until_it_appears()
    {
        await CreateSiteAsync();
        await CreateTargetAsync("shared");
        await CreateTargetAsync("acme-shop", tenant: "acme");

        await EventuallyAsync(async () => (await ReadyAsync("acme-shop"))?.Reason == "TenantNotFound", "Ready=False TenantNotFound");
        await EventuallyAsync(async () => await DaemonSetAsync() is not null, "the DaemonSet for the other target");
        Assert.Equal(new Dictionary<string, string> { ["shared"] = "default" }, await AgentTenantsAsync());

        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(new Tenant
        {
            Metadata = new V1ObjectMeta { Name = "acme" },
            Spec = new TenantSpec { TenantId = "acme-corp", Name = "ACME" },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "tenants", cancellationToken: Cancel);

        await EventuallyAsync(async () => (await ReadyAsync("acme-shop"))?.Status == ConditionStatus.True, "the target Ready once its Tenant exists");
        await EventuallyAsync(async () => (await AgentTenantsAsync()).GetValueOrDefault("acme-shop") == "acme-corp", "the target in the agent config under its tenant id");
        Assert.Equal("default", (await AgentTenantsAsync())["shared"]);
    }
}
