using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>The API group and version of every Aperture resource.</summary>
public static class ApertureApi
{
    public const string Group = "aperture.dev";
    public const string Version = "v1alpha1";
    public const string ApiVersion = Group + "/" + Version;
}

/// <summary>A custom resource of Aperture's: metadata, a spec and a status with conditions.</summary>
public abstract class ApertureResource<TSpec, TStatus> : IKubernetesObject<V1ObjectMeta>, ISpec<TSpec>, IStatus<TStatus>
    where TSpec : new()
    where TStatus : ResourceStatus, new()
{
    [JsonPropertyName("apiVersion")]
    public string ApiVersion { get; set; } = ApertureApi.ApiVersion;

    [JsonPropertyName("kind")]
    public string Kind { get; set; } = string.Empty;

    [JsonPropertyName("metadata")]
    public V1ObjectMeta Metadata { get; set; } = new();

    private TSpec _spec = new();
    private TStatus _status = new();

    // A document without (or with a null) spec or status reads as an empty one, never as null.
    [JsonPropertyName("spec")]
    public TSpec Spec
    {
        get => _spec;
        set => _spec = value ?? new();
    }

    [JsonPropertyName("status")]
    public TStatus Status
    {
        get => _status;
        set => _status = value ?? new();
    }
}

/// <summary>Status every kind has: conditions in the Kubernetes form and the generation they describe.</summary>
public class ResourceStatus
{
    [JsonPropertyName("observedGeneration")]
    [Description("The metadata.generation this status describes.")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("conditions")]
    [Description("Conditions in the Kubernetes form; Ready tells whether the resource took effect.")]
    public List<Condition>? Conditions { get; set; }
}

/// <summary>A condition as metav1.Condition has it.</summary>
public sealed class Condition
{
    [JsonPropertyName("type")]
    [RequiredField]
    [Pattern("^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$")]
    [Length(1, 316)]
    public string Type { get; set; } = string.Empty;

    [JsonPropertyName("status")]
    [RequiredField]
    public ConditionStatus Status { get; set; } = ConditionStatus.Unknown;

    [JsonPropertyName("observedGeneration")]
    public long? ObservedGeneration { get; set; }

    [JsonPropertyName("lastTransitionTime")]
    [RequiredField]
    [Format("date-time")]
    public string LastTransitionTime { get; set; } = string.Empty;

    [JsonPropertyName("reason")]
    [RequiredField]
    [Pattern("^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")]
    [Length(1, 1024)]
    public string Reason { get; set; } = string.Empty;

    [JsonPropertyName("message")]
    [RequiredField]
    [Length(0, 32768)]
    public string Message { get; set; } = string.Empty;
}

[JsonConverter(typeof(JsonStringEnumConverter<ConditionStatus>))]
public enum ConditionStatus
{
    [JsonStringEnumMemberName("True")]
    True,
    [JsonStringEnumMemberName("False")]
    False,
    [JsonStringEnumMemberName("Unknown")]
    Unknown,
}

/// <summary>A reference by name to a resource in the same namespace.</summary>
public sealed class NamedReference
{
    [JsonPropertyName("name")]
    [RequiredField]
    [Pattern(Names.Dns1123Subdomain)]
    [Length(1, 253)]
    [Description("The resource's name, in this resource's namespace.")]
    public string Name { get; set; } = string.Empty;
}

/// <summary>A key of a Secret in the same namespace.</summary>
public sealed class SecretKeyReference
{
    [JsonPropertyName("name")]
    [RequiredField]
    [Pattern(Names.Dns1123Subdomain)]
    [Length(1, 253)]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("key")]
    [RequiredField]
    [Pattern("^[-._a-zA-Z0-9]+$")]
    [Length(1, 253)]
    public string Key { get; set; } = string.Empty;
}

/// <summary>Patterns Kubernetes uses for names.</summary>
public static class Names
{
    public const string Dns1123Subdomain = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
    public const string Dns1123Label = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

    /// <summary>A Go-style duration such as 30s, 5m or 1h30m.</summary>
    public const string Duration = "^([0-9]+(\\.[0-9]+)?(ns|us|ms|s|m|h))+$";
}
