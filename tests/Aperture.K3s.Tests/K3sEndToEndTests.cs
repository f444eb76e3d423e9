using System.Diagnostics;
using System.Text.Json;
using Aperture.Resources;
using Aperture.Testing;
using DotNet.Testcontainers.Builders;
using k8s;
using k8s.Models;
using Testcontainers.K3s;

namespace Aperture.K3s.Tests;

/// <summary>
/// The product as a platform team meets it: the three images built from deploy/docker/Dockerfile,
/// a real K3s, `helm install` of the chart, the examples applied, and every reconciled resource
/// Ready. Needs a Docker daemon; skipped, saying so, where there is none.
/// </summary>
public sealed class K3sEndToEndTests
{
    private const string Tag = "e2e";
    private const string ExamplesNamespace = "aperture";
    private static readonly TimeSpan ReadyTimeout = TimeSpan.FromMinutes(10);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Helm => Path.Combine(RepositoryLayout.Root, ".deps", "tools", "helm", "helm");

    [Fact]
    public async Task The_chart_installs_on_k3s_and_the_examples_become_ready()
    {
        if (await DockerUnavailableAsync() is { } why)
        {
            Assert.Skip($"needs a Docker daemon for Testcontainers.K3s: {why}");
        }

        using var work = new TemporaryDirectory("aperture-k3s");
        foreach (var target in new[] { "runtime", "operator", "agent" })
        {
            await new ImageFromDockerfileBuilder()
                .WithDockerfileDirectory(RepositoryLayout.Root)
                .WithDockerfile("deploy/docker/Dockerfile")
                .WithTarget(target)
                .WithName($"aperture-{target}:{Tag}")
                .WithDeleteIfExists(false)
                .Build()
                .CreateAsync(Cancel);
        }

        var images = Path.Combine(work.Path, "images.tar");
        await RunAsync("docker", ["save", "-o", images, $"aperture-runtime:{Tag}", $"aperture-operator:{Tag}", $"aperture-agent:{Tag}"]);

        await using var k3s = new K3sBuilder("rancher/k3s:v1.31.5-k3s1").Build();
        await k3s.StartAsync(Cancel);
        await k3s.CopyAsync(new FileInfo(images), "/tmp/", ct: Cancel);
        var imported = await k3s.ExecAsync(["ctr", "images", "import", "/tmp/images.tar"], Cancel);
        Assert.True(imported.ExitCode == 0, $"ctr images import: {imported.Stderr}");

        var kubeconfig = Path.Combine(work.Path, "kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, await k3s.GetKubeconfigAsync(), Cancel);
        using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(new FileInfo(kubeconfig)));

        // The agent DaemonSet runs on labelled nodes only.
        var node = (await client.CoreV1.ListNodeAsync(cancellationToken: Cancel)).Items.Single();
        await client.CoreV1.PatchNodeAsync(new V1Patch("{\"metadata\":{\"labels\":{\"aperture.dev/agent\":\"enabled\"}}}", V1Patch.PatchType.MergePatch), node.Metadata.Name, cancellationToken: Cancel);

        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = ExamplesNamespace } }, cancellationToken: Cancel);
        await DeployDependenciesAsync(client);
        await CreateCentralSecretsAsync(client);

        await RunAsync(Helm, [
            "install", "aperture", Path.Combine(RepositoryLayout.Root, "charts", "aperture"), "--kubeconfig", kubeconfig,
            "--namespace", "aperture-system", "--create-namespace", "--wait", "--timeout", "5m",
            "--set", "image.repository=aperture-operator", "--set", $"image.tag={Tag}", "--set", "image.pullPolicy=Never",
            "--set", "workloadImages.runtime.repository=aperture-runtime", "--set", $"workloadImages.runtime.tag={Tag}",
            "--set", "workloadImages.agent.repository=aperture-agent", "--set", $"workloadImages.agent.tag={Tag}",
        ]);

        // The examples go in as a chart of their own: helm applies any manifest, as kubectl apply would.
        var examplesChart = Path.Combine(work.Path, "examples");
        Directory.CreateDirectory(Path.Combine(examplesChart, "templates"));
        await File.WriteAllTextAsync(Path.Combine(examplesChart, "Chart.yaml"), "apiVersion: v2\nname: aperture-examples\nversion: 0.0.1\n", Cancel);
        foreach (var example in Directory.GetFiles(Path.Combine(RepositoryLayout.Root, "examples"), "*.yaml"))
        {
            File.Copy(example, Path.Combine(examplesChart, "templates", Path.GetFileName(example)));
        }

        await RunAsync(Helm, ["install", "examples", examplesChart, "--kubeconfig", kubeconfig, "--namespace", ExamplesNamespace]);

        // Every kind becomes Ready: Tenants and ApiKeys through the chart's central runtime.
        foreach (var plural in new[] { "sites", "profilingtargets", "alertrules", "monitoredservers", "tenants", "apikeys" })
        {
            await Eventually.HoldsAsync(async () => await AllReadyAsync(client, plural), ReadyTimeout, $"every {plural} Ready", Cancel);
        }
    }

    private static async Task<bool> AllReadyAsync(Kubernetes client, string plural)
    {
        var list = (JsonElement)await client.CustomObjects.ListNamespacedCustomObjectAsync(ApertureApi.Group, ApertureApi.Version, ExamplesNamespace, plural, cancellationToken: Cancel);
        var items = list.GetProperty("items").EnumerateArray().ToList();
        return items.Count > 0 && items.All(item =>
            item.TryGetProperty("status", out var status) && status.TryGetProperty("conditions", out var conditions)
            && conditions.EnumerateArray().Any(c => c.GetProperty("type").GetString() == "Ready" && c.GetProperty("status").GetString() == "True"));
    }

    /// <summary>ClickHouse and Redis for the example Site, and the Secrets it names.</summary>
    private static async Task DeployDependenciesAsync(Kubernetes client)
    {
        foreach (var (name, image, port) in new[] { ("clickhouse", "clickhouse/clickhouse-server:25.8", 8123), ("redis", "redis:7-alpine", 6379) })
        {
            var labels = new Dictionary<string, string> { ["app"] = name };
            await client.AppsV1.CreateNamespacedDeploymentAsync(new V1Deployment
            {
                Metadata = new V1ObjectMeta { Name = name },
                Spec = new V1DeploymentSpec
                {
                    Selector = new V1LabelSelector { MatchLabels = labels },
                    Template = new V1PodTemplateSpec
                    {
                        Metadata = new V1ObjectMeta { Labels = labels },
                        Spec = new V1PodSpec { Containers = [new V1Container { Name = name, Image = image, Ports = [new V1ContainerPort { ContainerPort = port }] }] },
                    },
                },
            }, ExamplesNamespace, cancellationToken: Cancel);
            await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
            {
                Metadata = new V1ObjectMeta { Name = name },
                Spec = new V1ServiceSpec { Selector = labels, Ports = [new V1ServicePort { Port = port, TargetPort = port }] },
            }, ExamplesNamespace, cancellationToken: Cancel);
        }

        foreach (var (name, key, value) in new[]
        {
            ("eu-west-clickhouse", "connection-string", "Host=clickhouse;Port=8123;Username=default"),
            ("eu-west-redis", "configuration", "redis:6379"),
            ("eu-west-auth", "token", Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24))),
        })
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = name },
                StringData = new Dictionary<string, string> { [key] = value },
            }, ExamplesNamespace, cancellationToken: Cancel);
        }
    }

    /// <summary>The Secrets the chart's central runtime names (values central.storage and central.authTokenSecret), in the release namespace.</summary>
    private static async Task CreateCentralSecretsAsync(Kubernetes client)
    {
        await client.CoreV1.CreateNamespaceAsync(new V1Namespace { Metadata = new V1ObjectMeta { Name = "aperture-system" } }, cancellationToken: Cancel);
        foreach (var (name, key, value) in new[]
        {
            ("aperture-central-clickhouse", "connection-string", $"Host=clickhouse.{ExamplesNamespace}.svc;Port=8123;Username=default"),
            ("aperture-central-redis", "connection-string", $"redis.{ExamplesNamespace}.svc:6379"),
            ("aperture-central-auth", "token", Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24))),
        })
        {
            await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
            {
                Metadata = new V1ObjectMeta { Name = name },
                StringData = new Dictionary<string, string> { [key] = value },
            }, "aperture-system", cancellationToken: Cancel);
        }
    }

    /// <returns>Why Docker cannot be used here, or null when it can.</returns>
    private static async Task<string?> DockerUnavailableAsync()
    {
        if (Environment.GetEnvironmentVariable("DOCKER_HOST") is not { Length: > 0 } && !File.Exists("/var/run/docker.sock"))
        {
            return "no DOCKER_HOST and no /var/run/docker.sock on this machine";
        }

        try
        {
            var (code, _, error) = await TryRunAsync("docker", ["version", "--format", "{{.Server.Version}}"]);
            return code == 0 ? null : $"the Docker daemon does not answer: {error.Trim()}";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "the docker command line is not installed";
        }
    }

    private static async Task RunAsync(string file, string[] arguments)
    {
        var (code, output, error) = await TryRunAsync(file, arguments);
        Assert.True(code == 0, $"{Path.GetFileName(file)} {arguments[0]} failed ({code}): {error}\n{output}");
    }

    private static async Task<(int Code, string Output, string Error)> TryRunAsync(string file, string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync(Cancel);
        var error = process.StandardError.ReadToEndAsync(Cancel);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Cancel);
        timeout.CancelAfter(TimeSpan.FromMinutes(15));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }
}
