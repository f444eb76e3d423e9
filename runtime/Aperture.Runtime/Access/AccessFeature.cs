using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Identity;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Access;

/// <summary>
/// One identity layer for every API of the role: credential sources (the admin token here; each feature
/// may add its own, such as the dashboard's API keys and logins) and the check of each route's declared rule.
/// </summary>
public static class AccessFeature
{
    public static void AddAccess(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton(new AuthTokenOptions
        {
            Token = builder.Configuration["Aperture:AuthToken"] is { Length: > 0 } configured ? configured : builder.Configuration["APERTURE_AUTH_TOKEN"],
        });
        builder.Services.AddSingleton<ICredentialSource, AdminTokenSource>();
        builder.AddRuntimeTokens();
        builder.Services.AddSingleton<ICredentialSource, JwtSource>();
        var identity = builder.AddValidatedOptions<IdentityOptions>(IdentityOptions.Section);
        if (identity.CentralUrl is not null)
        {
            // A Site: the keys the central runtime issued are checked there.
            builder.Services.AddSingleton<ICredentialSource, CentralApiKeySource>();
        }

        builder.Services.AddSingleton<RequestAuthenticator>();
        builder.Services.AddSingleton<CredentialRateLimits>();
        builder.Services.AddSingleton<TenantUsage>();
    }

    public static void MapAccess(this WebApplication app)
    {
        app.UseAccessRules();
        app.MapPermissionsApi();
        app.MapJwks().Public("the public keys that verify this runtime's tokens");
    }
}
