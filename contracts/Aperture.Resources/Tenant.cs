using System.ComponentModel;
using System.Text.Json.Serialization;
using k8s.Models;

namespace Aperture.Resources;

/// <summary>A tenant: every datum in Aperture belongs to one.</summary>
[KubernetesEntity(Group = ApertureApi.Group, ApiVersion = ApertureApi.Version, Kind = "Tenant", PluralName = "tenants")]
[ResourceNames("tenants", "aptenant")]
[PrinterColumn("Ready", "string", ".status.conditions[?(@.type==\"Ready\")].status")]
[PrinterColumn("Tenant", "string", ".spec.tenantId")]
[PrinterColumn("Plan", "string", ".spec.plan")]
[PrinterColumn("Created", "date", ".status.createdAt", Priority = 1)]
[PrinterColumn("Age", "date", ".metadata.creationTimestamp")]
[Description("A tenant, registered with the central runtime.")]
public sealed class Tenant : ApertureResource<TenantSpec, TenantStatus>
{
    public Tenant() => Kind = "Tenant";
}

public sealed class TenantSpec
{
    [JsonPropertyName("tenantId")]
    [RequiredField]
    [Pattern(Names.Dns1123Label)]
    [Length(1, 63)]
    public string TenantId { get; set; } = string.Empty;

    [JsonPropertyName("name")]
    [RequiredField]
    [Length(1, 200)]
    public string Name { get; set; } = string.Empty;

    [JsonPropertyName("plan")]
    [Default("free")]
    public TenantPlan Plan { get; set; } = TenantPlan.Free;

    [JsonPropertyName("contact")]
    [Pattern("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$")]
    [Length(3, 254)]
    [Description("An e-mail address.")]
    public string? Contact { get; set; }
}

public sealed class TenantStatus : ResourceStatus
{
    [JsonPropertyName("createdAt")]
    [Format("date-time")]
    [Description("When the central runtime registered the tenant.")]
    public string? CreatedAt { get; set; }
}

[JsonConverter(typeof(JsonStringEnumConverter<TenantPlan>))]
public enum TenantPlan
{
    [JsonStringEnumMemberName("free")]
    Free,
    [JsonStringEnumMemberName("team")]
    Team,
    [JsonStringEnumMemberName("enterprise")]
    Enterprise,
}
