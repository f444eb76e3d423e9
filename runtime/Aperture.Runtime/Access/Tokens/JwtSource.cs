using System.Collections.Concurrent;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>
/// JWTs, from this runtime's own keys, the central runtime's JWKS (a Site) or an OpenID Connect provider. A token
/// that validated is remembered until its <c>exp</c>, for at most <see cref="RememberFor"/>: a client sends the same
/// token with every request, and checking its ES256 signature each time is most of what a request costs here.
/// </summary>
public sealed class JwtSource(TokenValidator validator, IOptions<TokenOptions> options, TimeProvider time) : ICredentialSource
{
    /// <summary>How long a validated token is taken on trust; a key withdrawn from a JWKS stops its tokens within it.</summary>
    public static readonly TimeSpan RememberFor = TimeSpan.FromSeconds(60);

    private const int MaxRemembered = 50_000;
    private readonly ConcurrentDictionary<string, (Principal Principal, DateTimeOffset Until)> _validated = new(StringComparer.Ordinal);

    // Keys made in memory at start sign nothing anyone holds; only a key folder, a central JWKS or a provider lets people in.
    public ValueTask<bool> IsConfiguredAsync() =>
        ValueTask.FromResult(options.Value.KeyDirectory is not null || options.Value.JwksUrl is not null || options.Value.OidcEnabled);

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented)
    {
        if (!presented.LooksLikeJwt)
        {
            return null;
        }

        var token = presented.BearerToken!;
        var now = time.GetUtcNow();
        if (_validated.TryGetValue(token, out var remembered) && now < remembered.Until)
        {
            return AuthenticationOutcome.Accepted(remembered.Principal);
        }

        var outcome = await validator.ValidateAsync(token, context.RequestAborted);
        if (outcome.Principal is not { } principal)
        {
            return AuthenticationOutcome.Unauthorized($"The token is not valid: {outcome.Failure}");
        }

        if (_validated.Count >= MaxRemembered)
        {
            _validated.Clear();
        }

        var until = now + RememberFor;
        _validated[token] = (principal, principal.ExpiresAt is { } expires && expires < until ? expires : until);
        return AuthenticationOutcome.Accepted(principal);
    }
}
