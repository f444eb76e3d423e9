using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using k8s;
using k8s.Models;
using Microsoft.AspNetCore.Builder;

namespace Aperture.Operator.Tests;

/// <summary>AlertRules and MonitoredServers registered with a real runtime (embedded ClickHouse, redis-server) by the whole operator host.</summary>
public sealed class RuntimeRegistrationTests : IAsyncLifetime
{
    private const string Ns = "obs";
    private readonly TemporaryDirectory _data = new("aperture-operator-registration");
    private ClickHouseEndpointServer _clickHouse = null!;
    private RedisServer _redis = null!;
    private WebApplication _runtime = null!;
    private HttpClient _runtimeHttp = null!;
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;
    private OperatorHost _operator = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(20), what, Cancel);

    private sealed class LocalRuntime(Uri url) : ISiteEndpoints
    {
        public Uri HttpBase(Site site) => url;
    }

    public async ValueTask InitializeAsync()
    {
        _clickHouse = await ClickHouseEndpointServer.StartAsync(_data.Path);
        _redis = await RedisServer.StartAsync();
        var httpPort = FreePort.Next();
        _runtime = RuntimeApplication.Build(
        [
            "--http-port", httpPort.ToString(CultureInfo.InvariantCulture), "--grpc-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--jobs-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--clickhouse", _clickHouse.ConnectionString, "--redis", _redis.ConnectionString, "--Aperture:AuthToken=site-token",
        ]);
        await _runtime.StartAsync();
        var runtimeUrl = new Uri($"http://127.0.0.1:{httpPort}/");
        _runtimeHttp = new HttpClient { BaseAddress = runtimeUrl };
        _runtimeHttp.DefaultRequestHeaders.Authorization = new("Bearer", "site-token");

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
            Sites = new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200), ServerStatusPoll = TimeSpan.FromMilliseconds(300) },
        }, new LocalRuntime(runtimeUrl));
        await _operator.StartAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _operator.DisposeAsync();
        _client.Dispose();
        await _server.DisposeAsync();
        _runtimeHttp.Dispose();
        await _runtime.StopAsync();
        await _runtime.DisposeAsync();
        await _redis.DisposeAsync();
        await _clickHouse.DisposeAsync();
        _data.Dispose();
    }

    private async Task CreateSiteAsync()
    {
        foreach (var (name, key, value) in new[] { ("auth", "token", "site-token"), ("ch", "cs", "Host=ch"), ("redis", "config", "redis:6379") })
        {
            await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = name },
                Data = new Dictionary<string, byte[]> { [key] = System.Text.Encoding.UTF8.GetBytes(value) },
            }, Ns, cancellationToken: Cancel);
        }

        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west", authToken: new SecretKeyReference { Name = "auth", Key = "token" }), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);
    }

    private Task CreateRuleAsync(double threshold) =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new AlertRule
        {
            Metadata = new V1ObjectMeta { Name = "buffer-full" },
            Spec = new AlertRuleSpec
            {
                SiteRef = new NamedReference { Name = "eu-west" },
                Name = "High buffer usage",
                Metric = AlertMetric.BufferUtilization,
                Operator = AlertOperator.Gt,
                Threshold = threshold,
                Severity = AlertSeverity.Critical,
            },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "alertrules", cancellationToken: Cancel);

    private async Task<AlertRule?> RuleAsync()
    {
        try
        {
            return ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "alertrules", "buffer-full", Cancel)).Deserialize<AlertRule>();
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<List<JsonElement>> RuntimeRulesAsync() =>
        [.. (await _runtimeHttp.GetFromJsonAsync<JsonElement>("/api/alerts", Cancel)).GetProperty("rules").EnumerateArray()];

    [Fact]
    public async Task A_rule_is_registered_with_the_site_runtime_replaced_on_change_and_deleted_with_the_resource()
    {
        await CreateSiteAsync();
        await CreateRuleAsync(0.9);

        await EventuallyAsync(async () => (await RuleAsync())?.Status?.RuleId is not null, "the rule id in status");
        var rule = (await RuleAsync())!;
        Assert.Contains(AlertRuleReconciler.Finalizer, rule.Metadata.Finalizers);
        var registered = Assert.Single(await RuntimeRulesAsync());
        Assert.Equal(rule.Status.RuleId, registered.GetProperty("id").GetString());
        Assert.Equal("High buffer usage", registered.GetProperty("name").GetString());
        Assert.Equal("critical", registered.GetProperty("severity").GetString());
        await EventuallyAsync(
            async () => (await _client.CoreV1.ListNamespacedConfigMapAsync(Ns, cancellationToken: Cancel)).Items
                .Any(c => c.Metadata.Name == "eu-west-aggregator" && c.Data?.TryGetValue("alerts.json", out var alerts) == true && alerts.Contains("buffer-full", StringComparison.Ordinal)),
            "the rule rendered into the Site's ConfigMap");

        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"threshold\":0.5}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "alertrules", "buffer-full", cancellationToken: Cancel);
        await EventuallyAsync(async () => (await RuntimeRulesAsync()) is [var only] && only.GetProperty("threshold").GetDouble() == 0.5, "the rule replaced");

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "alertrules", "buffer-full", cancellationToken: Cancel);
        await EventuallyAsync(async () => await RuleAsync() is null, "the resource gone once its finalizer ran");
        Assert.Empty(await RuntimeRulesAsync());
    }

    [Fact]
    public async Task A_rule_the_runtime_lost_is_registered_again()
    {
        await CreateSiteAsync();
        await CreateRuleAsync(0.9);
        await EventuallyAsync(async () => (await RuleAsync())?.Status?.RuleId is not null, "the rule id in status");
        var first = (await RuleAsync())!.Status.RuleId!;

        using (var deleted = await _runtimeHttp.DeleteAsync($"/api/alerts/{first}", Cancel))
        {
            deleted.EnsureSuccessStatusCode();
        }

        await EventuallyAsync(async () => (await RuleAsync())?.Status?.RuleId is { } id && id != first, "a new registration");
        Assert.Single(await RuntimeRulesAsync());
    }

    private Task CreateServerAsync() =>
        _client.CustomObjects.CreateNamespacedCustomObjectAsync(new MonitoredServer
        {
            Metadata = new V1ObjectMeta { Name = "gpu-box" },
            Spec = new MonitoredServerSpec
            {
                SiteRef = new NamedReference { Name = "eu-west" },
                Slug = "gpu-box-01",
                Name = "GPU Box 01",
                Hostname = "train01",
                Labels = new Dictionary<string, string> { ["rack"] = "r1" },
            },
        }, ApertureApi.Group, ApertureApi.Version, Ns, "monitoredservers", cancellationToken: Cancel);

    private async Task<MonitoredServer?> ServerAsync()
    {
        try
        {
            return ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "monitoredservers", "gpu-box", Cancel)).Deserialize<MonitoredServer>();
        }
        catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    private async Task<HttpResponseMessage> IngestAsync(string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/ingest/servers/gpu-box-01/metrics/")
        {
            Content = JsonContent.Create(new { sample = new { collected_at = TimeProvider.System.GetUtcNow().ToString("O", System.Globalization.CultureInfo.InvariantCulture), cpu_usage_percent = 12.5, memory_percent = 40.0 } }),
        };
        request.Headers.Add("X-Monitoring-Token", token);
        return await _runtimeHttp.SendAsync(request, Cancel);
    }

    [Fact]
    public async Task A_server_gets_a_token_secret_once_is_registered_followed_in_status_and_unregistered_on_delete()
    {
        await CreateSiteAsync();
        await CreateServerAsync();

        await EventuallyAsync(async () => (await ServerAsync())?.Status.RegisteredSlug == "gpu-box-01", "the server registered");
        var server = (await ServerAsync())!;
        Assert.Contains(MonitoredServerReconciler.Finalizer, server.Metadata.Finalizers);
        Assert.Equal("gpu-box-ingest-token", server.Status.TokenSecretName);
        var secret = await _client.CoreV1.ReadNamespacedSecretAsync("gpu-box-ingest-token", Ns, cancellationToken: Cancel);
        Assert.Equal("MonitoredServer", Assert.Single(secret.Metadata.OwnerReferences).Kind);
        var token = System.Text.Encoding.UTF8.GetString(secret.Data["token"]);
        Assert.True(token.Length >= 40, "a token of 32 random bytes");
        // The token reaches neither status nor the runtime's answers.
        Assert.DoesNotContain(token, JsonSerializer.Serialize(server), StringComparison.Ordinal);
        var registered = await _runtimeHttp.GetStringAsync("/api/admin/servers/gpu-box-01", Cancel);
        Assert.DoesNotContain(token, registered, StringComparison.Ordinal);
        Assert.Contains("\"GPU Box 01\"", registered, StringComparison.Ordinal);

        // An agent holding the Secret's token is let in, a wrong one is not; status follows its samples.
        using (var wrong = await IngestAsync("not-the-token"))
        {
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var accepted = await IngestAsync(token))
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, accepted.StatusCode);
        }

        await EventuallyAsync(async () => (await ServerAsync())?.Status is { SnapshotCount: 1, LastSeen: not null }, "the snapshot count and last-seen time in status");
        Assert.Contains((await ServerAsync())!.Status.Conditions!, c => c.Type == "Ready" && c.Status == ConditionStatus.True);

        // A changed spec reaches the runtime; the Secret, and so the agent's token, stays.
        await _client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"name\":\"GPU Box One\",\"active\":false}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "monitoredservers", "gpu-box", cancellationToken: Cancel);
        await EventuallyAsync(
            async () => (await _runtimeHttp.GetFromJsonAsync<JsonElement>("/api/admin/servers/gpu-box-01", Cancel)).GetProperty("server") is var s
                && s.GetProperty("name").GetString() == "GPU Box One" && !s.GetProperty("is_active").GetBoolean(),
            "the new name and the disabled flag in the runtime");
        Assert.Equal(token, System.Text.Encoding.UTF8.GetString((await _client.CoreV1.ReadNamespacedSecretAsync("gpu-box-ingest-token", Ns, cancellationToken: Cancel)).Data["token"]));
        using (var disabled = await IngestAsync(token))
        {
            Assert.Equal(System.Net.HttpStatusCode.Forbidden, disabled.StatusCode);
        }

        await _client.CustomObjects.DeleteNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, Ns, "monitoredservers", "gpu-box", cancellationToken: Cancel);
        await EventuallyAsync(async () => await ServerAsync() is null, "the resource gone once its finalizer ran");
        using var gone = await _runtimeHttp.GetAsync("/api/admin/servers/gpu-box-01", Cancel);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, gone.StatusCode);
    }

    [Fact]
    public async Task A_server_without_its_site_is_not_ready_and_registers_by_itself_when_the_site_appears()
    {
        await CreateServerAsync();
        await EventuallyAsync(
            async () => (await ServerAsync())?.Status.Conditions?.Any(c => c.Type == "Ready" && c.Status == ConditionStatus.False && c.Reason == "SiteNotFound") == true,
            "Ready=False, SiteNotFound");

        await CreateSiteAsync();
        await EventuallyAsync(async () => (await ServerAsync())?.Status.RegisteredSlug == "gpu-box-01", "the server registered once the Site exists");
    }
}
