using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Tests;

public sealed class DesiredObjectsTests
{
    private const string RuntimeImage = "ghcr.io/aperture-dev/aperture-runtime:0.1.0";
    private const string AgentImage = "ghcr.io/aperture-dev/aperture-agent:0.1.0";

    private static Site Site(Action<SiteSpec>? change = null)
    {
        var site = new Site
        {
            Metadata = new V1ObjectMeta { Name = "eu-west", NamespaceProperty = "obs", Uid = "site-uid-1", Generation = 3 },
            Spec = new SiteSpec
            {
                Replicas = 2,
                ClickHouse = new SiteClickHouse { ConnectionSecretRef = new SecretKeyReference { Name = "ch", Key = "cs" }, Database = "aperture_eu" },
                Redis = new SiteRedis { ConnectionSecretRef = new SecretKeyReference { Name = "redis", Key = "config" } },
                Resources = new ResourceRequirements { Requests = new ResourceAmounts { Cpu = "500m", Memory = "1Gi" } },
            },
        };
        change?.Invoke(site.Spec);
        return site;
    }

    private static ProfilingTarget Target(string name, Action<ProfilingTargetSpec>? change = null)
    {
        var target = new ProfilingTarget
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "obs" },
            Spec = new ProfilingTargetSpec { SiteRef = new NamedReference { Name = "eu-west" }, EventTypes = [ProfilingEventType.Cpu] },
        };
        change?.Invoke(target.Spec);
        return target;
    }

    [Fact]
    public void A_site_becomes_a_statefulset_of_the_runtime_with_its_secrets_by_reference()
    {
        var site = Site();
        var config = SiteResources.ConfigMap(site, []);
        var statefulSet = SiteResources.StatefulSet(site, RuntimeImage, config);

        Assert.Equal("eu-west-aggregator", statefulSet.Metadata.Name);
        Assert.Equal("obs", statefulSet.Metadata.NamespaceProperty);
        Assert.Equal(2, statefulSet.Spec.Replicas);
        Assert.Equal("eu-west-aggregator-pods", statefulSet.Spec.ServiceName);
        var owner = Assert.Single(statefulSet.Metadata.OwnerReferences);
        Assert.Equal(("aperture.dev/v1alpha1", "Site", "eu-west", "site-uid-1", true), (owner.ApiVersion, owner.Kind, owner.Name, owner.Uid, owner.Controller == true));
        var container = Assert.Single(statefulSet.Spec.Template.Spec.Containers);
        Assert.Equal(RuntimeImage, container.Image);
        Assert.Equal(["--role", "aggregator", "--listen", "0.0.0.0", "--http-port", "9090", "--grpc-port", "50051", "--jobs-port", "18000"], container.Args);
        var env = container.Env.ToDictionary(e => e.Name);
        Assert.Equal(("ch", "cs"), (env["Aperture__ClickHouse__ConnectionString"].ValueFrom.SecretKeyRef.Name, env["Aperture__ClickHouse__ConnectionString"].ValueFrom.SecretKeyRef.Key));
        Assert.Null(env["Aperture__ClickHouse__ConnectionString"].Value);
        Assert.Equal("aperture_eu", env["Aperture__ClickHouse__Database"].Value);
        Assert.Equal("redis", env["Aperture__Redis__ConnectionString"].ValueFrom.SecretKeyRef.Name);
        Assert.False(env.ContainsKey("APERTURE_AUTH_TOKEN"));
        Assert.Equal("500m", container.Resources.Requests["cpu"].ToString());
        Assert.True(container.SecurityContext.ReadOnlyRootFilesystem);
        Assert.Equal(["ALL"], container.SecurityContext.Capabilities.Drop);
        foreach (var (key, value) in statefulSet.Spec.Selector.MatchLabels)
        {
            Assert.Equal(value, statefulSet.Spec.Template.Metadata.Labels[key]);
        }
    }

    [Fact]
    public void The_services_select_the_statefulset_pods_and_the_headless_one_lists_unready_pods()
    {
        var site = Site();
        var selector = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, [])).Spec.Selector.MatchLabels;
        var headless = SiteResources.HeadlessService(site);
        var client = SiteResources.ClientService(site);

        Assert.Equal("None", headless.Spec.ClusterIP);
        Assert.True(headless.Spec.PublishNotReadyAddresses);
        Assert.Equal(selector, headless.Spec.Selector);
        Assert.Equal(selector, client.Spec.Selector);
        Assert.Equal([("http", 9090), ("grpc", 50051), ("jobs", 18000)], client.Spec.Ports.Select(p => (p.Name, p.Port)));
        Assert.Equal("eu-west-aggregator.obs.svc:9090", SiteResources.Endpoint(site));
    }

    [Fact]
    public void A_change_of_configuration_rolls_the_pods_and_nothing_else_does()
    {
        var site = Site();
        var before = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, []));
        var same = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, []));
        var changedSite = Site(s => s.RetentionDays = 7);
        var after = SiteResources.StatefulSet(changedSite, RuntimeImage, SiteResources.ConfigMap(changedSite, []));

        static string HashOf(V1StatefulSet s) => s.Spec.Template.Metadata.Annotations["aperture.dev/config-hash"];
        Assert.Equal(HashOf(before), HashOf(same));
        Assert.NotEqual(HashOf(before), HashOf(after));
    }

    [Fact]
    public void An_auth_token_reaches_the_runtime_and_the_agents_only_as_a_secret_reference()
    {
        var site = Site(s => s.AuthTokenSecretRef = new SecretKeyReference { Name = "auth", Key = "token" });

        var runtimeEnv = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, [])).Spec.Template.Spec.Containers[0].Env;
        var agentEnv = AgentResources.DaemonSet(site, [Target("a")], AgentImage, AgentResources.ConfigMap(site, [Target("a")])).Spec.Template.Spec.Containers[0].Env;

        foreach (var env in new[] { runtimeEnv, agentEnv })
        {
            var token = Assert.Single(env, e => e.Name == "APERTURE_AUTH_TOKEN");
            Assert.Null(token.Value);
            Assert.Equal(("auth", "token"), (token.ValueFrom.SecretKeyRef.Name, token.ValueFrom.SecretKeyRef.Key));
        }
    }

    [Fact]
    public void With_a_central_runtime_the_aggregator_checks_its_keys_there_and_sends_its_series_with_the_agents_key()
    {
        var site = Site(_ => { });
        var pod = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, []), new Uri("http://central.aperture.svc:8080/")).Spec.Template.Spec;
        var env = pod.Containers[0].Env.ToDictionary(e => e.Name, e => e.Value);
        Assert.Equal("http://central.aperture.svc:8080/", env["Aperture__Identity__CentralUrl"]);
        Assert.Equal($"{SiteResources.AgentKeyPath}/api-key", env["Aperture__Watchdog__Export__TokenFile"]);
        Assert.Equal("eu-west", env["Aperture__Watchdog__Export__SiteId"]);
        var volume = Assert.Single(pod.Volumes, v => v.Name == "agent-key");
        Assert.Equal(AgentResources.KeySecretName(site), volume.Secret.SecretName);
        Assert.True(volume.Secret.Optional);
        Assert.Equal(SiteResources.AgentKeyPath, Assert.Single(pod.Containers[0].VolumeMounts, m => m.Name == "agent-key").MountPath);

        // Without one, nothing points at a central runtime.
        var alone = SiteResources.StatefulSet(site, RuntimeImage, SiteResources.ConfigMap(site, [])).Spec.Template.Spec.Containers[0].Env;
        Assert.DoesNotContain(alone, e => e.Name.StartsWith("Aperture__Identity", StringComparison.Ordinal) || e.Name.StartsWith("Aperture__Watchdog", StringComparison.Ordinal));
    }

    [Fact]
    public void The_agents_key_reaches_them_as_a_secret_reference_that_the_agent_reads_as_its_push_token()
    {
        var site = Site(s => s.AuthTokenSecretRef = new SecretKeyReference { Name = "auth", Key = "token" });
        var config = AgentResources.ConfigMap(site, [Target("a")]);

        var pod = AgentResources.DaemonSet(site, [Target("a")], AgentImage, config, keyId: "key-1").Spec.Template;
        var env = Assert.Single(pod.Spec.Containers[0].Env, e => e.Name == AgentResources.AggregatorTokenVariable);
        Assert.Null(env.Value);
        Assert.Equal(("eu-west-agent-key", "api-key"), (env.ValueFrom.SecretKeyRef.Name, env.ValueFrom.SecretKeyRef.Key));
        Assert.Equal("key-1", pod.Metadata.Annotations[AgentResources.KeyIdAnnotation]);
        Assert.Null(AgentResources.DaemonSet(site, [Target("a")], AgentImage, config).Spec.Template.Spec.Containers[0].Env.SingleOrDefault(e => e.Name == AgentResources.AggregatorTokenVariable));

        // The agent pushes with the key and still guards its own API with the Site's token.
        using var file = new Aperture.Testing.TemporaryDirectory("agent-key-config");
        var path = System.IO.Path.Combine(file.Path, "agent.yaml");
        File.WriteAllText(path, config.Data["agent.yaml"]);
        var agent = Aperture.Agent.Configuration.AgentConfigLoader.Load(path, new Dictionary<string, string?>
        {
            ["NODE_NAME"] = "node-7",
            [AgentResources.AggregatorTokenVariable] = "the-agents-key",
            ["APERTURE_AUTH_TOKEN"] = "the-site-token",
        });
        Assert.Equal("the-agents-key", agent.Export.Aggregator.Token);
        Assert.Equal("the-site-token", agent.SelfTelemetry.Auth.BearerToken);
    }

    [Fact]
    public void The_targets_of_a_site_merge_into_one_daemonset_on_labelled_nodes()
    {
        var site = Site();
        ProfilingTarget[] targets =
        [
            Target("gpu", t =>
            {
                t.NodeSelector = new() { ["node.kubernetes.io/instance-type"] = "g5.xlarge" };
                t.Tolerations = [new Toleration { Key = "nvidia.com/gpu", Operator = TolerationOperator.Exists, Effect = TolerationEffect.NoSchedule }];
                t.EventTypes = [ProfilingEventType.Cpu, ProfilingEventType.Lock];
            }),
            Target("all", t => t.SampleRateHz = 49),
        ];
        var config = AgentResources.ConfigMap(site, targets);
        var daemonSet = AgentResources.DaemonSet(site, targets, AgentImage, config);

        var terms = daemonSet.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms;
        Assert.Equal(2, terms.Count);
        Assert.All(terms, t => Assert.Contains(t.MatchExpressions, e => e.Key == "aperture.dev/agent" && e.Values.Single() == "enabled"));
        Assert.Contains(terms, t => t.MatchExpressions.Any(e => e.Key == "node.kubernetes.io/instance-type" && e.Values.Single() == "g5.xlarge"));
        var toleration = Assert.Single(daemonSet.Spec.Template.Spec.Tolerations);
        Assert.Equal(("nvidia.com/gpu", "Exists", "NoSchedule"), (toleration.Key, toleration.OperatorProperty, toleration.Effect));

        // The file is the agent's own configuration: the agent's loader reads it without a complaint.
        var agent = Aperture.Agent.Configuration.AgentConfigLoader.Parse(config.Data["agent.yaml"], new Dictionary<string, string?> { ["NODE_NAME"] = "node-7" });
        Assert.Empty(Aperture.Agent.Configuration.AgentConfigLoader.Validate(agent));
        Assert.Equal("node-7", agent.Agent.Id);
        Assert.Equal("http://eu-west-aggregator.obs.svc:50051", agent.Export.Aggregator.Endpoint);
        Assert.Equal("http://eu-west-aggregator.obs.svc:18000", agent.Export.Jobs.Endpoint);
        Assert.Equal(Math.Max(49, targets.Max(t => t.Spec.SampleRateHz)), agent.Profiling.SampleRate);
        Assert.Equal("/host", agent.Collectors.HostRoot);
        Assert.Equal("eu-west", agent.Sidecar.SiteId);
        Assert.Equal(["--config", "/etc/aperture/agent.yaml"], daemonSet.Spec.Template.Spec.Containers[0].Args);
        Assert.Contains(daemonSet.Spec.Template.Spec.Containers[0].Ports, p => p.Name == "sidecar" && p.HostPort == 8000);
    }

    [Fact]
    public void The_agent_sees_host_processes_with_only_the_capabilities_profiling_needs()
    {
        var site = Site();
        var pod = AgentResources.DaemonSet(site, [Target("a")], AgentImage, AgentResources.ConfigMap(site, [Target("a")])).Spec.Template.Spec;
        var security = pod.Containers[0].SecurityContext;

        Assert.True(pod.HostPID);
        Assert.False(security.Privileged);
        Assert.False(security.AllowPrivilegeEscalation);
        Assert.Equal(["ALL"], security.Capabilities.Drop);
        Assert.Equal(["PERFMON", "SYS_PTRACE"], security.Capabilities.Add);
        Assert.Contains(pod.Volumes, v => v.Name == "spool" && v.HostPath.Type == "DirectoryOrCreate");
        Assert.True(pod.Containers[0].VolumeMounts.Single(m => m.Name == "sys").ReadOnlyProperty);
    }

    [Fact]
    public void Each_target_becomes_an_agent_config_target_ordered_by_name()
    {
        var site = Site();
        ProfilingTarget[] targets =
        [
            Target("shop", t =>
            {
                t.PodSelector = new() { ["tier"] = "web", ["app"] = "checkout" };
                t.EventTypes = [ProfilingEventType.Syscall, ProfilingEventType.Cpu];
                t.SampleRateHz = 199;
                t.TenantRef = new NamedReference { Name = "acme-tenant" };
            }),
            Target("node-wide", t => t.EventTypes = [ProfilingEventType.Lock]),
        ];

        var config = AgentResources.ConfigMap(site, targets, new Dictionary<string, string> { ["acme-tenant"] = "acme" });

        var written = System.Text.Json.Nodes.JsonNode.Parse(config.Data["agent.yaml"])!["profiling"]!["targets"]!.ToJsonString();
        Assert.Equal(
            """[{"name":"node-wide","namespace":"obs","pod_selector":{},"event_types":["lock"],"sample_rate":99,"tenant":"default"},"""
            + """{"name":"shop","namespace":"obs","pod_selector":{"app":"checkout","tier":"web"},"event_types":["cpu","syscall"],"sample_rate":199,"tenant":"acme"}]""",
            written);
        var agent = Aperture.Agent.Configuration.AgentConfigLoader.Parse(config.Data["agent.yaml"], new Dictionary<string, string?> { ["NODE_NAME"] = "node-7" });
        Assert.Empty(Aperture.Agent.Configuration.AgentConfigLoader.Validate(agent));
        Assert.Equal(["node-wide", "shop"], agent.Profiling.Targets.Select(t => t.Name));
        Assert.Equal("checkout", agent.Profiling.Targets[1].PodSelector["app"]);
        Assert.Equal(["default", "acme"], agent.Profiling.Targets.Select(t => t.Tenant));
    }

    [Fact]
    public void A_target_whose_tenant_id_is_unknown_is_refused_rather_than_given_another_tenant()
    {
        var target = Target("shop", t => t.TenantRef = new NamedReference { Name = "acme-tenant" });

        Assert.Throws<ArgumentException>(() => AgentResources.ConfigMap(Site(), [target]));
        Assert.Throws<ArgumentException>(() => AgentResources.ConfigMap(Site(), [target], new Dictionary<string, string> { ["other"] = "other" }));
    }

    [Fact]
    public void The_agent_loader_checks_a_target_tenant_and_defaults_it()
    {
        var env = new Dictionary<string, string?>();
        var config = Aperture.Agent.Configuration.AgentConfigLoader.Parse(
            "profiling:\n  targets:\n    - {name: a, event_types: [cpu]}\n    - {name: b, event_types: [cpu], tenant: Not_A_Tenant}\n", env);

        Assert.Equal("default", config.Profiling.Targets[0].Tenant);
        var error = Assert.Single(Aperture.Agent.Configuration.AgentConfigLoader.Validate(config));
        Assert.StartsWith("profiling.targets[1].tenant:", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_agents_get_a_service_account_that_may_only_read_pods_of_the_site_namespace()
    {
        var site = Site();

        var account = AgentResources.ServiceAccount(site);
        var role = AgentResources.PodReaderRole(site);
        var binding = AgentResources.PodReaderBinding(site);
        var pod = AgentResources.DaemonSet(site, [Target("a")], AgentImage, AgentResources.ConfigMap(site, [Target("a")])).Spec.Template.Spec;

        Assert.Equal(("eu-west-agent", "obs"), (account.Metadata.Name, account.Metadata.NamespaceProperty));
        Assert.Equal("eu-west-agent", pod.ServiceAccountName);
        Assert.Equal(("eu-west-agent-pods", "obs"), (role.Metadata.Name, role.Metadata.NamespaceProperty));
        var rule = Assert.Single(role.Rules);
        Assert.Equal([string.Empty], rule.ApiGroups);
        Assert.Equal(["pods"], rule.Resources);
        Assert.Equal(["get", "list", "watch"], rule.Verbs);
        Assert.Null(rule.ResourceNames);
        Assert.Equal(("rbac.authorization.k8s.io", "Role", "eu-west-agent-pods"), (binding.RoleRef.ApiGroup, binding.RoleRef.Kind, binding.RoleRef.Name));
        var subject = Assert.Single(binding.Subjects);
        Assert.Equal(("ServiceAccount", "eu-west-agent", "obs"), (subject.Kind, subject.Name, subject.NamespaceProperty));
        Assert.All(new V1ObjectMeta[] { account.Metadata, role.Metadata, binding.Metadata }, m => Assert.Equal("site-uid-1", m.OwnerReferences.Single().Uid));
    }

    [Fact]
    public void A_site_without_targets_has_no_agents()
    {
        Assert.Throws<ArgumentException>(() => AgentResources.DaemonSet(Site(), [], AgentImage, AgentResources.ConfigMap(Site(), [])));
    }

    [Fact]
    public void Alert_rules_are_rendered_into_the_site_configmap_in_a_stable_order()
    {
        var site = Site();
        AlertRule Rule(string name, AlertOperator op) => new()
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "obs" },
            Spec = new AlertRuleSpec { SiteRef = new NamedReference { Name = "eu-west" }, Metric = AlertMetric.BufferUtilization, Operator = op, Threshold = 0.9, Severity = AlertSeverity.Critical },
        };

        var first = SiteResources.ConfigMap(site, [Rule("b", AlertOperator.Gt), Rule("a", AlertOperator.Lte)]).Data["alerts.json"];
        var second = SiteResources.ConfigMap(site, [Rule("a", AlertOperator.Lte), Rule("b", AlertOperator.Gt)]).Data["alerts.json"];

        Assert.Equal(first, second);
        Assert.True(first.IndexOf("\"a\"", StringComparison.Ordinal) < first.IndexOf("\"b\"", StringComparison.Ordinal));
        Assert.Contains("\"metric\": \"buffer_utilization\"", first, StringComparison.Ordinal);
        Assert.Contains("\"operator\": \"gt\"", first, StringComparison.Ordinal);
        Assert.Contains("\"severity\": \"critical\"", first, StringComparison.Ordinal);
    }

    [Fact]
    public void The_central_site_list_names_each_site_once_even_when_names_repeat_across_namespaces()
    {
        Site In(string ns, string name)
        {
            var site = SampleSites.New(name);
            site.Metadata.NamespaceProperty = ns;
            return site;
        }

        var gone = In("obs", "leaving");
        gone.Metadata.DeletionTimestamp = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var urls = CentralResources.SiteUrls([In("eu", "fab1"), In("us", "fab1"), In("obs", "fab2"), gone]);

        Assert.Equal(
            new Dictionary<string, string>
            {
                ["eu.fab1"] = "http://fab1-aggregator.eu.svc:18000",
                ["fab2"] = "http://fab2-aggregator.obs.svc:18000",
                ["us.fab1"] = "http://fab1-aggregator.us.svc:18000",
            },
            urls);
        var configMap = CentralResources.SitesConfigMap([In("obs", "fab2")], "aperture-system");
        Assert.Equal("aperture-system", configMap.Metadata.NamespaceProperty);
        var parsed = System.Text.Json.JsonDocument.Parse(configMap.Data[CentralResources.SitesKey]);
        Assert.Equal("http://fab2-aggregator.obs.svc:18000", parsed.RootElement.GetProperty("Aperture").GetProperty("Central").GetProperty("Sites").GetProperty("fab2").GetString());
        Assert.Equal("http://fab2-aggregator.obs.svc:9090", parsed.RootElement.GetProperty("Aperture").GetProperty("Central").GetProperty("SiteApis").GetProperty("fab2").GetString());
    }
}
