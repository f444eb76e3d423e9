using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>A server in server monitoring, with its ingest token.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "MonitoredServer", PluralName = "monitoredservers")]
[ResourceNames("monitoredservers", "ams", "apserver")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Slug", "string", ".spec.slug")]
[PrinterColumn("Last Seen", "date", ".status.lastSeen")]
[PrinterColumn("Snapshots", "integer", ".status.snapshotCount", Priority = 1)]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
[Description("A monitored server: a token Secret is created once and its hash registered with the Site's runtime.")]
public sealed class MonitoredServer : ApertureResource<MonitoredServerSpec, MonitoredServerStatus>
{
    public MonitoredServer() => Kind = "MonitoredServer";
}

public sealed class MonitoredServerSpec
{
    [JsonPropertyName("siteRef")]
    [RequiredField]
    public NamedReference SiteRef { get; set; } = new();

    [JsonPropertyName("slug")]
    [RequiredField]
    [Pattern(Names.Dns1123Label)]
    [Length(1, 63)]
    public string Slug { get; set; } = string.Empty;

    [JsonPropertyName("name")]
    [RequiredField]
    [Length(1, 200)]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("hostname")]
    [Length(0, 253)]
    public string? Hostname { get; set; }

    [JsonPropertyName("nodeName")]
    [Length(0, 253)]
    [Description("The Kubernetes node this server is, when it is one.")]
    public string? NodeName { get; set; }

    [JsonPropertyName("description")]
    [Length(0, 2000)]
    public string? Description { get; set; }

    [JsonPropertyName("active")]
    [Default(true)]
    public bool Active { get; set; } = true;

    [JsonPropertyName("labels")]
    public Dictionary<string, string>? Labels { get; set; }
}

public sealed class MonitoredServerStatus : ResourceStatus
{
    [JsonPropertyName("tokenSecretName")]
    public string? TokenSecretName { get; set; }

    [JsonPropertyName("registeredSlug")]
    [Description("The slug the server is registered under in the Site's runtime.")]
    public string? RegisteredSlug { get; set; }

    [JsonPropertyName("tokenSecretVersion")]
    [Description("The resourceVersion of the token Secret last registered; a changed Secret is registered again.")]
    public string? TokenSecretVersion { get; set; }

    [JsonPropertyName("lastSeen")]
    [Format("date-time")]
    public string? LastSeen { get; set; }

    [JsonPropertyName("snapshotCount")]
    public long? SnapshotCount { get; set; }
}
