using System.Security.Cryptography;
using System.Text;
using Aperture.Contracts;

namespace Aperture.Runtime.Access;

/// <summary>The shared bearer token (APERTURE_AUTH_TOKEN); unset means the API is open.</summary>
public sealed class AuthTokenOptions
{
    public string? Token { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(Token);

    /// <summary>Constant-time comparison of an <c>Authorization</c> header value with the token.</summary>
    public bool Accepts(string? authorization)
    {
        const string scheme = "Bearer ";
        if (!Enabled || authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var given = Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim());
        var expected = Encoding.UTF8.GetBytes(Token!);
        return CryptographicOperations.FixedTimeEquals(given, expected);
    }
}

public static class BearerTokenAuthentication
{
    /// <summary>Routes left open for probes and scrapers.</summary>
    private static readonly HashSet<string> OpenPaths = new(StringComparer.OrdinalIgnoreCase) { "/healthz", "/readyz", "/metrics", "/v1/healthz" };

    /// <summary>
    /// Routes with their own authentication: server ingest (per-server tokens), the dashboard reads
    /// (login, API keys, or this token, checked by DashboardAccess) and the login flow itself.
    /// </summary>
    private static readonly string[] OwnAuthenticationPrefixes = ["/api/ingest/servers/", "/api/servers", "/api/metrics", "/auth/"];

    /// <summary>
    /// With a token configured, every route but the probes answers 401 (HTTP) or UNAUTHENTICATED
    /// (gRPC) unless the request carries <c>Authorization: Bearer &lt;token&gt;</c>.
    /// </summary>
    public static WebApplication UseBearerTokenAuthentication(this WebApplication app)
    {
        var options = app.Services.GetRequiredService<AuthTokenOptions>();
        if (!options.Enabled)
        {
            return app;
        }

        app.Use(async (context, next) =>
        {
            var path = context.Request.Path.Value ?? string.Empty;
            if (OpenPaths.Contains(path)
                || OwnAuthenticationPrefixes.Any(prefix => path.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
                || options.Accepts(context.Request.Headers.Authorization))
            {
                await next(context);
                return;
            }

            if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase) == true)
            {
                // A trailers-only gRPC response: the status travels in the headers.
                context.Response.StatusCode = StatusCodes.Status200OK;
                context.Response.ContentType = "application/grpc";
                context.Response.Headers["grpc-status"] = "16";
                context.Response.Headers["grpc-message"] = "missing or wrong bearer token";
                return;
            }

            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await context.Response.WriteAsJsonAsync(new ErrorResponse(ErrorCodes.Unauthorized, "Missing or wrong bearer token (Authorization: Bearer <token>)."));
        });
        return app;
    }
}
