using System.Text.Json;
using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Tests;

/// <summary>--watch-namespace: the operator lists, watches and reconciles only the namespaces it is given.</summary>
public sealed class WatchNamespaceTests : IAsyncLifetime
{
    private const string OperatorNs = "aperture";
    private TestApiServer _server = null!;
    private Kubernetes _client = null!;

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _server = await TestApiServer.StartAsync();
        _server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        _client = new Kubernetes(new KubernetesClientConfiguration { Host = _server.Url.ToString().TrimEnd('/') });
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        await _server.DisposeAsync();
    }

    private async Task CreateSiteAsync(string ns)
    {
        foreach (var (name, key) in new[] { ("ch", "cs"), ("redis", "config") })
        {
            await _client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = name }, Data = new Dictionary<string, byte[]> { [key] = [1] } }, ns, cancellationToken: Cancel);
        }

        await _client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west"), ApertureApi.Group, ApertureApi.Version, ns, "sites", cancellationToken: Cancel);
    }

    private async Task<Site> SiteAsync(string ns) =>
        ((JsonElement)await _client.CustomObjects.GetNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ns, "sites", "eu-west", Cancel)).Deserialize<Site>()!;

    [Fact]
    public void The_flag_is_parsed_repeatable_and_checked()
    {
        var options = OperatorOptions.Parse(["--watch-namespace=team-a", "--watch-namespace=team-b", "--watch-namespace=team-a"]);

        Assert.Equal(["team-a", "team-b"], options.WatchNamespaces);
        Assert.Empty(OperatorOptions.Parse([]).WatchNamespaces);
        Assert.Contains("--watch-namespace", Assert.Throws<ArgumentException>(() => OperatorOptions.Parse(["--watch-namespace=Team_A"])).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_site_in_a_watched_namespace_is_reconciled_and_one_in_another_is_not_nor_in_the_central_site_list()
    {
        await CreateSiteAsync("team-b");
        await using var host = OperatorHost.Create(new OperatorOptions
        {
            ListenAddress = "127.0.0.1",
            MetricsPort = 0,
            KubernetesApi = _server.Url.ToString().TrimEnd('/'),
            LeaderElection = false,
            LeaseNamespace = OperatorNs,
            WatchNamespaces = ["team-a"],
            Controllers = new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromMilliseconds(300) },
            Sites = new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200) },
        });
        await host.StartAsync();
        await CreateSiteAsync("team-a");

        await Eventually.HoldsAsync(async () => (await SiteAsync("team-a")).Status.Conditions is { Count: > 0 }, TimeSpan.FromSeconds(20), "the team-a Site reconciled", Cancel);
        await Eventually.HoldsAsync(
            async () => (await _client.CoreV1.ListNamespacedConfigMapAsync(OperatorNs, cancellationToken: Cancel)).Items.Any(c => c.Metadata.Name == CentralResources.ConfigMapName),
            TimeSpan.FromSeconds(20), "the central site list", Cancel);
        Assert.Single((await _client.AppsV1.ListNamespacedStatefulSetAsync("team-a", cancellationToken: Cancel)).Items);

        // Several resyncs later the other namespace's Site is still untouched, and the site list names team-a's alone.
        await Task.Delay(1000, Cancel);
        Assert.Null((await SiteAsync("team-b")).Status.Conditions);
        Assert.Empty((await _client.AppsV1.ListNamespacedStatefulSetAsync("team-b", cancellationToken: Cancel)).Items);
        Assert.Empty((await _client.CoreV1.ListNamespacedConfigMapAsync("team-b", cancellationToken: Cancel)).Items);
        var sites = (await _client.CoreV1.ReadNamespacedConfigMapAsync(CentralResources.ConfigMapName, OperatorNs, cancellationToken: Cancel)).Data[CentralResources.SitesKey];
        Assert.Contains("eu-west-aggregator.team-a.svc", sites, StringComparison.Ordinal);
        Assert.DoesNotContain("team-b", sites, StringComparison.Ordinal);
    }
}
