using Aperture.Contracts;

namespace Aperture.Runtime.Access;

/// <summary>
/// Finds the principal of a request: the first credential source that recognises what the request presents
/// decides. With no credential presented, the request is anonymous, unless no source can let anyone in at all
/// (nothing configured, as on a developer's machine), when it acts as super-admin — today's "open when nothing
/// is configured", kept so that <c>make run</c> and a first install work before any credential exists.
/// </summary>
public sealed class RequestAuthenticator(IEnumerable<ICredentialSource> sources)
{
    private readonly ICredentialSource[] _sources = [.. sources];

    public async ValueTask<AuthenticationOutcome> AuthenticateAsync(HttpContext context)
    {
        var presented = PresentedCredential.From(context.Request);
        foreach (var source in _sources)
        {
            if (await source.AuthenticateAsync(context, presented) is { } outcome)
            {
                return outcome;
            }
        }

        if (!presented.IsEmpty)
        {
            return AuthenticationOutcome.Unauthorized("The credential is not valid (it may have expired or been revoked).");
        }

        foreach (var source in _sources)
        {
            if (await source.IsConfiguredAsync())
            {
                return AuthenticationOutcome.Unauthorized(
                    "Send a credential: Authorization: Bearer <token or API key>, or X-Api-Key: <API key>.");
            }
        }

        return AuthenticationOutcome.Accepted(
            Principal.ForRole(AdminTokenSource.ScopedTenant(context.Request), "anonymous", Role.SuperAdmin, CredentialKind.Open));
    }
}

/// <summary>The principal of the request being served.</summary>
public static class RequestPrincipal
{
    private const string Key = "aperture.principal";

    public static void Set(HttpContext context, Principal principal) => context.Items[Key] = principal;

    /// <summary>The principal the access check let in; a route that declared its access always has one.</summary>
    public static Principal Principal(this HttpContext context) =>
        context.Items.TryGetValue(Key, out var value) && value is Principal principal
            ? principal
            : throw new InvalidOperationException("no principal: the route declared no permission, or the access middleware did not run");
}

/// <summary>
/// Checks every request against the access rule its route declared: 401 without a valid credential, 403 with
/// too little, both in the error format (and as gRPC statuses on gRPC calls). A route that declared nothing is
/// refused: access fails closed.
/// </summary>
public static class AccessMiddleware
{
    public static WebApplication UseAccessRules(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var endpoint = context.GetEndpoint();
            var rule = endpoint is null ? null : EndpointAccess.RuleOf(endpoint);
            if (endpoint is null || rule is PublicRoute or OwnCredential)
            {
                await next(context);
                return;
            }

            var outcome = await context.RequestServices.GetRequiredService<RequestAuthenticator>().AuthenticateAsync(context);
            if (outcome.Principal is not { } principal)
            {
                await RefuseAsync(context, outcome.Status, outcome.Reason ?? "Not allowed.");
                return;
            }

            if (rule is not (RequiredPermission or AuthenticatedRoute))
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden, "This route declares no permission, so nobody may call it.");
                return;
            }

            if (rule is RequiredPermission required && !principal.Has(required.Permission))
            {
                await RefuseAsync(context, StatusCodes.Status403Forbidden,
                    $"The {Roles.Name(principal.Role)} role of this credential lacks the '{Roles.Name(required.Permission)}' permission this route needs.");
                return;
            }

            if (principal.RateLimitRps is { } limit
                && context.RequestServices.GetRequiredService<CredentialRateLimits>().TryAcquire(principal.Subject, limit) is { } retryAfter)
            {
                context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await RefuseAsync(context, StatusCodes.Status429TooManyRequests, $"The rate limit of this credential ({limit} requests per second) is spent; retry after the Retry-After seconds.");
                return;
            }

            RequestPrincipal.Set(context, principal);
            await next(context);
        });
        return app;
    }

    private static async Task RefuseAsync(HttpContext context, int status, string reason)
    {
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
        {
            // A trailers-only gRPC response: the status travels in the headers.
            context.Response.StatusCode = StatusCodes.Status200OK;
            context.Response.ContentType = "application/grpc";
            // UNAUTHENTICATED, RESOURCE_EXHAUSTED, PERMISSION_DENIED.
            context.Response.Headers["grpc-status"] = status switch
            {
                StatusCodes.Status401Unauthorized => "16",
                StatusCodes.Status429TooManyRequests => "8",
                _ => "7",
            };
            context.Response.Headers["grpc-message"] = reason;
            return;
        }

        context.Response.StatusCode = status;
        if (status == StatusCodes.Status401Unauthorized)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }

        await context.Response.WriteAsJsonAsync(status switch
        {
            StatusCodes.Status401Unauthorized => new ErrorResponse(ErrorCodes.Unauthorized, reason),
            // As the agent's API answers a spent rate limit (agent-api.md has no code of its own for it).
            StatusCodes.Status429TooManyRequests => new ErrorResponse(ErrorCodes.ServiceUnavailable, reason, new Dictionary<string, string> { ["reason"] = "rate_limited" }),
            _ => new ErrorResponse(ErrorCodes.Forbidden, reason),
        });
    }
}
