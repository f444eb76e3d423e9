using System.Collections.Concurrent;
using Aperture.Agent.Configuration;
using Aperture.Agent.Discovery;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Tests;

/// <summary>The agent's credentials for the Kubernetes API: the service-account token is read again as it rotates.</summary>
public sealed class KubernetesApiAccessTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    /// <summary>A clock the test moves.</summary>
    private sealed class SteppedTime : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task The_token_file_is_read_again_after_the_refresh_period()
    {
        var seen = new ConcurrentQueue<string>();
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        await using var app = builder.Build();
        app.Run(context =>
        {
            seen.Enqueue(context.Request.Headers.Authorization.ToString());
            return context.Response.WriteAsync("{}", Cancel);
        });
        await app.StartAsync(Cancel);

        using var dir = new TemporaryDirectory("aperture-sa-token");
        var tokenFile = Path.Combine(dir.Path, "token");
        await File.WriteAllTextAsync(tokenFile, "first-token\n", Cancel);
        var time = new SteppedTime();
        var config = new KubernetesDiscoveryConfig { ApiServer = $"http://127.0.0.1:{port}", TokenFile = tokenFile, TokenRefreshSeconds = 60 };
        using var api = KubernetesApiAccess.Create(config, _ => null, time)!;

        (await api.GetAsync("api/v1/namespaces/a/pods", Cancel)).Dispose();
        await File.WriteAllTextAsync(tokenFile, "second-token", Cancel);
        time.Now += TimeSpan.FromSeconds(30);
        (await api.GetAsync("api/v1/namespaces/a/pods", Cancel)).Dispose();
        time.Now += TimeSpan.FromSeconds(31);
        (await api.GetAsync("api/v1/namespaces/a/pods", Cancel)).Dispose();
        File.Delete(tokenFile);
        time.Now += TimeSpan.FromSeconds(61);
        (await api.GetAsync("api/v1/namespaces/a/pods", Cancel)).Dispose();

        // Within the period the cached token; after it the rotated one; a vanished file keeps the last.
        Assert.Equal(["Bearer first-token", "Bearer first-token", "Bearer second-token", "Bearer second-token"], seen);
    }

    [Fact]
    public void In_cluster_the_address_comes_from_the_service_environment_and_the_config_overrides_it()
    {
        static string? Env(string name) => name switch
        {
            "KUBERNETES_SERVICE_HOST" => "fd00::1",
            "KUBERNETES_SERVICE_PORT" => "6443",
            _ => null,
        };

        Assert.Equal("https://[fd00::1]:6443/", KubernetesApiAccess.ServerAddress(new KubernetesDiscoveryConfig(), Env)!.ToString());
        Assert.Equal("http://127.0.0.1:8001/", KubernetesApiAccess.ServerAddress(new KubernetesDiscoveryConfig { ApiServer = "http://127.0.0.1:8001" }, Env)!.ToString());
        Assert.Null(KubernetesApiAccess.ServerAddress(new KubernetesDiscoveryConfig(), _ => null));
    }
}
