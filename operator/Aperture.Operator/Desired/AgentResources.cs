using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Desired;

/// <summary>
/// The node agents of a Site, as pure functions of the Site and all its ProfilingTargets: one
/// DaemonSet and one ConfigMap, and the agents' ServiceAccount with a Role and RoleBinding that let it
/// read the pods of the Site's namespace (the targets' pod selectors are resolved by each agent). Nodes
/// must carry <c>aperture.dev/agent=enabled</c>; each target adds its node selector as one more way to
/// qualify, and its tolerations. No targets, no agents.
/// </summary>
public static class AgentResources
{
    public const string Component = "agent";
    public const string NodeLabel = "aperture.dev/agent";
    public const string NodeLabelValue = "enabled";
    public const int ApiPort = 19090;

    /// <summary>
    /// perf_event_open needs CAP_PERFMON; reading other processes' memory maps and symbols needs
    /// CAP_SYS_PTRACE. Nothing else is granted, and the container is not privileged.
    /// </summary>
    public static readonly IReadOnlyList<string> Capabilities = ["PERFMON", "SYS_PTRACE"];

    public static string Name(Site site) => $"{site.Metadata.Name}-agent";

    /// <summary>The Role that lets the agents read pods: <c>&lt;site&gt;-agent-pods</c>.</summary>
    public static string PodReaderName(Site site) => $"{site.Metadata.Name}-agent-pods";

    /// <summary>What the agents may do with the API: find the pods of their targets, nothing else.</summary>
    public static readonly IReadOnlyList<string> PodVerbs = ["get", "list", "watch"];

    /// <summary>The agent's configuration file inside the pod.</summary>
    public const string ConfigPath = "/etc/aperture/agent.yaml";

    /// <summary>The job sidecar's port, on every labelled node (hostPort), for the jobs running there.</summary>
    public const int SidecarPort = 8000;

    /// <summary>
    /// The agent's own configuration file (agent-api.md style, written as JSON, which YAML reads):
    /// push to the Site's gRPC ingest, forward job events to its jobs API, and profile each target
    /// (<c>profiling.targets</c>, by name: its namespace, pod selector, event types and rate; the agent
    /// finds the pods on its node and their processes). The node's /proc and /sys are mounted under
    /// /host. <c>${NODE_NAME}</c> is expanded by the agent from the pod's environment. Each target's entry
    /// names the tenant its data belongs to: the tenant id of its Tenant, from <paramref name="tenantIds"/>
    /// (Tenant resource name → spec.tenantId), or <c>default</c> for a target without a tenantRef.
    /// </summary>
    /// <exception cref="ArgumentException">A target names a Tenant that <paramref name="tenantIds"/> lacks.</exception>
    public static V1ConfigMap ConfigMap(Site site, IReadOnlyList<ProfilingTarget> targets, IReadOnlyDictionary<string, string>? tenantIds = null)
    {
        var ordered = targets.OrderBy(t => t.Metadata.Name, StringComparer.Ordinal).ToList();
        var config = new JsonObject
        {
            ["agent"] = new JsonObject
            {
                ["id"] = "${NODE_NAME}",
                ["hostname"] = "${NODE_NAME}",
                ["labels"] = new JsonObject
                {
                    ["site"] = site.Metadata.Name,
                    ["targets"] = string.Join(",", ordered.Select(t => t.Metadata.Name)),
                },
            },
            ["self_telemetry"] = new JsonObject { ["listen"] = $":{ApiPort}" },
            ["collectors"] = new JsonObject { ["host_root"] = "/host" },
            ["profiling"] = new JsonObject
            {
                ["enabled"] = true,
                ["sample_rate"] = ordered.Count == 0 ? DefaultSampleRateHz : ordered.Max(t => t.Spec.SampleRateHz),
                ["targets"] = new JsonArray([.. ordered.Select(t => TargetConfig(t, tenantIds))]),
            },
            ["export"] = new JsonObject
            {
                ["aggregator"] = new JsonObject { ["endpoint"] = $"http://{SiteResources.GrpcEndpoint(site)}" },
                ["jobs"] = new JsonObject { ["endpoint"] = SiteResources.JobsUrl(site) },
            },
            ["spool"] = new JsonObject { ["dir"] = SpoolPath },
            ["sidecar"] = new JsonObject
            {
                ["enabled"] = true,
                ["listen"] = $":{SidecarPort}",
                ["site_id"] = site.Metadata.Name,
            },
        };
        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = ObjectMetadata.For(site, Name(site), Component),
            Data = new Dictionary<string, string>(StringComparer.Ordinal) { ["agent.yaml"] = config.ToJsonString(Indented) },
        };
    }

    private const string SpoolPath = "/var/lib/aperture/spool";

    // Pods are selected in the target's own namespace: its siteRef is same-namespace, so that is the Site's too.
    private static JsonObject TargetConfig(ProfilingTarget target, IReadOnlyDictionary<string, string>? tenantIds) => new()
    {
        ["name"] = target.Metadata.Name,
        ["namespace"] = target.Metadata.NamespaceProperty,
        ["pod_selector"] = new JsonObject([.. (target.Spec.PodSelector ?? [])
            .OrderBy(l => l.Key, StringComparer.Ordinal)
            .Select(l => KeyValuePair.Create(l.Key, (JsonNode?)l.Value))]),
        ["event_types"] = new JsonArray([.. target.Spec.EventTypes.Distinct().Order().Select(e => (JsonNode?)EventTypeName(e))]),
        ["sample_rate"] = target.Spec.SampleRateHz,
        ["tenant"] = TenantOf(target, tenantIds),
    };

    /// <summary>The tenant a target's data belongs to: its Tenant's id, or <c>default</c> without a tenantRef.</summary>
    public static string TenantOf(ProfilingTarget target, IReadOnlyDictionary<string, string>? tenantIds) =>
        target.Spec.TenantRef is not { } reference ? DefaultTenant
        : tenantIds is not null && tenantIds.TryGetValue(reference.Name, out var id) ? id
        : throw new ArgumentException($"ProfilingTarget {target.Metadata.Name}'s Tenant '{reference.Name}' has no tenant id here", nameof(tenantIds));

    public const string DefaultTenant = "default";

    private static string EventTypeName(ProfilingEventType type) => type switch
    {
        ProfilingEventType.Cpu => "cpu",
        ProfilingEventType.Lock => "lock",
        ProfilingEventType.Syscall => "syscall",
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "an event type the agent does not know"),
    };

    public static V1ServiceAccount ServiceAccount(Site site) => new()
    {
        ApiVersion = "v1",
        Kind = "ServiceAccount",
        Metadata = ObjectMetadata.For(site, Name(site), Component),
    };

    /// <summary>Read access to pods in the Site's namespace, which is where its targets select them.</summary>
    public static V1Role PodReaderRole(Site site) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "Role",
        Metadata = ObjectMetadata.For(site, PodReaderName(site), Component),
        Rules = [new V1PolicyRule { ApiGroups = [string.Empty], Resources = ["pods"], Verbs = [.. PodVerbs] }],
    };

    public static V1RoleBinding PodReaderBinding(Site site) => new()
    {
        ApiVersion = "rbac.authorization.k8s.io/v1",
        Kind = "RoleBinding",
        Metadata = ObjectMetadata.For(site, PodReaderName(site), Component),
        RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "Role", Name = PodReaderName(site) },
        Subjects = [new Rbacv1Subject { Kind = "ServiceAccount", Name = Name(site), NamespaceProperty = site.Metadata.NamespaceProperty }],
    };

    private const int DefaultSampleRateHz = 99;

    /// <summary>The Secret with the agents' ingestion key: <c>&lt;site&gt;-agent-key</c> (data <c>api-key</c>, <c>key-id</c>, <c>tenants</c>).</summary>
    public static string KeySecretName(Site site) => $"{site.Metadata.Name}-agent-key";

    /// <summary>The agent's override of <c>export.aggregator.token</c>: the token it pushes with.</summary>
    public const string AggregatorTokenVariable = "APERTURE_AGENT_EXPORT_AGGREGATOR_TOKEN";

    /// <summary>The pod-template annotation with the agents' key id: a new key rolls the agents.</summary>
    public const string KeyIdAnnotation = "aperture.dev/agent-key-id";

    /// <param name="keyId">
    /// The id of the agents' ingestion key in <see cref="KeySecretName"/>, when there is one: the agents push with
    /// that key (<see cref="AggregatorTokenVariable"/>) and the pods roll when it changes. Null: no key, as without
    /// a central runtime.
    /// </param>
    public static V1DaemonSet DaemonSet(Site site, IReadOnlyList<ProfilingTarget> targets, string image, V1ConfigMap configMap, string? keyId = null)
    {
        if (targets.Count == 0)
        {
            throw new ArgumentException("a Site without ProfilingTargets has no agent DaemonSet", nameof(targets));
        }

        var ordered = targets.OrderBy(t => t.Metadata.Name, StringComparer.Ordinal).ToList();
        // One node selector term per target: the agent label AND that target's selector. The terms are ORed.
        var terms = ordered
            .Select(t => (IDictionary<string, string>)new SortedDictionary<string, string>(t.Spec.NodeSelector ?? [], StringComparer.Ordinal))
            .Select(selector => new V1NodeSelectorTerm
            {
                MatchExpressions =
                [
                    new V1NodeSelectorRequirement { Key = NodeLabel, OperatorProperty = "In", Values = [NodeLabelValue] },
                    .. selector.Select(kv => new V1NodeSelectorRequirement { Key = kv.Key, OperatorProperty = "In", Values = [kv.Value] }),
                ],
            })
            .DistinctBy(t => string.Join(';', t.MatchExpressions.Select(e => $"{e.Key}={e.Values[0]}")))
            .ToList();
        var tolerations = ordered
            .SelectMany(t => t.Spec.Tolerations ?? [])
            .Select(t => new V1Toleration
            {
                Key = t.Key,
                OperatorProperty = t.Operator is null ? null : JsonSerializer.Serialize(t.Operator).Trim('"'),
                Value = t.Value,
                Effect = t.Effect is null ? null : JsonSerializer.Serialize(t.Effect).Trim('"'),
            })
            .DistinctBy(t => (t.Key, t.OperatorProperty, t.Value, t.Effect))
            .ToList();

        return new V1DaemonSet
        {
            ApiVersion = "apps/v1",
            Kind = "DaemonSet",
            Metadata = ObjectMetadata.For(site, Name(site), Component),
            Spec = new V1DaemonSetSpec
            {
                Selector = new V1LabelSelector { MatchLabels = ObjectMetadata.Selector(Component, site.Metadata.Name) },
                UpdateStrategy = new V1DaemonSetUpdateStrategy { Type = "RollingUpdate", RollingUpdate = new V1RollingUpdateDaemonSet { MaxUnavailable = "10%" } },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta
                    {
                        Labels = ObjectMetadata.Labels(Component, site.Metadata.Name),
                        Annotations = keyId is null
                            ? new Dictionary<string, string> { ["aperture.dev/config-hash"] = ObjectMetadata.ContentHash(configMap) }
                            : new Dictionary<string, string> { ["aperture.dev/config-hash"] = ObjectMetadata.ContentHash(configMap), [KeyIdAnnotation] = keyId },
                    },
                    Spec = new V1PodSpec
                    {
                        // Profiling sees the node's processes only in the host's PID namespace.
                        HostPID = true,
                        EnableServiceLinks = false,
                        // Its token lets the agent list and watch the pods of its targets (PodReaderRole).
                        ServiceAccountName = Name(site),
                        PriorityClassName = "system-node-critical",
                        Affinity = new V1Affinity
                        {
                            NodeAffinity = new V1NodeAffinity
                            {
                                RequiredDuringSchedulingIgnoredDuringExecution = new V1NodeSelector { NodeSelectorTerms = terms },
                            },
                        },
                        Tolerations = tolerations.Count == 0 ? null : tolerations,
                        Containers =
                        [
                            new V1Container
                            {
                                Name = "agent",
                                Image = image,
                                Args = ["--config", ConfigPath],
                                Env =
                                [
                                    new V1EnvVar { Name = "NODE_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "spec.nodeName" } } },
                                    .. site.Spec.AuthTokenSecretRef is { } token ? [ObjectMetadata.FromSecret("APERTURE_AUTH_TOKEN", token)] : Array.Empty<V1EnvVar>(),
                                    // Overrides export.aggregator.token (APERTURE_AUTH_TOKEN still guards the agent's own API).
                                    .. keyId is not null ? [ObjectMetadata.FromSecret(AggregatorTokenVariable, new SecretKeyReference { Name = KeySecretName(site), Key = "api-key" })] : Array.Empty<V1EnvVar>(),
                                ],
                                Ports =
                                [
                                    new V1ContainerPort { Name = "api", ContainerPort = ApiPort, Protocol = "TCP" },
                                    new V1ContainerPort { Name = "sidecar", ContainerPort = SidecarPort, HostPort = SidecarPort, Protocol = "TCP" },
                                ],
                                LivenessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = "api" }, PeriodSeconds = 10 },
                                ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/ready", Port = "api" }, PeriodSeconds = 10 },
                                SecurityContext = new V1SecurityContext
                                {
                                    Privileged = false,
                                    AllowPrivilegeEscalation = false,
                                    ReadOnlyRootFilesystem = true,
                                    RunAsUser = 0,
                                    Capabilities = new V1Capabilities { Drop = ["ALL"], Add = [.. Capabilities] },
                                },
                                Resources = new V1ResourceRequirements
                                {
                                    Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("20m"), ["memory"] = new("64Mi") },
                                    Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("128Mi") },
                                },
                                VolumeMounts =
                                [
                                    new V1VolumeMount { Name = "config", MountPath = "/etc/aperture", ReadOnlyProperty = true },
                                    new V1VolumeMount { Name = "proc", MountPath = "/host/proc", ReadOnlyProperty = true },
                                    new V1VolumeMount { Name = "sys", MountPath = "/host/sys", ReadOnlyProperty = true },
                                    new V1VolumeMount { Name = "spool", MountPath = SpoolPath },
                                    // The root filesystem is read-only; diagnostics (EventPipe) need a writable /tmp.
                                    new V1VolumeMount { Name = "tmp", MountPath = "/tmp" },
                                ],
                            },
                        ],
                        Volumes =
                        [
                            new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = configMap.Metadata.Name } },
                            new V1Volume { Name = "proc", HostPath = new V1HostPathVolumeSource { Path = "/proc", Type = "Directory" } },
                            new V1Volume { Name = "sys", HostPath = new V1HostPathVolumeSource { Path = "/sys", Type = "Directory" } },
                            new V1Volume { Name = "tmp", EmptyDir = new V1EmptyDirVolumeSource { SizeLimit = new ResourceQuantity("64Mi") } },
                            // The spool outlives the pod, so nothing collected is lost across agent restarts.
                            new V1Volume { Name = "spool", HostPath = new V1HostPathVolumeSource { Path = $"/var/lib/aperture/{site.Metadata.NamespaceProperty}/{site.Metadata.Name}/spool", Type = "DirectoryOrCreate" } },
                        ],
                    },
                },
            },
        };
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

}
