using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>An API key of a tenant: made by the central runtime, written once into a Secret, revoked on delete.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "ApiKey", PluralName = "apikeys")]
[ResourceNames("apikeys", "apkey")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Tenant", "string", ".spec.tenantRef.name")]
[PrinterColumn("Scope", "string", ".spec.scope")]
[PrinterColumn("Expires", "date", ".spec.expiresAt")]
[PrinterColumn("Key", "string", ".status.keyId", Priority = 1)]
[Description("An API key: made by the central runtime (which keeps its hash), written once into the Secret <name>-api-key, revoked when deleted.")]
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
    [Description("ingestion (writes only), read, or admin (DESIGN.md's scopes). Changing it revokes the key and creates a new one into the same Secret.")]
    public ApiKeyScope Scope { get; set; } = ApiKeyScope.Read;

    [JsonPropertyName("rateLimitRps")]
    [RangeField(1, 1_000_000)]
    [Default(100)]
    [Description("Requests per second the key may make. Changing it revokes the key and creates a new one into the same Secret.")]
    public int RateLimitRps { get; set; } = 100;

    [JsonPropertyName("expiresAt")]
    [Format("date-time")]
    [Description("When the key stops working; never when absent. Changing it revokes the key and creates a new one into the same Secret.")]
    public string? ExpiresAt { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<ApiKeyScope>))]
public enum ApiKeyScope
{
    [JsonStringEnumMemberName("ingestion")]
    Ingestion,
    [JsonStringEnumMemberName("read")]
    Read,
    [JsonStringEnumMemberName("admin")]
    Admin,
}

public sealed class ApiKeyStatus : ResourceStatus
{
    [JsonPropertyName("keyId")]
    [Description("The central runtime's id of the key (not the key): what revocation names.")]
    public string? KeyId { get; set; }

    [JsonPropertyName("tenantId")]
    [Description("The tenant the key was created in, so that it can be revoked there even after its Tenant resource is gone.")]
    public string? TenantId { get; set; }

    [JsonPropertyName("secretName")]
    [Description("The Secret holding the key (data keys api-key and key-id); the key itself is never in status.")]
    public string? SecretName { get; set; }

    [JsonPropertyName("keyPrefix")]
    [Description("The key's first characters, to recognise it in logs without revealing it.")]
    public string? KeyPrefix { get; set; }
}
