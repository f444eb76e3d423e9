using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>Which nodes and workloads a Site's agents profile, and how.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "ProfilingTarget", PluralName = "profilingtargets")]
[ResourceNames("profilingtargets", "apt", "aptarget")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Site", "string", ".spec.siteRef.name")]
[PrinterColumn("Rate", "integer", ".spec.sampleRateHz")]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
[Description("Nodes and workloads to profile; all targets of a Site are merged into that Site's agent DaemonSet.")]
public sealed class ProfilingTarget : ApertureResource<ProfilingTargetSpec, ResourceStatus>
{
    public ProfilingTarget() => Kind = "ProfilingTarget";
}

public sealed class ProfilingTargetSpec
{
    [JsonPropertyName("siteRef")]
    [RequiredField]
    public NamedReference SiteRef { get; set; } = new();

    [JsonPropertyName("tenantRef")]
    [Description("The Tenant resource (by name, in this namespace) the target's data belongs to; tenant 'default' when absent.")]
    public NamedReference? TenantRef { get; set; }

    [JsonPropertyName("nodeSelector")]
    [Description("Node labels, added to aperture.dev/agent=enabled.")]
    public Dictionary<string, string>? NodeSelector { get; set; }

    [JsonPropertyName("podSelector")]
    [Description("Labels (all must match) of pods in this target's namespace whose processes each node's agent profiles; every process on the node when empty.")]
    public Dictionary<string, string>? PodSelector { get; set; }

    [JsonPropertyName("eventTypes")]
    [RequiredField]
    [Description("What the agents collect of the selected processes: cpu (samples), lock (futex waits), syscall.")]
    [Items(1, 3)]
    public List<ProfilingEventType> EventTypes { get; set; } = [ProfilingEventType.Cpu];

    [JsonPropertyName("sampleRateHz")]
    [RangeField(1, 1000)]
    [Default(99)]
    [Description("CPU samples per second per CPU.")]
    public int SampleRateHz { get; set; } = 99;

    [JsonPropertyName("tolerations")]
    [Items(0, 64)]
    public List<Toleration>? Tolerations { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<ProfilingEventType>))]
public enum ProfilingEventType
{
    [JsonStringEnumMemberName("cpu")]
    Cpu,
    [JsonStringEnumMemberName("lock")]
    Lock,
    [JsonStringEnumMemberName("syscall")]
    Syscall,
}

public sealed class Toleration
{
    [JsonPropertyName("key")]
    [Length(0, 316)]
    public string? Key { get; set; }

    [JsonPropertyName("operator")]
    public TolerationOperator? Operator { get; set; }

    [JsonPropertyName("value")]
    [Length(0, 63)]
    public string? Value { get; set; }

    [JsonPropertyName("effect")]
    public TolerationEffect? Effect { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<TolerationOperator>))]
public enum TolerationOperator
{
    [JsonStringEnumMemberName("Exists")]
    Exists,
    [JsonStringEnumMemberName("Equal")]
    Equal,
}

[JsonConverter(typeof(JsonStringEnumConverter<TolerationEffect>))]
public enum TolerationEffect
{
    [JsonStringEnumMemberName("NoSchedule")]
    NoSchedule,
    [JsonStringEnumMemberName("PreferNoSchedule")]
    PreferNoSchedule,
    [JsonStringEnumMemberName("NoExecute")]
    NoExecute,
}
