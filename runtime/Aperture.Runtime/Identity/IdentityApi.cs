using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Identity;

/// <summary>The identity routes of aiops-api.md on the central role: tenants and API keys.</summary>
public static partial class IdentityApi
{
    private const int MaxName = 200;
    private const int MaxRateLimit = 1_000_000;
    private const int DefaultRateLimit = 100;

    public static IEndpointRouteBuilder MapIdentityApi(this IEndpointRouteBuilder routes)
    {
        var api = routes.MapGroup("/api/v1");

        api.MapGet("/tenants", async (TenantStore tenants, TenantUsage usage, CancellationToken cancellationToken) =>
        {
            var list = await tenants.ListAsync(cancellationToken);
            var counts = await usage.ThisMonthAsync(list.Select(t => t.TenantId));
            return Results.Json(new { tenants = list.Select(t => TenantJson.From(t, counts.GetValueOrDefault(t.TenantId))).ToList() });
        }).Requires(Permission.ManageTenants);

        api.MapGet("/tenants/{tenant_id}", async (string tenant_id, TenantStore tenants, TenantUsage usage, CancellationToken cancellationToken) =>
            await tenants.FindAsync(tenant_id, cancellationToken) is { } tenant
                ? Results.Json(TenantJson.From(tenant, (await usage.ThisMonthAsync([tenant.TenantId])).GetValueOrDefault(tenant.TenantId)))
                : NotFound($"No tenant '{tenant_id}'", "tenant_id", tenant_id))
            .Requires(Permission.ManageTenants);

        api.MapPost("/tenants", async (HttpRequest request, TenantStore tenants, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(request, new CreateTenantJson(null, null, null, null), cancellationToken);
            var (id, name, plan, email) = body.Validate();
            var created = await tenants.CreateAsync(id, name, plan, email, cancellationToken);
            return created is null
                ? Results.Json(new ErrorResponse(ErrorCodes.InvalidRequest, $"The tenant '{id}' exists already.", new Dictionary<string, string> { ["field"] = "tenant_id" }),
                    statusCode: StatusCodes.Status409Conflict)
                : Results.Json(new { tenant_id = created.TenantId, created_at = created.CreatedAt }, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.ManageTenants);

        api.MapPost("/apikeys", async (HttpContext context, TenantStore tenants, ApiKeyStore keys, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var principal = context.Principal();
            var body = await RequestBody.ReadJsonAsync(context.Request, new CreateApiKeyJson(null, null, null, null, null), cancellationToken);
            var (name, scope, rate, expires, ingestTenants) = body.Validate(time.GetUtcNow());
            if (await tenants.FindAsync(principal.Tenant, cancellationToken) is null)
            {
                throw new InvalidRequestException(AdminTokenSource.ScopeHeader, $"The tenant '{principal.Tenant}' is not registered (POST /api/v1/tenants).");
            }

            if (ingestTenants is not null)
            {
                // Only a super-admin hands out a key that writes into several tenants: a tenant's admin has only its own.
                if (principal.Role != Role.SuperAdmin)
                {
                    throw new ForbiddenException("Only a super-admin may make a key for several tenants.");
                }

                foreach (var other in ingestTenants)
                {
                    if (await tenants.FindAsync(other, cancellationToken) is null)
                    {
                        throw new InvalidRequestException("tenants", $"The tenant '{other}' is not registered.");
                    }
                }

                ingestTenants = [.. ingestTenants.Where(t => t != principal.Tenant).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];
            }

            var (key, plaintext) = await keys.CreateAsync(principal.Tenant, name, scope, rate, expires, cancellationToken, ingestTenants);
            return Results.Json(new
            {
                key_id = key.KeyId,
                api_key = plaintext,
                scope = ApiKeyScopes.Name(key.Scope),
                prefix = key.Prefix,
                rate_limit_rps = key.RateLimitRps,
                created_at = key.CreatedAt,
                expires_at = key.ExpiresAt,
                tenants = key.IngestTenants?.Append(key.TenantId).Order(StringComparer.Ordinal).ToList(),
            }, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.ManageKeys);

        api.MapGet("/apikeys", async (HttpContext context, ApiKeyStore keys, CancellationToken cancellationToken) =>
        {
            var list = await keys.ListAsync(context.Principal().Tenant, cancellationToken);
            return Results.Json(new
            {
                api_keys = list.Select(k => new
                {
                    key_id = k.KeyId,
                    name = k.Name,
                    scope = ApiKeyScopes.Name(k.Scope),
                    prefix = k.Prefix,
                    rate_limit_rps = k.RateLimitRps,
                    created_at = k.CreatedAt,
                    expires_at = k.ExpiresAt,
                    revoked = k.RevokedAt is not null,
                    tenants = k.IngestTenants?.Append(k.TenantId).Order(StringComparer.Ordinal).ToList(),
                }).ToList(),
            });
        }).Requires(Permission.ManageKeys);

        api.MapDelete("/apikeys/{key_id}", async (string key_id, HttpContext context, ApiKeyStore keys, CancellationToken cancellationToken) =>
            await keys.RevokeAsync(context.Principal().Tenant, key_id, cancellationToken)
                ? Results.Json(new { key_id, revoked = true })
                : NotFound($"No API key '{key_id}' in this tenant", "key_id", key_id))
            .Requires(Permission.ManageKeys);

        return routes;
    }

    private static IResult NotFound(string message, string field, string value) =>
        Results.Json(new ErrorResponse(ErrorCodes.NotFound, message, new Dictionary<string, string> { [field] = value }), statusCode: StatusCodes.Status404NotFound);

    private sealed record TenantJson(
        [property: JsonPropertyName("tenant_id")] string TenantId,
        [property: JsonPropertyName("name")] string Name,
        [property: JsonPropertyName("plan")] string Plan,
        [property: JsonPropertyName("contact_email")] string? ContactEmail,
        [property: JsonPropertyName("created_at")] DateTimeOffset CreatedAt,
        [property: JsonPropertyName("events_this_month")] long EventsThisMonth)
    {
        public static TenantJson From(TenantRecord tenant, long events) =>
            new(tenant.TenantId, tenant.Name, tenant.Plan, tenant.ContactEmail, tenant.CreatedAt, events);
    }

    private sealed record CreateTenantJson(
        [property: JsonPropertyName("tenant_id")] string? TenantId,
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("plan")] string? Plan,
        [property: JsonPropertyName("contact_email")] string? ContactEmail)
    {
        public (string Id, string Name, string Plan, string? Email) Validate()
        {
            if (TenantId is null || !TenantIds.IsValid(TenantId))
            {
                throw new InvalidRequestException("tenant_id", "tenant_id is required: lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit");
            }

            if (string.IsNullOrWhiteSpace(Name) || Name.Length > MaxName)
            {
                throw new InvalidRequestException("name", $"name is required (at most {MaxName} characters)");
            }

            var plan = Plan ?? "free";
            if (!PlanPattern().IsMatch(plan))
            {
                throw new InvalidRequestException("plan", "plan must be lower-case letters, digits and '-' (at most 32)");
            }

            if (ContactEmail is not null && (ContactEmail.Length > 254 || !EmailPattern().IsMatch(ContactEmail)))
            {
                throw new InvalidRequestException("contact_email", "contact_email must be an e-mail address");
            }

            return (TenantId, Name, plan, ContactEmail);
        }
    }

    private sealed record CreateApiKeyJson(
        [property: JsonPropertyName("name")] string? Name,
        [property: JsonPropertyName("scope")] string? Scope,
        [property: JsonPropertyName("rate_limit_rps")] int? RateLimitRps,
        [property: JsonPropertyName("expires_at")] string? ExpiresAt,
        [property: JsonPropertyName("tenants")] IReadOnlyList<string>? Tenants)
    {
        private const int MaxTenants = 1000;

        public (string Name, ApiKeyScope Scope, int Rate, DateTimeOffset? Expires, IReadOnlyList<string>? Tenants) Validate(DateTimeOffset now)
        {
            if (string.IsNullOrWhiteSpace(Name) || Name.Length > MaxName)
            {
                throw new InvalidRequestException("name", $"name is required (at most {MaxName} characters)");
            }

            if (!ApiKeyScopes.TryParse(Scope, out var scope))
            {
                throw new InvalidRequestException("scope", "scope must be 'ingestion', 'read' or 'admin'");
            }

            var rate = RateLimitRps ?? DefaultRateLimit;
            if (rate is < 1 or > MaxRateLimit)
            {
                throw new InvalidRequestException("rate_limit_rps", $"rate_limit_rps must be from 1 to {MaxRateLimit}");
            }

            DateTimeOffset? expires = null;
            if (ExpiresAt is not null)
            {
                if (!DateTimeOffset.TryParse(ExpiresAt, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                {
                    throw new InvalidRequestException("expires_at", "expires_at must be an RFC 3339 time");
                }

                if (parsed <= now)
                {
                    throw new InvalidRequestException("expires_at", "expires_at must be in the future");
                }

                expires = parsed;
            }

            if (Tenants is not null)
            {
                if (scope != ApiKeyScope.Ingestion)
                {
                    throw new InvalidRequestException("tenants", "tenants is only for keys of scope 'ingestion' (a Site's agents)");
                }

                if (Tenants.Count is 0 or > MaxTenants || Tenants.Any(t => t is null || !TenantIds.IsValid(t)))
                {
                    throw new InvalidRequestException("tenants", $"tenants must be 1 to {MaxTenants} tenant ids");
                }
            }

            return (Name, scope, rate, expires, Tenants);
        }
    }

    [GeneratedRegex("^[a-z0-9-]{1,32}$", RegexOptions.CultureInvariant)]
    private static partial Regex PlanPattern();

    [GeneratedRegex(@"^[^@\s]+@[^@\s]+\.[^@\s]+$", RegexOptions.CultureInvariant)]
    private static partial Regex EmailPattern();
}
