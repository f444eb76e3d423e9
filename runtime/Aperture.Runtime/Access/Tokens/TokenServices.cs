using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>
/// The JWT pieces for a feature to compose: <see cref="AddRuntimeTokens"/> registers the options and the
/// singletons, <see cref="MapJwks"/> publishes the public keys.
/// </summary>
public static class TokenServices
{
    /// <summary>The route of the key set (DESIGN.md); it must stay open, without credentials.</summary>
    public const string JwksPath = "/.well-known/jwks.json";

    /// <summary>
    /// <see cref="TokenOptions"/> (validated now), <see cref="RuntimeSigningKeys"/>, <see cref="RuntimeTokenIssuer"/>
    /// and <see cref="TokenValidator"/> as singletons, and the HTTP client that fetches key sets.
    /// </summary>
    public static TokenOptions AddRuntimeTokens(this WebApplicationBuilder builder)
    {
        var options = builder.AddValidatedOptions<TokenOptions>(TokenOptions.Section);
        builder.Services.AddHttpClient(TokenValidator.HttpClientName);
        builder.Services.AddSingleton<RuntimeSigningKeys>();
        builder.Services.AddSingleton<RuntimeTokenIssuer>();
        builder.Services.AddSingleton<TokenValidator>();
        return options;
    }

    /// <summary><c>GET /.well-known/jwks.json</c>: the public halves of this runtime's signing keys.</summary>
    public static IEndpointConventionBuilder MapJwks(this WebApplication app) =>
        app.MapGet(JwksPath, (RuntimeSigningKeys keys, HttpContext context) =>
        {
            // Short enough that a Site sees a rotation soon; Sites refetch on an unknown kid anyway.
            context.Response.Headers.CacheControl = "public, max-age=300";
            return Results.Text(keys.Jwks(), "application/json");
        });
}
