namespace Aperture.Runtime.Access;

/// <summary>Who may call the runtime's APIs: today the admin token (APERTURE_AUTH_TOKEN) in front of every route but the probes.</summary>
public static class AccessFeature
{
    public static void AddAccess(this WebApplicationBuilder builder) =>
        builder.Services.AddSingleton(new AuthTokenOptions
        {
            Token = builder.Configuration["Aperture:AuthToken"] is { Length: > 0 } configured ? configured : builder.Configuration["APERTURE_AUTH_TOKEN"],
        });

    public static void MapAccess(this WebApplication app) => app.UseBearerTokenAuthentication();
}
