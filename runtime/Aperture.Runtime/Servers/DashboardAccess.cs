using System.Security.Claims;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// Who may read the dashboard APIs (the equivalent of the spec's Django login + Google allowlist):
/// the admin token (APERTURE_AUTH_TOKEN), a dashboard API key (<c>Authorization: Bearer</c> or
/// <c>X-Api-Key</c>), or an OpenID Connect login whose email is allowlisted. With none of the three
/// configured the dashboard is open, as on a developer's machine. Ingest never goes through here.
/// </summary>
public sealed class DashboardAccess(AuthTokenOptions admin, DashboardApiKeys apiKeys, IOptions<DashboardOptions> options)
{
    public const string CookieScheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string OidcScheme = OpenIdConnectDefaults.AuthenticationScheme;
    public const string EmailClaim = "email";

    /// <returns>Null when the request may go on, else the 401 or 403 to answer.</returns>
    public async Task<IResult?> CheckAsync(HttpContext context)
    {
        var authorization = context.Request.Headers.Authorization.ToString();
        if (admin.Enabled && admin.Accepts(authorization))
        {
            return null;
        }

        var presentedKey = context.Request.Headers["X-Api-Key"].ToString() is { Length: > 0 } header
            ? header
            : authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
        if (!string.IsNullOrEmpty(presentedKey))
        {
            return await apiKeys.IsValidAsync(presentedKey)
                ? null
                : Unauthorized("The API key or token is not valid (it may have been revoked).");
        }

        var login = await context.AuthenticateAsync(CookieScheme);
        if (login.Succeeded)
        {
            var email = login.Principal.FindFirstValue(EmailClaim);
            return options.Value.Allows(email)
                ? null
                : Results.Json(new ErrorResponse(ErrorCodes.Forbidden, $"{email ?? "This account"} is not allowed to use this dashboard."),
                    statusCode: StatusCodes.Status403Forbidden);
        }

        if (!options.Value.OidcEnabled && !admin.Enabled && !await apiKeys.AnyAsync())
        {
            return null;
        }

        return Unauthorized(options.Value.OidcEnabled
            ? "Log in at /auth/login, or send an API key (Authorization: Bearer <key> or X-Api-Key)."
            : "Send an API key (Authorization: Bearer <key> or X-Api-Key) or the admin token.");
    }

    private static IResult Unauthorized(string message) =>
        Results.Json(new ErrorResponse(ErrorCodes.Unauthorized, message), statusCode: StatusCodes.Status401Unauthorized);

    /// <summary>Cookie sessions always; OpenID Connect when an authority is configured.</summary>
    public static void AddDashboardAuthentication(WebApplicationBuilder builder, DashboardOptions dashboard)
    {
        var authentication = builder.Services.AddAuthentication(CookieScheme)
            .AddCookie(CookieScheme, cookie =>
            {
                cookie.Cookie.Name = "aperture_dashboard";
                cookie.Cookie.HttpOnly = true;
                cookie.Cookie.SameSite = SameSiteMode.Lax;
                cookie.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                cookie.ExpireTimeSpan = dashboard.SessionLifetime;
                cookie.SlidingExpiration = true;
                // A JSON API: answer, never redirect to a login page.
                cookie.Events.OnRedirectToLogin = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    return Task.CompletedTask;
                };
                cookie.Events.OnRedirectToAccessDenied = context =>
                {
                    context.Response.StatusCode = StatusCodes.Status403Forbidden;
                    return Task.CompletedTask;
                };
            });
        if (!dashboard.OidcEnabled)
        {
            return;
        }

        authentication.AddOpenIdConnect(OidcScheme, oidc =>
        {
            oidc.Authority = dashboard.Oidc.Authority;
            oidc.ClientId = dashboard.Oidc.ClientId;
            oidc.ClientSecret = dashboard.Oidc.ClientSecret;
            oidc.RequireHttpsMetadata = dashboard.Oidc.RequireHttpsMetadata;
            oidc.ResponseType = "code";
            // The provider redirects back with the code in the query, a top-level GET that the
            // SameSite=Lax correlation cookies survive.
            oidc.ResponseMode = "query";
            oidc.UsePkce = true;
            oidc.CallbackPath = "/auth/callback";
            oidc.SignInScheme = CookieScheme;
            oidc.SaveTokens = false;
            oidc.MapInboundClaims = false;
            oidc.GetClaimsFromUserInfoEndpoint = false;
            oidc.DisableTelemetry = true;
            oidc.TokenValidationParameters.NameClaimType = EmailClaim;
            oidc.Scope.Clear();
            foreach (var scope in dashboard.Oidc.Scopes)
            {
                oidc.Scope.Add(scope);
            }

            foreach (var cookie in new[] { oidc.CorrelationCookie, oidc.NonceCookie })
            {
                cookie.SameSite = SameSiteMode.Lax;
                cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            }

            oidc.Events.OnTokenValidated = context =>
            {
                // An address the provider has not verified proves nothing about who logged in.
                if (context.Principal?.FindFirstValue("email_verified") is { } verified
                    && string.Equals(verified, "false", StringComparison.OrdinalIgnoreCase))
                {
                    context.Fail("the provider has not verified this email address");
                }

                return Task.CompletedTask;
            };
            oidc.Events.OnRemoteFailure = async context =>
            {
                context.HandleResponse();
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await context.Response.WriteAsJsonAsync(new ErrorResponse(ErrorCodes.Unauthorized, "The login did not complete; start again at /auth/login."));
            };
        });
    }

    /// <summary><c>/auth/login</c>, <c>/auth/logout</c> and <c>/auth/me</c>; <c>/auth/callback</c> is the OpenID Connect handler's.</summary>
    public static IEndpointRouteBuilder MapDashboardAuth(IEndpointRouteBuilder routes)
    {
        routes.MapGet("/auth/login", (HttpRequest request, IOptions<DashboardOptions> options) =>
        {
            if (!options.Value.OidcEnabled)
            {
                return Results.Json(new ErrorResponse(ErrorCodes.NotFound, "OpenID Connect login is not configured (Aperture:Dashboard:Oidc:Authority)."),
                    statusCode: StatusCodes.Status404NotFound);
            }

            // Only a local path: an open redirect would let a link send a fresh login anywhere.
            var returnUrl = request.Query["return_url"].ToString();
            var local = returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) && !returnUrl.StartsWith("/\\", StringComparison.Ordinal);
            return Results.Challenge(new AuthenticationProperties { RedirectUri = local ? returnUrl : "/api/servers/" }, [OidcScheme]);
        });

        routes.MapMethods("/auth/logout", ["GET", "POST"], async (HttpContext context) =>
        {
            await context.SignOutAsync(CookieScheme);
            return Results.Json(new { ok = true });
        });

        routes.MapGet("/auth/me", async (HttpContext context, IOptions<DashboardOptions> options) =>
        {
            var login = await context.AuthenticateAsync(CookieScheme);
            if (!login.Succeeded)
            {
                return Results.Json(new ErrorResponse(ErrorCodes.Unauthorized, "Not logged in."), statusCode: StatusCodes.Status401Unauthorized);
            }

            var email = login.Principal.FindFirstValue(EmailClaim);
            return Results.Json(new { ok = true, email, allowed = options.Value.Allows(email) });
        });
        return routes;
    }
}
