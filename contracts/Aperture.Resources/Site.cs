using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>A site's aggregator: the runtime in role aggregator, with its ClickHouse and Redis.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "Site", PluralName = "sites")]
[ResourceNames("sites", "apsite")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Replicas", "integer", ".spec.replicas")]
[PrinterColumn("Available", "integer", ".status.readyReplicas")]
[PrinterColumn("Endpoint", "string", ".status.endpoint", Priority = 1)]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
[Description("A site's aggregator: a StatefulSet of the Aperture runtime (role aggregator) with its Services and ConfigMap.")]
public sealed class Site : ApertureResource<SiteSpec, SiteStatus>
{
    public Site() => Kind = "Site";
}

public sealed class SiteSpec
{
    [JsonPropertyName("replicas")]
    [RangeField(1, 10)]
    [Default(1)]
    [Description("Aggregator replicas.")]
    public int Replicas { get; set; } = 1;

    [JsonPropertyName("image")]
    [Length(1, 512)]
    [Description("The runtime image; the operator's own version when empty.")]
    public string? Image { get; set; }

    [JsonPropertyName("resources")]
    [Description("CPU and memory for each aggregator replica.")]
    public ResourceRequirements? Resources { get; set; }

    [JsonPropertyName("clickHouse")]
    [RequiredField]
    public SiteClickHouse ClickHouse { get; set; } = new();

    [JsonPropertyName("redis")]
    [RequiredField]
    public SiteRedis Redis { get; set; } = new();

    [JsonPropertyName("retentionDays")]
    [RangeField(1, 3650)]
    [Default(30)]
    [Description("Days profiling samples are kept.")]
    public int RetentionDays { get; set; } = 30;

    [JsonPropertyName("authTokenSecretRef")]
    [Description("A Secret key holding the bearer token agents and clients must send; the API is open without it.")]
    public SecretKeyReference? AuthTokenSecretRef { get; set; }
}

public sealed class SiteClickHouse
{
    [JsonPropertyName("connectionSecretRef")]
    [RequiredField]
    [Description("A Secret key holding the ClickHouse.Driver connection string (it carries the password).")]
    public SecretKeyReference ConnectionSecretRef { get; set; } = new();

    [JsonPropertyName("database")]
    [Pattern("^[a-z_][a-z0-9_]{0,62}$")]
    [Default("aperture")]
    public string Database { get; set; } = "aperture";
}

public sealed class SiteRedis
{
    [JsonPropertyName("connectionSecretRef")]
    [RequiredField]
    [Description("A Secret key holding the StackExchange.Redis configuration string.")]
    public SecretKeyReference ConnectionSecretRef { get; set; } = new();
}

public sealed class ResourceRequirements
{
    [JsonPropertyName("requests")]
    public ResourceAmounts? Requests { get; set; }

    [JsonPropertyName("limits")]
    public ResourceAmounts? Limits { get; set; }
}

public sealed class ResourceAmounts
{
    [JsonPropertyName("cpu")]
    [Quantity]
    public string? Cpu { get; set; }

    [JsonPropertyName("memory")]
    [Quantity]
    public string? Memory { get; set; }
}

public sealed class SiteStatus : ResourceStatus
{
    [JsonPropertyName("readyReplicas")]
    public int? ReadyReplicas { get; set; }

    [JsonPropertyName("endpoint")]
    [Description("The client Service's address: host:port of the HTTP API.")]
    public string? Endpoint { get; set; }
}
