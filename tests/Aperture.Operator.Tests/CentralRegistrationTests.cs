using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>
/// Tenants and ApiKeys registered with a real central runtime (embedded ClickHouse, redis-server) by the whole
/// operator host, on the test API server. The central runtime is shared by the class; each test has its own tenant id.
/// </summary>
public sealed class CentralRegistrationTests(CentralRuntime central) : IAsyncLifetime, IClassFixture<CentralRuntime>
{
    private const string Ns = "aperture";
    private const string AdminToken = CentralRuntime.AdminToken;
    private readonly string _tenantId = central.NewTenantId("acme");
    private HttpClient _centralHttp = null!;
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(20), what, Cancel);

    public async ValueTask InitializeAsync()
    {
        _centralHttp = central.Http;
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private async Task<OperatorHost> StartOperatorAsync(Uri? centralUrl = null, bool withCentral = true)
    {
        var host = OperatorHost.Create(new OperatorOptions
        {
            ListenAddress = "127.0.0.1",
            MetricsPort = 0,
            KubernetesApi = _server.Url.ToString().TrimEnd('/'),
            LeaderElection = false,
            CentralUrl = withCentral ? centralUrl ?? central.Url : null,
            CentralToken = AdminToken,
            CentralNotReadyPoll = TimeSpan.FromMilliseconds(200),
            Controllers = new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromMilliseconds(500) },
        });
        await host.StartAsync();
        return host;
    }

    private Task CreateTenantAsync() =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new Tenant
        {
            Metadata = new V1ObjectMeta { Name = "acme" },
            Spec = new TenantSpec { TenantId = _tenantId, Name = "ACME Corporation", Plan = TenantPlan.Team, Contact = "ops@acme.example.com" },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "tenants", cancellationToken: Cancel);

    private Task CreateKeyAsync(ApiKeyScope scope = ApiKeyScope.Read) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new ApiKey
        {
            Metadata = new V1ObjectMeta { Name = "dashboards" },
            Spec = new ApiKeySpec { TenantRef = new NamedReference { Name = "acme" }, Scope = scope, RateLimitRps = 50, ExpiresAt = "2030-01-01T00:00:00Z" },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "apikeys", cancellationToken: Cancel);

    private async Task<T?> GetAsync<T>(string plural, string name)
        where T : class
    {
        try
        {
            return ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, plural, name, Cancel)).Deserialize<T>();
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private Task<Tenant?> TenantAsync() => GetAsync<Tenant>("tenants", "acme");

    private Task<ApiKey?> KeyAsync() => GetAsync<ApiKey>("apikeys", "dashboards");

    private static Condition? Ready(IReadOnlyList<Condition>? conditions) => conditions?.SingleOrDefault(c => c.Type == Conditions.Ready);

    private async Task<string> SecretKeyAsync() =>
        System.Text.Encoding.UTF8.GetString((await _client.CoreV1.ReadNamespacedSecretAsync("dashboards-api-key", Ns, cancellationToken: Cancel)).Data[ApiKeyReconciler.KeyData]);

    /// <summary>The central runtime's keys of the tenant, as an admin sees them.</summary>
    private async Task<List<JsonElement>> CentralKeysAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/apikeys");
        request.Headers.Authorization = new("Bearer", AdminToken);
        request.Headers.Add("X-Scope-OrgID", _tenantId);
        using var response = await _centralHttp.SendAsync(request, Cancel);
        response.EnsureSuccessStatusCode();
        return [.. (await response.Content.ReadFromJsonAsync<JsonElement>(Cancel)).GetProperty("api_keys").EnumerateArray()];
    }

    /// <summary>What the central runtime makes of a request with the key: 200 and the key's permissions, or 401.</summary>
    private async Task<(HttpStatusCode Code, JsonElement Body)> PermissionsWithAsync(string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/rbac/permissions");
        request.Headers.Authorization = new("Bearer", key);
        using var response = await _centralHttp.SendAsync(request, Cancel);
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>(Cancel));
    }

    private async Task<HttpResponseMessage> CentralTenantAsync()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/api/v1/tenants/{_tenantId}");
        request.Headers.Authorization = new("Bearer", AdminToken);
        return await _centralHttp.SendAsync(request, Cancel);
    }

    /// <summary>The writes so far, once the operator's one write at start (the central site list, in namespace default) is done.</summary>
    private async Task<int> WritesOnceSettledAsync()
    {
        await EventuallyAsync(() => Task.FromResult(_server.Store.Writes.Any(w => w.Kind == "ConfigMap" && w.Name == "aperture-central-sites")), "the central site list published");
        return _server.Store.Writes.Count;
    }

    private async Task<string> EventsAsync() =>
        JsonSerializer.Serialize((await _client.CoreV1.ListNamespacedEventAsync(Ns, cancellationToken: Cancel)).Items);

    [Fact]
    public async Task A_tenant_is_registered_ready_with_its_created_time_and_a_steady_tenant_costs_no_writes()
    {
        await using var host = await StartOperatorAsync();
        await CreateTenantAsync();

        await EventuallyAsync(async () => Ready((await TenantAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "Tenant Ready");
        var tenant = (await TenantAsync())!;
        Assert.NotNull(tenant.Status.CreatedAt);
        Assert.True(DateTimeOffset.TryParse(tenant.Status.CreatedAt, System.Globalization.CultureInfo.InvariantCulture, out _), tenant.Status.CreatedAt);
        Assert.Equal(tenant.Metadata.Generation, tenant.Status.ObservedGeneration);
        Assert.Null(tenant.Metadata.Finalizers);

        using var registered = await CentralTenantAsync();
        Assert.Equal(HttpStatusCode.OK, registered.StatusCode);
        var body = await registered.Content.ReadFromJsonAsync<JsonElement>(Cancel);
        Assert.Equal("ACME Corporation", body.GetProperty("name").GetString());
        Assert.Equal("team", body.GetProperty("plan").GetString());
        Assert.Equal("ops@acme.example.com", body.GetProperty("contact_email").GetString());
        Assert.Equal(DateTimeOffset.Parse(tenant.Status.CreatedAt, System.Globalization.CultureInfo.InvariantCulture), body.GetProperty("created_at").GetDateTimeOffset());

        // Several resyncs later nothing was written to the cluster.
        var writes = await WritesOnceSettledAsync();
        await Task.Delay(1500, Cancel);
        Assert.Equal(writes, _server.Store.Writes.Count);
    }

    [Fact]
    public async Task A_tenant_the_central_runtime_has_already_is_ready_with_the_central_created_time()
    {
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/tenants") { Content = JsonContent.Create(new { tenant_id = _tenantId, name = "ACME", plan = "team" }) })
        {
            request.Headers.Authorization = new("Bearer", AdminToken);
            using var created = await _centralHttp.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        await using var host = await StartOperatorAsync();
        await CreateTenantAsync();

        await EventuallyAsync(async () => Ready((await TenantAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "Tenant Ready after a 409");
        Assert.NotNull((await TenantAsync())!.Status.CreatedAt);
    }

    [Fact]
    public async Task An_api_key_waits_for_its_tenant_then_its_secret_holds_a_working_key_that_status_and_events_never_show()
    {
        await using var host = await StartOperatorAsync();
        await CreateKeyAsync();
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Reason == "TenantNotReady", "Ready=False TenantNotReady");

        await CreateTenantAsync();
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "ApiKey Ready");

        var apiKey = (await KeyAsync())!;
        Assert.Contains(ApiKeyReconciler.Finalizer, apiKey.Metadata.Finalizers);
        Assert.Equal("dashboards-api-key", apiKey.Status.SecretName);
        Assert.Equal(_tenantId, apiKey.Status.TenantId);
        var secret = await _client.CoreV1.ReadNamespacedSecretAsync("dashboards-api-key", Ns, cancellationToken: Cancel);
        Assert.Equal("ApiKey", Assert.Single(secret.Metadata.OwnerReferences).Kind);
        Assert.Equal(apiKey.Status.KeyId, System.Text.Encoding.UTF8.GetString(secret.Data[ApiKeyReconciler.KeyIdData]));
        var key = await SecretKeyAsync();

        // The key works, with its scope (read: the viewer role), in its tenant.
        var (code, permissions) = await PermissionsWithAsync(key);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(_tenantId, permissions.GetProperty("tenant_id").GetString());
        Assert.Equal(apiKey.Status.KeyId, permissions.GetProperty("user_id").GetString());
        Assert.Equal("apikey", permissions.GetProperty("credential").GetString());
        Assert.Equal("viewer", permissions.GetProperty("role").GetString());
        Assert.Equal(["read"], permissions.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(50, permissions.GetProperty("rate_limit_rps").GetInt32());
        var listed = Assert.Single(await CentralKeysAsync());
        Assert.Equal(apiKey.Status.KeyId, listed.GetProperty("key_id").GetString());
        Assert.Equal(50, listed.GetProperty("rate_limit_rps").GetInt32());
        Assert.Equal(listed.GetProperty("prefix").GetString(), apiKey.Status.KeyPrefix);

        // The key itself is in the Secret alone: not in the resource, not in an Event.
        Assert.DoesNotContain(key, JsonSerializer.Serialize(apiKey), StringComparison.Ordinal);
        var events = await EventsAsync();
        Assert.Contains("KeyCreated", events, StringComparison.Ordinal);
        Assert.DoesNotContain(key, events, StringComparison.Ordinal);

        // Steady: the Secret is written once and no other key is made.
        var version = secret.Metadata.ResourceVersion;
        var writes = await WritesOnceSettledAsync();
        await Task.Delay(1500, Cancel);
        Assert.Equal(writes, _server.Store.Writes.Count);
        Assert.Equal(version, (await _client.CoreV1.ReadNamespacedSecretAsync("dashboards-api-key", Ns, cancellationToken: Cancel)).Metadata.ResourceVersion);
        Assert.Single(await CentralKeysAsync());
    }

    [Fact]
    public async Task Deleting_an_api_key_revokes_it_before_the_resource_goes()
    {
        await using var host = await StartOperatorAsync();
        await CreateTenantAsync();
        await CreateKeyAsync(ApiKeyScope.Ingestion);
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "ApiKey Ready");
        var key = await SecretKeyAsync();
        Assert.Equal(HttpStatusCode.OK, (await PermissionsWithAsync(key)).Code);

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "apikeys", "dashboards", cancellationToken: Cancel);
        await EventuallyAsync(async () => await KeyAsync() is null, "the resource gone once its finalizer ran");

        Assert.True(Assert.Single(await CentralKeysAsync()).GetProperty("revoked").GetBoolean());
        Assert.Equal(HttpStatusCode.Unauthorized, (await PermissionsWithAsync(key)).Code);
        Assert.Empty((await _client.CoreV1.ListNamespacedSecretAsync(Ns, cancellationToken: Cancel)).Items);
        Assert.DoesNotContain(key, await EventsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_changed_scope_rotates_the_key_in_the_same_secret_and_revokes_the_old_one()
    {
        await using var host = await StartOperatorAsync();
        await CreateTenantAsync();
        await CreateKeyAsync(ApiKeyScope.Read);
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "ApiKey Ready");
        var first = (await KeyAsync())!.Status.KeyId!;
        var oldKey = await SecretKeyAsync();

        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"scope\":\"admin\"}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "apikeys", "dashboards", cancellationToken: Cancel);
        await EventuallyAsync(
            async () => (await KeyAsync())!.Status is { KeyId: { } id } status && id != first && Ready(status.Conditions)?.Status == ConditionStatus.True,
            "a new key in status");

        var newKey = await SecretKeyAsync();
        Assert.NotEqual(oldKey, newKey);
        Assert.Equal("admin", (await PermissionsWithAsync(newKey)).Body.GetProperty("role").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await PermissionsWithAsync(oldKey)).Code);
        var keys = await CentralKeysAsync();
        Assert.Equal(2, keys.Count);
        Assert.True(keys.Single(k => k.GetProperty("key_id").GetString() == first).GetProperty("revoked").GetBoolean());
        Assert.Contains("KeyRotated", await EventsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_secret_that_holds_a_key_id_gets_no_other_key_when_the_operator_restarts()
    {
        await using (var first = await StartOperatorAsync())
        {
            await CreateTenantAsync();
            await CreateKeyAsync();
            await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "ApiKey Ready");
        }

        var key = await SecretKeyAsync();
        await using var second = await StartOperatorAsync();
        await Task.Delay(1500, Cancel);

        Assert.Equal(key, await SecretKeyAsync());
        Assert.Single(await CentralKeysAsync());
        Assert.Equal(HttpStatusCode.OK, (await PermissionsWithAsync(key)).Code);
    }

    [Fact]
    public async Task With_the_central_runtime_unreachable_a_tenant_is_not_ready_and_its_keys_wait()
    {
        var closed = new Uri($"http://127.0.0.1:{FreePort.Next()}/");
        await using var host = await StartOperatorAsync(closed);
        await CreateTenantAsync();
        await CreateKeyAsync();

        await EventuallyAsync(async () => Ready((await TenantAsync())?.Status.Conditions)?.Reason == "CentralUnavailable", "Tenant Ready=False CentralUnavailable");
        var ready = Ready((await TenantAsync())!.Status.Conditions)!;
        Assert.Equal(ConditionStatus.False, ready.Status);
        Assert.Contains(closed.Authority, ready.Message, StringComparison.Ordinal);
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Reason == "TenantNotReady", "ApiKey Ready=False TenantNotReady");
        Assert.Empty((await _client.CoreV1.ListNamespacedSecretAsync(Ns, cancellationToken: Cancel)).Items);
    }

    [Fact]
    public async Task When_the_central_runtime_comes_back_the_same_operator_registers_the_tenant_and_makes_the_key()
    {
        await central.StopAsync();
        try
        {
            await using var host = await StartOperatorAsync();
            await CreateTenantAsync();
            await CreateKeyAsync();
            await EventuallyAsync(async () => Ready((await TenantAsync())?.Status.Conditions)?.Reason == "CentralUnavailable", "Tenant Ready=False while the central runtime is down");

            await central.StartAsync();
            await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Status == ConditionStatus.True, "ApiKey Ready once the central runtime answers");
            Assert.Equal(ConditionStatus.True, Ready((await TenantAsync())!.Status.Conditions)!.Status);
            Assert.Equal(HttpStatusCode.OK, (await PermissionsWithAsync(await SecretKeyAsync())).Code);
        }
        finally
        {
            // The class shares the central runtime: leave it running whatever happened.
            if (!central.IsRunning)
            {
                await central.StartAsync();
            }
        }
    }

    private Task CreateTenantAsync(string name, string tenantId) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new Tenant
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new TenantSpec { TenantId = tenantId, Name = name },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "tenants", cancellationToken: Cancel);

    private Task CreateTargetAsync(string name, string tenant) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new ProfilingTarget
        {
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new ProfilingTargetSpec { SiteRef = new NamedReference { Name = "eu-west" }, EventTypes = [ProfilingEventType.Cpu], TenantRef = new NamedReference { Name = tenant } },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", cancellationToken: Cancel);

    private async Task<V1Secret?> AgentKeySecretAsync()
    {
        try
        {
            return await _client.CoreV1.ReadNamespacedSecretAsync("eu-west-agent-key", Ns, cancellationToken: Cancel);
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <summary>The key id the agents' pod template names, or null (no DaemonSet yet, or no key).</summary>
    private async Task<string?> AgentKeyIdOfDaemonSetAsync()
    {
        try
        {
            var daemonSet = await _client.AppsV1.ReadNamespacedDaemonSetAsync("eu-west-agent", Ns, cancellationToken: Cancel);
            return daemonSet.Spec.Template.Metadata.Annotations?.TryGetValue("aperture.dev/agent-key-id", out var id) == true ? id : null;
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private static string Text(V1Secret secret, string key) => System.Text.Encoding.UTF8.GetString(secret.Data[key]);

    private static List<string> TenantsOf(JsonElement permissions) =>
        permissions.TryGetProperty("tenants", out var tenants) ? [.. tenants.EnumerateArray().Select(t => t.GetString()!)] : [];

    [Fact]
    public async Task A_sites_agents_push_with_one_ingestion_key_for_exactly_its_targets_tenants_rotated_when_they_change_and_revoked_with_the_last()
    {
        var other = central.NewTenantId("globex");
        var both = new[] { _tenantId, other }.Order(StringComparer.Ordinal).ToList();
        await using var host = await StartOperatorAsync();
        await CreateTenantAsync();
        await CreateTenantAsync("globex", other);
        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west"), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);
        await CreateTargetAsync("shop", "acme");
        await CreateTargetAsync("billing", "globex");

        await EventuallyAsync(async () => await AgentKeySecretAsync() is { } s && Text(s, SiteAgentKeys.TenantsData) == string.Join(',', both), "the agents' key Secret for both tenants");
        var secret = (await AgentKeySecretAsync())!;
        Assert.Equal("Site", Assert.Single(secret.Metadata.OwnerReferences).Kind);
        var key = Text(secret, SiteAgentKeys.KeyData);
        var keyId = Text(secret, SiteAgentKeys.KeyIdData);

        // The key is an ingestion key allowed exactly the two tenants, its own the first of them.
        var (code, permissions) = await PermissionsWithAsync(key);
        Assert.Equal(HttpStatusCode.OK, code);
        Assert.Equal(both[0], permissions.GetProperty("tenant_id").GetString());
        Assert.Equal(keyId, permissions.GetProperty("user_id").GetString());
        Assert.Equal(["ingest"], permissions.GetProperty("permissions").EnumerateArray().Select(p => p.GetString()));
        Assert.Equal(both, TenantsOf(permissions));

        // The agents push with it, and roll when it changes.
        // The key is made before the DaemonSet that refers to it.
        await EventuallyAsync(async () => await AgentKeyIdOfDaemonSetAsync() == keyId, "the DaemonSet on the key");
        var daemonSet = await _client.AppsV1.ReadNamespacedDaemonSetAsync("eu-west-agent", Ns, cancellationToken: Cancel);
        var env = Assert.Single(daemonSet.Spec.Template.Spec.Containers.Single().Env, e => e.Name == "APERTURE_AGENT_EXPORT_AGGREGATOR_TOKEN");
        Assert.Equal(("eu-west-agent-key", "api-key"), (env.ValueFrom.SecretKeyRef.Name, env.ValueFrom.SecretKeyRef.Key));
        foreach (var target in new[] { "shop", "billing" })
        {
            await EventuallyAsync(async () => Ready((await GetAsync<ProfilingTarget>("profilingtargets", target))?.Status.Conditions)?.Status == ConditionStatus.True, $"{target} Ready");
        }


        // The key itself is in the Secret alone.
        Assert.DoesNotContain(key, JsonSerializer.Serialize(daemonSet), StringComparison.Ordinal);
        Assert.DoesNotContain(key, JsonSerializer.Serialize(await GetAsync<ProfilingTarget>("profilingtargets", "shop")), StringComparison.Ordinal);
        Assert.DoesNotContain(key, await EventsAsync(), StringComparison.Ordinal);

        // Steady: nothing is written and no other key is made.
        var writes = await WritesOnceSettledAsync();
        await Task.Delay(1500, Cancel);
        Assert.Equal(writes, _server.Store.Writes.Count);
        Assert.Equal(secret.Metadata.ResourceVersion, (await AgentKeySecretAsync())!.Metadata.ResourceVersion);

        // A target moved to the other tenant: a new key for the one tenant left, the old one revoked.
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"tenantRef\":{\"name\":\"acme\"}}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", "billing", cancellationToken: Cancel);
        await EventuallyAsync(async () => await AgentKeySecretAsync() is { } s && Text(s, SiteAgentKeys.TenantsData) == _tenantId, "the Secret rewritten for one tenant");
        var rotated = (await AgentKeySecretAsync())!;
        var newKey = Text(rotated, SiteAgentKeys.KeyData);
        Assert.NotEqual(keyId, Text(rotated, SiteAgentKeys.KeyIdData));
        var (newCode, newPermissions) = await PermissionsWithAsync(newKey);
        Assert.Equal(HttpStatusCode.OK, newCode);
        Assert.Equal(_tenantId, newPermissions.GetProperty("tenant_id").GetString());
        Assert.Equal([_tenantId], TenantsOf(newPermissions));
        await EventuallyAsync(async () => (await PermissionsWithAsync(key)).Code == HttpStatusCode.Unauthorized, "the old key revoked");
        await EventuallyAsync(async () => await AgentKeyIdOfDaemonSetAsync() == Text(rotated, SiteAgentKeys.KeyIdData), "the DaemonSet on the new key");

        // The last target gone: the key revoked and its Secret removed.
        foreach (var target in new[] { "shop", "billing" })
        {
            await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "profilingtargets", target, cancellationToken: Cancel);
        }

        await EventuallyAsync(async () => await AgentKeySecretAsync() is null, "the agents' key Secret removed");
        Assert.Equal(HttpStatusCode.Unauthorized, (await PermissionsWithAsync(newKey)).Code);
        Assert.DoesNotContain(await CentralKeysAsync(), k => !k.GetProperty("revoked").GetBoolean());
    }

    [Fact]
    public async Task Without_a_central_runtime_tenants_and_keys_say_so_and_nothing_is_made()
    {
        await using var host = await StartOperatorAsync(withCentral: false);
        await CreateTenantAsync();
        await CreateKeyAsync();

        await EventuallyAsync(async () => Ready((await TenantAsync())?.Status.Conditions)?.Reason == CentralNotConfigured.Reason, "Tenant CentralNotConfigured");
        await EventuallyAsync(async () => Ready((await KeyAsync())?.Status.Conditions)?.Reason == CentralNotConfigured.Reason, "ApiKey CentralNotConfigured");
        Assert.Null((await KeyAsync())!.Metadata.Finalizers);
        Assert.Empty((await _client.CoreV1.ListNamespacedSecretAsync(Ns, cancellationToken: Cancel)).Items);
        using var unknown = await CentralTenantAsync();
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }
}
