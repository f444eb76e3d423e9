using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>
/// An OpenID Connect provider over real HTTP on loopback: discovery, JWKS, an authorize endpoint
/// that logs in <see cref="NextEmail"/> at once and redirects back with a code, and a token
/// endpoint that checks the client, the redirect URI and PKCE and issues an RS256 id_token.
/// </summary>
public sealed class TestOidcProvider : IAsyncDisposable
{
    public const string ClientId = "aperture-dashboard";
    public const string ClientSecret = "test-client-secret";

    private readonly RSA _rsa = RSA.Create(2048);
    private readonly ConcurrentDictionary<string, PendingCode> _codes = new(StringComparer.Ordinal);
    private WebApplication _app = null!;

    private sealed record PendingCode(string Email, string Nonce, string RedirectUri, string? Challenge);

    public string Authority { get; private set; } = string.Empty;

    /// <summary>Who the next login is.</summary>
    public string NextEmail { get; set; } = "alice@example.com";

    public int TokensIssued => _tokensIssued;

    private int _tokensIssued;

    public static async Task<TestOidcProvider> StartAsync()
    {
        var provider = new TestOidcProvider();
        var port = FreePort.Next();
        provider.Authority = $"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls(provider.Authority);
        provider._app = builder.Build();
        provider.Map(provider._app);
        await provider._app.StartAsync();
        return provider;
    }

    private SecurityKey SigningKey => new RsaSecurityKey(_rsa) { KeyId = "test-key-1" };

    private void Map(WebApplication app)
    {
        app.MapGet("/.well-known/openid-configuration", () => Results.Text(
            $$"""
            {
              "issuer": "{{Authority}}",
              "authorization_endpoint": "{{Authority}}/authorize",
              "token_endpoint": "{{Authority}}/token",
              "jwks_uri": "{{Authority}}/jwks",
              "response_types_supported": ["code"],
              "subject_types_supported": ["public"],
              "id_token_signing_alg_values_supported": ["RS256"],
              "scopes_supported": ["openid", "email", "profile"],
              "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
              "code_challenge_methods_supported": ["S256"]
            }
            """,
            "application/json"));

        app.MapGet("/jwks", () =>
        {
            var parameters = _rsa.ExportParameters(includePrivateParameters: false);
            return Results.Json(new
            {
                keys = new[]
                {
                    new { kty = "RSA", use = "sig", alg = "RS256", kid = "test-key-1", n = Base64UrlEncoder.Encode(parameters.Modulus), e = Base64UrlEncoder.Encode(parameters.Exponent) },
                },
            });
        });

        app.MapGet("/authorize", (HttpRequest request) =>
        {
            var query = request.Query;
            if (query["client_id"] != ClientId || query["response_type"] != "code" || string.IsNullOrEmpty(query["redirect_uri"]))
            {
                return Results.BadRequest("bad authorization request");
            }

            var code = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            _codes[code] = new PendingCode(NextEmail, query["nonce"].ToString(), query["redirect_uri"].ToString(),
                query["code_challenge"].ToString() is { Length: > 0 } challenge ? challenge : null);
            return Results.Redirect($"{query["redirect_uri"]}?code={code}&state={Uri.EscapeDataString(query["state"].ToString())}");
        });

        app.MapPost("/token", async (HttpRequest request) =>
        {
            var form = await request.ReadFormAsync();
            var (clientId, clientSecret) = (form["client_id"].ToString(), form["client_secret"].ToString());
            if (request.Headers.Authorization.ToString() is { Length: > 6 } basic && basic.StartsWith("Basic ", StringComparison.Ordinal))
            {
                var pair = Encoding.UTF8.GetString(Convert.FromBase64String(basic[6..])).Split(':', 2);
                (clientId, clientSecret) = (Uri.UnescapeDataString(pair[0]), Uri.UnescapeDataString(pair[1]));
            }

            if (clientId != ClientId || clientSecret != ClientSecret)
            {
                return Results.Json(new { error = "invalid_client" }, statusCode: 401);
            }

            if (form["grant_type"] != "authorization_code" || !_codes.TryRemove(form["code"].ToString(), out var pending) || pending.RedirectUri != form["redirect_uri"])
            {
                return Results.Json(new { error = "invalid_grant" }, statusCode: 400);
            }

            if (pending.Challenge is not null
                && Base64UrlEncoder.Encode(SHA256.HashData(Encoding.ASCII.GetBytes(form["code_verifier"].ToString()))) != pending.Challenge)
            {
                return Results.Json(new { error = "invalid_grant", error_description = "PKCE verification failed" }, statusCode: 400);
            }

            var accessToken = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
            var hash = SHA256.HashData(Encoding.ASCII.GetBytes(accessToken));
            var idToken = new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
            {
                Issuer = Authority,
                Audience = ClientId,
                Subject = new ClaimsIdentity(
                [
                    new Claim("sub", pending.Email),
                    new Claim("email", pending.Email),
                    new Claim("email_verified", "true", ClaimValueTypes.Boolean),
                    new Claim("nonce", pending.Nonce),
                    new Claim("at_hash", Base64UrlEncoder.Encode(hash[..16])),
                ]),
                IssuedAt = TimeProvider.System.GetUtcNow().UtcDateTime,
                NotBefore = TimeProvider.System.GetUtcNow().UtcDateTime.AddMinutes(-1),
                Expires = TimeProvider.System.GetUtcNow().UtcDateTime.AddMinutes(10),
                SigningCredentials = new SigningCredentials(SigningKey, SecurityAlgorithms.RsaSha256),
            });
            Interlocked.Increment(ref _tokensIssued);
            return Results.Json(new { access_token = accessToken, token_type = "Bearer", expires_in = 600, id_token = idToken });
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _rsa.Dispose();
    }
}
