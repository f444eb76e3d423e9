using System.Text.Json.Serialization;

namespace Aperture.Runtime.Identity;

/// <summary>A registered tenant (aiops-api.md: tenants).</summary>
public sealed record TenantRecord(
    [property: JsonPropertyName("tenant_id")] string TenantId,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("plan")] string Plan,
    [property: JsonPropertyName("contact_email")] string? ContactEmail,
    [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt);

/// <summary>What an API key may do (DESIGN.md): push only, read only, or administer its tenant.</summary>
public enum ApiKeyScope
{
    Ingestion,
    Read,
    Admin,
}

/// <summary>An API key as stored: never its text, only the text's SHA-256.</summary>
public sealed record ApiKeyRecord(
    string KeyId,
    string TenantId,
    string Name,
    ApiKeyScope Scope,
    string Prefix,
    string Hash,
    int RateLimitRps,
    DateTimeOffset CreatedAt,
    DateTimeOffset? ExpiresAt,
    DateTimeOffset? RevokedAt,
    IReadOnlyList<string>? IngestTenants = null)
{
    public bool IsActive(DateTimeOffset now) => RevokedAt is null && (ExpiresAt is not { } expires || expires > now);
}

public static class ApiKeyScopes
{
    public static string Name(ApiKeyScope scope) => scope switch
    {
        ApiKeyScope.Ingestion => "ingestion",
        ApiKeyScope.Read => "read",
        _ => "admin",
    };

    public static bool TryParse(string? text, out ApiKeyScope scope)
    {
        switch (text)
        {
            case "ingestion":
                scope = ApiKeyScope.Ingestion;
                return true;
            case "read":
                scope = ApiKeyScope.Read;
                return true;
            case "admin":
                scope = ApiKeyScope.Admin;
                return true;
            default:
                scope = default;
                return false;
        }
    }
}
