using System.Security.Claims;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// The dashboard's own credentials (the equivalent of the spec's Django login + Google allowlist), as credential
/// sources of the access layer: dashboard API keys (<c>Authorization: Bearer</c> or <c>X-Api-Key</c>) read as
/// viewers of their own tenant; an OpenID Connect login whose email is allowlisted reads as a viewer of the
/// default tenant, any other login is refused with 403. While no key exists and no login is configured (and no
/// other source is), the runtime is open.
/// </summary>
public static class DashboardAccess
{
    public const string CookieScheme = CookieAuthenticationDefaults.AuthenticationScheme;
    public const string OidcScheme = OpenIdConnectDefaults.AuthenticationScheme;
    public const string EmailClaim = "email";

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
        }).Public("the login flow");

        routes.MapMethods("/auth/logout", ["GET", "POST"], async (HttpContext context) =>
        {
            await context.SignOutAsync(CookieScheme);
            return Results.Json(new { ok = true });
        }).Public("the login flow");

        routes.MapGet("/auth/me", async (HttpContext context, IOptions<DashboardOptions> options) =>
        {
            var login = await context.AuthenticateAsync(CookieScheme);
            if (!login.Succeeded)
            {
                return Results.Json(new ErrorResponse(ErrorCodes.Unauthorized, "Not logged in."), statusCode: StatusCodes.Status401Unauthorized);
            }

            var email = login.Principal.FindFirstValue(EmailClaim);
            return Results.Json(new { ok = true, email, allowed = options.Value.Allows(email) });
        }).Public("the login flow: says who is logged in, if anyone");
        return routes;
    }
}

/// <summary>Dashboard API keys: read-only keys for programs that read the dashboards, each a viewer of its own tenant.</summary>
public sealed class DashboardKeySource(DashboardApiKeys keys) : ICredentialSource
{
    // Asked only for requests that present nothing; a key made a moment ago closes the runtime at once.
    public async ValueTask<bool> IsConfiguredAsync() => await keys.AnyAsync();

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented) =>
        presented.KeyCandidate is { } candidate && await keys.TenantOfAsync(candidate) is { } tenant
            ? AuthenticationOutcome.Accepted(Principal.ForRole(tenant, "dashboard-api-key", Role.Viewer, CredentialKind.ApiKey))
            : null;
}

/// <summary>A login session from the OpenID Connect flow at <c>/auth/login</c>.</summary>
public sealed class DashboardLoginSource(IOptions<DashboardOptions> options) : ICredentialSource
{
    public ValueTask<bool> IsConfiguredAsync() => ValueTask.FromResult(options.Value.OidcEnabled);

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented)
    {
        if (!presented.IsEmpty || !options.Value.OidcEnabled)
        {
            return null;
        }

        var login = await context.AuthenticateAsync(DashboardAccess.CookieScheme);
        if (!login.Succeeded)
        {
            return null;
        }

        var email = login.Principal.FindFirstValue(DashboardAccess.EmailClaim);
        // A login reads the default tenant: the allowlist names no tenant (a JWT or a tenant's key is how others read theirs).
        return options.Value.Allows(email)
            ? AuthenticationOutcome.Accepted(Principal.ForRole(Tenants.Default, email!, Role.Viewer, CredentialKind.Login))
            : AuthenticationOutcome.Forbidden($"{email ?? "This account"} is not allowed to use this dashboard.");
    }
}
