using System.Globalization;
using System.Text.Json;
using Aperture.Resources;
using k8s.Models;

namespace Aperture.Operator.Desired;

/// <summary>
/// The objects a Site becomes, as pure functions of the Site (and the operator's default image):
/// the aggregator StatefulSet, a headless Service for its pods, a client Service and a ConfigMap.
/// </summary>
public static class SiteResources
{
    public const string Component = "aggregator";
    public const int HttpPort = 9090;
    public const int GrpcPort = 50051;

    /// <summary>The site-local jobs API (jobs-api.md "Local API"), which the central API forwards to.</summary>
    public const int JobsPort = 18000;

    public static string Name(Site site) => $"{site.Metadata.Name}-aggregator";

    public static string HeadlessName(Site site) => $"{Name(site)}-pods";

    /// <summary>host:port of the HTTP API, as other components reach it.</summary>
    public static string Endpoint(Site site) =>
        string.Create(CultureInfo.InvariantCulture, $"{Name(site)}.{site.Metadata.NamespaceProperty}.svc:{HttpPort}");

    /// <summary>The URL of the site-local jobs API, as the central API reaches it.</summary>
    public static string JobsUrl(Site site) =>
        string.Create(CultureInfo.InvariantCulture, $"http://{Name(site)}.{site.Metadata.NamespaceProperty}.svc:{JobsPort}");

    /// <summary>host:port of the gRPC ingest, as agents reach it.</summary>
    public static string GrpcEndpoint(Site site) =>
        string.Create(CultureInfo.InvariantCulture, $"{Name(site)}.{site.Metadata.NamespaceProperty}.svc:{GrpcPort}");

    public static V1ConfigMap ConfigMap(Site site, IReadOnlyList<AlertRule> alertRules)
    {
        var settings = new SortedDictionary<string, object?>(StringComparer.Ordinal)
        {
            ["clickHouseDatabase"] = site.Spec.ClickHouse.Database,
            ["replicas"] = site.Spec.Replicas,
            ["retentionDays"] = site.Spec.RetentionDays,
        };
        var rules = alertRules
            .OrderBy(r => r.Metadata.Name, StringComparer.Ordinal)
            .Select(r => new SortedDictionary<string, object?>(StringComparer.Ordinal)
            {
                ["resource"] = r.Metadata.Name,
                ["name"] = r.Spec.Name ?? r.Metadata.Name,
                ["metric"] = JsonSerializer.Serialize(r.Spec.Metric).Trim('"'),
                ["operator"] = JsonSerializer.Serialize(r.Spec.Operator).Trim('"'),
                ["threshold"] = r.Spec.Threshold,
                ["severity"] = JsonSerializer.Serialize(r.Spec.Severity).Trim('"'),
                ["for"] = r.Spec.For,
            })
            .ToList();
        return new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = ObjectMetadata.For(site, Name(site), Component),
            Data = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["site.json"] = JsonSerializer.Serialize(settings, Indented),
                ["alerts.json"] = JsonSerializer.Serialize(rules, Indented),
            },
        };
    }

    /// <summary>Where the aggregator finds its agents' ingestion key (the Secret of <see cref="AgentResources.KeySecretName"/>), its credential for sending series to the central watchdog.</summary>
    public const string AgentKeyPath = "/var/run/aperture/agent-key";

    /// <param name="centralUrl">The central runtime: the Site checks its API keys there and sends it its series.</param>
    public static V1StatefulSet StatefulSet(Site site, string defaultImage, V1ConfigMap configMap, Uri? centralUrl = null)
    {
        List<V1EnvVar> env =
        [
            ObjectMetadata.FromSecret("Aperture__ClickHouse__ConnectionString", site.Spec.ClickHouse.ConnectionSecretRef),
            new() { Name = "Aperture__ClickHouse__Database", Value = site.Spec.ClickHouse.Database },
            ObjectMetadata.FromSecret("Aperture__Redis__ConnectionString", site.Spec.Redis.ConnectionSecretRef),
            new() { Name = "Aperture__Profiling__RetentionDays", Value = site.Spec.RetentionDays.ToString(CultureInfo.InvariantCulture) },
        ];
        if (site.Spec.AuthTokenSecretRef is { } token)
        {
            env.Add(ObjectMetadata.FromSecret("APERTURE_AUTH_TOKEN", token));
        }

        if (centralUrl is not null)
        {
            env.Add(new() { Name = "Aperture__Identity__CentralUrl", Value = centralUrl.ToString() });
            // The key file appears once the Site's targets have an agent key; until then the export waits for it.
            env.Add(new() { Name = "Aperture__Watchdog__Export__TokenFile", Value = $"{AgentKeyPath}/api-key" });
            // The series carry the Site's name, so the centre knows which Site to ask about one.
            env.Add(new() { Name = "Aperture__Watchdog__Export__SiteId", Value = site.Metadata.Name });
        }

        var selector = ObjectMetadata.Selector(Component, site.Metadata.Name);
        var labels = ObjectMetadata.Labels(Component, site.Metadata.Name);
        return new V1StatefulSet
        {
            ApiVersion = "apps/v1",
            Kind = "StatefulSet",
            Metadata = ObjectMetadata.For(site, Name(site), Component),
            Spec = new V1StatefulSetSpec
            {
                Replicas = site.Spec.Replicas,
                ServiceName = HeadlessName(site),
                PodManagementPolicy = "Parallel",
                Selector = new V1LabelSelector { MatchLabels = selector },
                Template = new V1PodTemplateSpec
                {
                    Metadata = new V1ObjectMeta
                    {
                        Labels = labels,
                        // A change of the Site's settings rolls the pods; alert rules do not (the runtime
                        // keeps them in Redis, registered through its API).
                        Annotations = new Dictionary<string, string> { ["aperture.dev/config-hash"] = ObjectMetadata.ContentHash(configMap, "site.json") },
                    },
                    Spec = new V1PodSpec
                    {
                        EnableServiceLinks = false,
                        SecurityContext = new V1PodSecurityContext
                        {
                            RunAsNonRoot = true,
                            RunAsUser = 65532,
                            RunAsGroup = 65532,
                            FsGroup = 65532,
                            SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" },
                        },
                        Containers =
                        [
                            new V1Container
                            {
                                Name = "runtime",
                                Image = string.IsNullOrEmpty(site.Spec.Image) ? defaultImage : site.Spec.Image,
                                Args = ["--role", "aggregator", "--listen", "0.0.0.0",
                                    "--http-port", HttpPort.ToString(CultureInfo.InvariantCulture),
                                    "--grpc-port", GrpcPort.ToString(CultureInfo.InvariantCulture),
                                    "--jobs-port", JobsPort.ToString(CultureInfo.InvariantCulture)],
                                Env = env,
                                Ports =
                                [
                                    new V1ContainerPort { Name = "http", ContainerPort = HttpPort, Protocol = "TCP" },
                                    new V1ContainerPort { Name = "grpc", ContainerPort = GrpcPort, Protocol = "TCP" },
                                    new V1ContainerPort { Name = "jobs", ContainerPort = JobsPort, Protocol = "TCP" },
                                ],
                                LivenessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/healthz", Port = "http" }, PeriodSeconds = 10 },
                                ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/readyz", Port = "http" }, PeriodSeconds = 5 },
                                Resources = Resources(site.Spec.Resources),
                                SecurityContext = new V1SecurityContext
                                {
                                    AllowPrivilegeEscalation = false,
                                    ReadOnlyRootFilesystem = true,
                                    Capabilities = new V1Capabilities { Drop = ["ALL"] },
                                },
                                VolumeMounts =
                                [
                                    new V1VolumeMount { Name = "config", MountPath = "/etc/aperture", ReadOnlyProperty = true },
                                    new V1VolumeMount { Name = "agent-key", MountPath = AgentKeyPath, ReadOnlyProperty = true },
                                ],
                            },
                        ],
                        Volumes =
                        [
                            new V1Volume { Name = "config", ConfigMap = new V1ConfigMapVolumeSource { Name = configMap.Metadata.Name } },
                            // Optional: a Site without profiling targets has no agent key, and its pods still start.
                            new V1Volume { Name = "agent-key", Secret = new V1SecretVolumeSource { SecretName = AgentResources.KeySecretName(site), Optional = true } },
                        ],
                    },
                },
            },
        };
    }

    /// <summary>Gives each aggregator pod a stable DNS name; not-ready pods are listed too, for peers.</summary>
    public static V1Service HeadlessService(Site site) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = ObjectMetadata.For(site, HeadlessName(site), Component),
        Spec = new V1ServiceSpec
        {
            ClusterIP = "None",
            PublishNotReadyAddresses = true,
            Selector = ObjectMetadata.Selector(Component, site.Metadata.Name),
            Ports = Ports(),
        },
    };

    /// <summary>What agents and clients use: the ready aggregator pods behind one address.</summary>
    public static V1Service ClientService(Site site) => new()
    {
        ApiVersion = "v1",
        Kind = "Service",
        Metadata = ObjectMetadata.For(site, Name(site), Component),
        Spec = new V1ServiceSpec
        {
            Type = "ClusterIP",
            Selector = ObjectMetadata.Selector(Component, site.Metadata.Name),
            Ports = Ports(),
        },
    };

    private static List<V1ServicePort> Ports() =>
    [
        new() { Name = "http", Port = HttpPort, TargetPort = "http", Protocol = "TCP" },
        new() { Name = "grpc", Port = GrpcPort, TargetPort = "grpc", Protocol = "TCP", AppProtocol = "kubernetes.io/h2c" },
        new() { Name = "jobs", Port = JobsPort, TargetPort = "jobs", Protocol = "TCP" },
    ];

    private static V1ResourceRequirements? Resources(ResourceRequirements? requirements)
    {
        if (requirements is null)
        {
            return null;
        }

        static Dictionary<string, ResourceQuantity>? Amounts(ResourceAmounts? amounts)
        {
            if (amounts is null)
            {
                return null;
            }

            var result = new Dictionary<string, ResourceQuantity>(StringComparer.Ordinal);
            if (amounts.Cpu is { } cpu)
            {
                result["cpu"] = new ResourceQuantity(cpu);
            }

            if (amounts.Memory is { } memory)
            {
                result["memory"] = new ResourceQuantity(memory);
            }

            return result.Count == 0 ? null : result;
        }

        return new V1ResourceRequirements { Requests = Amounts(requirements.Requests), Limits = Amounts(requirements.Limits) };
    }

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

}
