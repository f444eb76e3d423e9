using Aperture.KubernetesTestServer;
using Aperture.Operator.Controller;
using Aperture.Operator.Reconcilers;
using Aperture.Resources;
using Aperture.Testing;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Tests;

public sealed class LeaderElectionTests
{
    private const string Ns = "obs";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static Task EventuallyAsync(Func<Task<bool>> condition, string what) =>
        Eventually.HoldsAsync(condition, TimeSpan.FromSeconds(20), what, Cancel);

    private static OperatorHost Replica(TestApiServer server, string identity) => OperatorHost.Create(new OperatorOptions
    {
        ListenAddress = "127.0.0.1",
        MetricsPort = 0,
        KubernetesApi = server.Url.ToString().TrimEnd('/'),
        LeaseNamespace = Ns,
        Identity = identity,
        LeaseDuration = TimeSpan.FromSeconds(2),
        RenewDeadline = TimeSpan.FromSeconds(1.5),
        RetryPeriod = TimeSpan.FromMilliseconds(200),
        Controllers = new ControllerOptions { Workers = 2, ResyncPeriod = TimeSpan.FromMilliseconds(500) },
        Sites = new SiteReconcilerOptions { NotReadyPoll = TimeSpan.FromMilliseconds(200) },
    });

    [Fact]
    public async Task Of_two_replicas_only_the_leader_reconciles_and_the_other_takes_over_when_it_goes()
    {
        await using var server = await TestApiServer.StartAsync();
        server.BookmarkInterval = TimeSpan.FromMilliseconds(200);
        using var client = new Kubernetes(new KubernetesClientConfiguration { Host = server.Url.ToString().TrimEnd('/') });
        foreach (var (name, key) in new[] { ("ch", "cs"), ("redis", "config") })
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret { Metadata = new V1ObjectMeta { Name = name }, Data = new Dictionary<string, byte[]> { [key] = [1] } }, Ns, cancellationToken: Cancel);
        }

        var first = Replica(server, "replica-a");
        await using var second = Replica(server, "replica-b");
        await first.StartAsync();
        await EventuallyAsync(() => Task.FromResult(first.IsLeader), "replica-a leading");
        await second.StartAsync();
        await client.CustomObjects.CreateNamespacedCustomObjectAsync(SampleSites.New("eu-west"), ApertureApi.Group, ApertureApi.Version, Ns, "sites", cancellationToken: Cancel);

        await EventuallyAsync(async () => (await client.AppsV1.ListNamespacedStatefulSetAsync(Ns, cancellationToken: Cancel)).Items.Count == 1, "the leader's StatefulSet");
        await Task.Delay(1000, Cancel);
        Assert.True(first.IsLeader);
        Assert.False(second.IsLeader);
        var lease = await client.CoordinationV1.ReadNamespacedLeaseAsync("aperture-operator", Ns, cancellationToken: Cancel);
        Assert.Equal("replica-a", lease.Spec.HolderIdentity);

        await first.DisposeAsync();
        await EventuallyAsync(() => Task.FromResult(second.IsLeader), "replica-b taking over");
        await client.CustomObjects.PatchNamespacedCustomObjectAsync(new V1Patch("{\"spec\":{\"replicas\":3}}", V1Patch.PatchType.MergePatch),
            ApertureApi.Group, ApertureApi.Version, Ns, "sites", "eu-west", cancellationToken: Cancel);

        try
        {
            await EventuallyAsync(async () => (await client.AppsV1.ReadNamespacedStatefulSetAsync("eu-west-aggregator", Ns, cancellationToken: Cancel)).Spec.Replicas == 3,
                "the new leader applying the change");
        }
        catch (TimeoutException)
        {
            var holder = (await client.CoordinationV1.ReadNamespacedLeaseAsync("aperture-operator", Ns, cancellationToken: Cancel)).Spec.HolderIdentity;
            var writes = string.Join("\n", server.Store.Writes.TakeLast(15).Select(w => $"{w.Verb} {w.Kind} {w.Name} {w.FieldManager}"));
            Assert.Fail($"leader={second.IsLeader} holder={holder}\n{writes}");
        }
        using var http = new HttpClient { BaseAddress = second.Url };
        Assert.Equal("ok", await http.GetStringAsync("/healthz", Cancel));
        Assert.Contains("aperture_operator_reconcile_total", await http.GetStringAsync("/metrics", Cancel), StringComparison.Ordinal);
    }
}
