using Microsoft.Extensions.Primitives;

namespace Aperture.Runtime.Access;

/// <summary>The credential a request presents, read once from its headers.</summary>
public sealed class PresentedCredential
{
    private const string Bearer = "Bearer ";

    private PresentedCredential(string? bearer, string? apiKey)
    {
        BearerToken = bearer;
        ApiKey = apiKey;
    }

    /// <summary>The value of <c>Authorization: Bearer …</c>, if any.</summary>
    public string? BearerToken { get; }

    /// <summary>The value of <c>X-Api-Key</c>, if any.</summary>
    public string? ApiKey { get; }

    public bool IsEmpty => BearerToken is null && ApiKey is null;

    /// <summary>A JWT has three base64url parts; an API key or the admin token has none.</summary>
    public bool LooksLikeJwt => BearerToken is { } token && token.Count(c => c == '.') == 2;

    /// <summary>What an API key check should look at: <c>X-Api-Key</c>, else a bearer value that is not a JWT.</summary>
    public string? KeyCandidate => ApiKey ?? (LooksLikeJwt ? null : BearerToken);

    public static PresentedCredential From(HttpRequest request)
    {
        var authorization = request.Headers.Authorization.ToString();
        var bearer = authorization.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) ? authorization[Bearer.Length..].Trim() : null;
        var apiKey = request.Headers["X-Api-Key"] is { Count: > 0 } header && !StringValues.IsNullOrEmpty(header) ? header.ToString().Trim() : null;
        return new PresentedCredential(string.IsNullOrEmpty(bearer) ? null : bearer, string.IsNullOrEmpty(apiKey) ? null : apiKey);
    }
}

/// <summary>The result of asking a credential source about a request.</summary>
/// <param name="Principal">Who the request is, when the credential was accepted.</param>
/// <param name="Status">401 or 403 when it was refused.</param>
/// <param name="Reason">Why it was refused; never holds the credential itself.</param>
public sealed record AuthenticationOutcome(Principal? Principal, int Status, string? Reason)
{
    public static AuthenticationOutcome Accepted(Principal principal) => new(principal, StatusCodes.Status200OK, null);

    public static AuthenticationOutcome Unauthorized(string reason) => new(null, StatusCodes.Status401Unauthorized, reason);

    public static AuthenticationOutcome Forbidden(string reason) => new(null, StatusCodes.Status403Forbidden, reason);
}

/// <summary>One kind of credential (the admin token, JWTs, API keys, a login session).</summary>
public interface ICredentialSource
{
    /// <summary>Whether this kind can let anyone in at all; while no source can, the runtime is open (a developer's machine).</summary>
    ValueTask<bool> IsConfiguredAsync();

    /// <returns>Null when the request does not present this kind of credential.</returns>
    ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented);
}
