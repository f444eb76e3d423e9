using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>An API key of a tenant: generated once into a Secret, its hash registered, revoked on delete.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "ApiKey", PluralName = "apikeys")]
[ResourceNames("apikeys", "apkey")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Tenant", "string", ".spec.tenantRef.name")]
[PrinterColumn("Scope", "string", ".spec.scope")]
[PrinterColumn("Expires", "date", ".spec.expiresAt")]
[Description("An API key: generated once into a Secret, its hash registered with the central runtime, revoked when deleted.")]
public sealed class ApiKey : ApertureResource<ApiKeySpec, ApiKeyStatus>
{
    public ApiKey() => Kind = "ApiKey";
}

public sealed class ApiKeySpec
{
    [JsonPropertyName("tenantRef")]
    [RequiredField]
    [Description("The Tenant resource (by name, in this namespace) the key belongs to.")]
    public NamedReference TenantRef { get; set; } = new();

    [JsonPropertyName("scope")]
    [RequiredField]
    public ApiKeyScope Scope { get; set; } = ApiKeyScope.Read;

    [JsonPropertyName("rateLimitPerMinute")]
    [RangeField(1, 1_000_000)]
    [Default(600)]
    public int RateLimitPerMinute { get; set; } = 600;

    [JsonPropertyName("expiresAt")]
    [Format("date-time")]
    public string? ExpiresAt { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<ApiKeyScope>))]
public enum ApiKeyScope
{
    [JsonStringEnumMemberName("read")]
    Read,
    [JsonStringEnumMemberName("write")]
    Write,
    [JsonStringEnumMemberName("admin")]
    Admin,
}

public sealed class ApiKeyStatus : ResourceStatus
{
    [JsonPropertyName("secretName")]
    [Description("The Secret holding the key; written once, never shown in status.")]
    public string? SecretName { get; set; }

    [JsonPropertyName("keyPrefix")]
    [Description("The key's first characters, to recognise it in logs without revealing it.")]
    public string? KeyPrefix { get; set; }
}
