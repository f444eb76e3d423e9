using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Operator.Crds;
using Aperture.Testing;

namespace Aperture.Operator.Tests;

/// <summary>The Helm chart, checked with the real helm and against the Kubernetes schemas (npm kubernetes-models).</summary>
public sealed class ChartTests
{
    private static string Chart => Path.Combine(RepositoryLayout.Root, "charts", "aperture");

    private static string Helm => Path.Combine(RepositoryLayout.Root, ".deps", "tools", "helm", "helm");

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<(int Code, string Output, string Error)> RunAsync(string file, string? input, params string[] arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = input is not null };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["NODE_PATH"] = RepositoryLayout.NodeModules;
        info.Environment["HELM_CACHE_HOME"] = Path.Combine(Path.GetTempPath(), "aperture-helm-cache");
        info.Environment["HELM_CONFIG_HOME"] = Path.Combine(Path.GetTempPath(), "aperture-helm-config");
        using var process = Process.Start(info)!;
        if (input is not null)
        {
            await process.StandardInput.WriteAsync(input);
            process.StandardInput.Close();
        }

        var output = process.StandardOutput.ReadToEndAsync(Cancel);
        var error = process.StandardError.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);
        return (process.ExitCode, await output, await error);
    }

    private static async Task<IReadOnlyList<JsonObject>> RenderAsync(params string[] extra)
    {
        var (code, output, error) = await RunAsync(Helm, null, ["template", "aperture", Chart, "--namespace", "observability", "--include-crds", .. extra]);
        Assert.True(code == 0, $"helm template failed: {error}");
        return [.. YamlDocuments.Load(output).OfType<JsonObject>()];
    }

    [Fact]
    public async Task Helm_lint_strict_passes()
    {
        var (code, output, error) = await RunAsync(Helm, null, "lint", "--strict", Chart);

        Assert.True(code == 0, $"helm lint --strict failed:\n{output}\n{error}");
    }

    [Fact]
    public async Task Every_rendered_manifest_is_valid_against_the_kubernetes_schemas()
    {
        var manifests = await RenderAsync("--set", "watchNamespaces={team-a,team-b}");
        const string script = """
            const docs = JSON.parse(require('fs').readFileSync(0, 'utf8'));
            const results = docs.map(d => {
              const [group, version] = d.apiVersion.includes('/') ? d.apiVersion.split('/') : [null, d.apiVersion];
              const path = 'kubernetes-models/' + (group ? group + '/' : '') + version + '/' + d.kind;
              try { const Model = require(path)[d.kind]; new Model(d).validate(); return { kind: d.kind, name: d.metadata.name, ok: true }; }
              catch (e) { return { kind: d.kind, name: d.metadata && d.metadata.name, ok: false, error: String(e.message).slice(0, 500) }; }
            });
            console.log(JSON.stringify(results));
            """;
        var (code, output, error) = await RunAsync("node", JsonSerializer.Serialize(manifests), "-e", script);

        Assert.True(code == 0, error);
        var results = JsonDocument.Parse(output).RootElement.EnumerateArray().ToList();
        Assert.Equal(manifests.Count, results.Count);
        Assert.All(results, r => Assert.True(r.GetProperty("ok").GetBoolean(), $"{r.GetProperty("kind")} {r.GetProperty("name")}: {r}"));
        string[] kinds = ["ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Deployment", "Role", "RoleBinding", "Service", "ServiceAccount"];
        Assert.Equal(kinds, results.Select(r => r.GetProperty("kind").GetString()).Distinct().Order());
    }

    [Fact]
    public async Task The_rbac_names_every_verb_and_resource_and_grants_no_wildcard()
    {
        var roles = (await RenderAsync()).Where(m => m["kind"]!.GetValue<string>() is "ClusterRole" or "Role").ToList();

        Assert.Equal(2, roles.Count);
        foreach (var rule in roles.SelectMany(r => r["rules"]!.AsArray()))
        {
            foreach (var list in new[] { "apiGroups", "resources", "verbs" })
            {
                Assert.DoesNotContain("*", rule![list]!.AsArray().Select(v => v!.GetValue<string>()));
            }
        }

        // The agents' ServiceAccount, Role and RoleBinding: made, applied and removed, never read or listed;
        // pods only read, which is exactly what the operator grants the agents (it can grant no more than it has).
        var clusterRules = roles.Single(r => r["kind"]!.GetValue<string>() == "ClusterRole")["rules"]!.AsArray()
            .Select(r => (Groups: Values(r!["apiGroups"]), Resources: Values(r["resources"]), Verbs: Values(r["verbs"]))).ToList();
        Assert.Equal(["create", "patch", "delete"], clusterRules.Single(r => r.Resources.Contains("serviceaccounts")).Verbs);
        var rbac = clusterRules.Single(r => r.Groups.Contains("rbac.authorization.k8s.io"));
        Assert.Equal(["roles", "rolebindings"], rbac.Resources);
        Assert.Equal(["create", "patch", "delete"], rbac.Verbs);
        Assert.DoesNotContain(clusterRules, r => r.Verbs.Contains("bind") || r.Verbs.Contains("escalate") || r.Resources.Contains("clusterroles"));
        Assert.Equal(["get", "list", "watch"], clusterRules.Single(r => r.Resources.Contains("pods")).Verbs);
        Assert.Equal(["pods"], clusterRules.Single(r => r.Resources.Contains("pods")).Resources);

        // Secrets: read (the ones Sites name), created (token and API-key Secrets), updated (a rotated key) and deleted (a Site's
        // agent key once its last target goes); never listed or watched.
        var secrets = clusterRules.Single(r => r.Resources.Contains("secrets"));
        Assert.Equal(["secrets"], secrets.Resources);
        Assert.Equal(["get", "create", "update", "delete"], secrets.Verbs);

        static List<string> Values(JsonNode? list) => [.. list!.AsArray().Select(v => v!.GetValue<string>())];
    }

    private static JsonObject Single(IReadOnlyList<JsonObject> manifests, string kind, string name) =>
        manifests.Single(m => m["kind"]!.GetValue<string>() == kind && m["metadata"]!["name"]!.GetValue<string>() == name);

    private static List<string> Strings(JsonNode? list) => [.. (list?.AsArray() ?? []).Select(v => v!.GetValue<string>())];

    [Fact]
    public async Task The_central_runtime_is_deployed_with_its_secrets_site_list_probes_and_services_and_the_operator_points_at_it()
    {
        var manifests = await RenderAsync("--set", "central.storage.redisSecret.name=my-redis", "--set", "central.authTokenSecret.name=my-admin", "--set", "central.authTokenSecret.key=admin");

        var pod = Single(manifests, "Deployment", "aperture-central")["spec"]!["template"]!["spec"]!;
        var container = pod["containers"]!.AsArray().Single()!;
        Assert.Equal(["--role", "central", "--listen", "0.0.0.0", "--http-port", "8080", "--jobs-port", "19000", "--config", "/etc/aperture/central/sites.json"], Strings(container["args"]));
        Assert.StartsWith("ghcr.io/aperture-dev/aperture-runtime:", container["image"]!.GetValue<string>(), StringComparison.Ordinal);
        var env = container["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!);
        Assert.Equal(("aperture-central-clickhouse", "connection-string"), SecretOf(env["Aperture__ClickHouse__ConnectionString"]));
        Assert.Equal(("my-redis", "connection-string"), SecretOf(env["Aperture__Redis__ConnectionString"]));
        Assert.Equal(("my-admin", "admin"), SecretOf(env["APERTURE_AUTH_TOKEN"]));
        Assert.Equal("true", env["DOTNET_USE_POLLING_FILE_WATCHER"]["value"]!.GetValue<string>());
        Assert.Equal("/healthz", container["livenessProbe"]!["httpGet"]!["path"]!.GetValue<string>());
        Assert.Equal("/readyz", container["readinessProbe"]!["httpGet"]!["path"]!.GetValue<string>());
        Assert.Equal("aperture-central-sites", pod["volumes"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "sites")!["configMap"]!["name"]!.GetValue<string>());
        Assert.Equal("/etc/aperture/central", container["volumeMounts"]!.AsArray().Single(v => v!["name"]!.GetValue<string>() == "sites")!["mountPath"]!.GetValue<string>());
        Assert.Equal(1L, Single(manifests, "Deployment", "aperture-central")["spec"]!["replicas"]!.GetValue<long>());

        var service = Single(manifests, "Service", "aperture-central")["spec"]!;
        Assert.Equal([8080L, 9093L, 19000L], service["ports"]!.AsArray().Select(p => p!["port"]!.GetValue<long>()));
        Assert.Equal("central", service["selector"]!["app.kubernetes.io/component"]!.GetValue<string>());

        var operatorContainer = Single(manifests, "Deployment", "aperture")["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;
        Assert.Contains("--central-url=http://aperture-central.observability.svc:8080", Strings(operatorContainer["args"]));
        var operatorEnv = operatorContainer["env"]!.AsArray().ToDictionary(e => e!["name"]!.GetValue<string>(), e => e!);
        Assert.Equal(("my-admin", "admin"), SecretOf(operatorEnv["APERTURE_CENTRAL_TOKEN"]));

        static (string, string) SecretOf(JsonNode env) =>
            (env["valueFrom"]!["secretKeyRef"]!["name"]!.GetValue<string>(), env["valueFrom"]!["secretKeyRef"]!["key"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_the_central_runtime_the_operator_gets_no_central_url_nor_token()
    {
        var manifests = await RenderAsync("--set", "central.enabled=false");

        Assert.DoesNotContain(manifests, m => m["metadata"]!["name"]!.GetValue<string>() == "aperture-central");
        var container = Single(manifests, "Deployment", "aperture")["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!;
        Assert.DoesNotContain(Strings(container["args"]), a => a.StartsWith("--central-url", StringComparison.Ordinal));
        Assert.DoesNotContain(container["env"]!.AsArray(), e => e!["name"]!.GetValue<string>() == "APERTURE_CENTRAL_TOKEN");
    }

    [Fact]
    public async Task Watch_namespaces_reach_the_operator_as_one_flag_each()
    {
        var manifests = await RenderAsync("--set", "watchNamespaces={team-a,team-b}");

        var args = Strings(Single(manifests, "Deployment", "aperture")["spec"]!["template"]!["spec"]!["containers"]!.AsArray().Single()!["args"]);
        Assert.Equal(["--watch-namespace=team-a", "--watch-namespace=team-b"], args.Where(a => a.StartsWith("--watch-namespace", StringComparison.Ordinal)));
        // The flags the chart renders are the ones the operator takes.
        Assert.Equal(["team-a", "team-b"], OperatorOptions.Parse([.. args]).WatchNamespaces);
    }

    [Fact]
    public async Task A_misspelt_central_value_fails_the_install()
    {
        var (code, _, error) = await RunAsync(Helm, null, "template", "aperture", Chart, "--set", "central.storage.redisSecrt.name=x");

        Assert.NotEqual(0, code);
        Assert.Contains("redisSecrt", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_chart_installs_every_crd_of_the_project()
    {
        var crds = (await RenderAsync()).Where(m => m["kind"]!.GetValue<string>() == "CustomResourceDefinition")
            .Select(m => m["metadata"]!["name"]!.GetValue<string>());

        Assert.Equal(CrdFiles.Render().Keys.Select(k => k[..^".yaml".Length]).Order(), crds.Order());
    }

    [Fact]
    public async Task A_typo_in_values_fails_the_install()
    {
        var (code, _, error) = await RunAsync(Helm, null, "template", "aperture", Chart, "--set", "replicaCont=3");

        Assert.NotEqual(0, code);
        Assert.Contains("replicaCont", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_default_render_matches_its_golden_file()
    {
        var (code, output, error) = await RunAsync(Helm, null, "template", "aperture", Chart, "--namespace", "observability");
        Assert.True(code == 0, error);
        var golden = Path.Combine(RepositoryLayout.Root, "tests", "Aperture.Operator.Tests", "Golden", "chart-default.yaml");
        if (Environment.GetEnvironmentVariable("APERTURE_UPDATE_GOLDEN") == "1")
        {
            await File.WriteAllTextAsync(golden, output, Cancel);
        }

        Assert.True(File.Exists(golden), "no golden file: run the tests once with APERTURE_UPDATE_GOLDEN=1 and review it");
        Assert.True(await File.ReadAllTextAsync(golden, Cancel) == output,
            "the chart renders differently from Golden/chart-default.yaml; review the change and update it with APERTURE_UPDATE_GOLDEN=1");
    }
}
