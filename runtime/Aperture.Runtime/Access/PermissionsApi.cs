namespace Aperture.Runtime.Access;

/// <summary><c>GET /api/v1/rbac/permissions</c> (aiops-api.md): what the caller is and may do. Sites ask it of the central runtime about a key.</summary>
public static class PermissionsApi
{
    public static IEndpointRouteBuilder MapPermissionsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/v1/rbac/permissions", (HttpContext context) =>
        {
            var principal = context.Principal();
            return Results.Json(new
            {
                tenant_id = principal.Tenant,
                user_id = principal.Subject,
                role = Roles.Name(principal.Role),
                level = (int)principal.Role,
                permissions = Enum.GetValues<Permission>().Where(principal.Permissions.Contains).Select(Roles.Name).ToList(),
                credential = principal.Credential.ToString().ToLowerInvariant(),
                rate_limit_rps = principal.RateLimitRps,
                expires_at = principal.ExpiresAt,
                // A key that may push into tenants besides its own (a Site's agents): all of them, its own included.
                tenants = principal.IngestTenants?.Append(principal.Tenant).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList(),
            });
        }).RequiresAuthentication();
        return routes;
    }
}
