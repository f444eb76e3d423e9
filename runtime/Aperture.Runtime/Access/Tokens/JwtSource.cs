namespace Aperture.Runtime.Access.Tokens;

/// <summary>JWTs, from this runtime's own keys, the central runtime's JWKS (a Site) or an OpenID Connect provider.</summary>
public sealed class JwtSource(TokenValidator validator, Microsoft.Extensions.Options.IOptions<TokenOptions> options) : ICredentialSource
{
    // Keys made in memory at start sign nothing anyone holds; only a key folder, a central JWKS or a provider lets people in.
    public ValueTask<bool> IsConfiguredAsync() =>
        ValueTask.FromResult(options.Value.KeyDirectory is not null || options.Value.JwksUrl is not null || options.Value.OidcEnabled);

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented)
    {
        if (!presented.LooksLikeJwt)
        {
            return null;
        }

        var outcome = await validator.ValidateAsync(presented.BearerToken!, context.RequestAborted);
        return outcome.Principal is { } principal
            ? AuthenticationOutcome.Accepted(principal)
            : AuthenticationOutcome.Unauthorized($"The token is not valid: {outcome.Failure}");
    }
}
