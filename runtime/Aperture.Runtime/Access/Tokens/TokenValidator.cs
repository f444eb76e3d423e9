using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Protocols;
using Microsoft.IdentityModel.Protocols.OpenIdConnect;
using Microsoft.IdentityModel.Tokens;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>What <see cref="TokenValidator.ValidateAsync"/> found: the token's principal, or why it was refused.</summary>
/// <param name="Failure">A fixed sentence that never quotes the token or any part of it; safe to log and to answer with.</param>
public sealed record TokenValidationOutcome(Principal? Principal, string? Failure)
{
    [MemberNotNullWhen(true, nameof(Principal))]
    [MemberNotNullWhen(false, nameof(Failure))]
    public bool Succeeded => Principal is not null;

    public static TokenValidationOutcome Valid(Principal principal) => new(principal, null);

    public static TokenValidationOutcome Refused(string reason) => new(null, reason);
}

/// <summary>
/// Checks a bearer JWT and makes its <see cref="Principal"/> (<see cref="CredentialKind.Jwt"/>). Runtime tokens
/// (<c>iss</c> = <see cref="TokenOptions.Issuer"/>) are checked by this runtime's own keys, or on a Site by the
/// central runtime's JWKS (<see cref="TokenOptions.JwksUrl"/>); an OpenID Connect provider's tokens
/// (<see cref="TokenOptions.Oidc"/>) by its discovery document and JWKS. The source is picked by the issuer.
/// </summary>
/// <remarks>
/// Through <see cref="JsonWebTokenHandler"/>: a signature is required, by ES256 or RS256 only (so <c>alg: none</c>
/// and HS256, even one keyed with a public key's bytes, are refused), by the key the header's <c>kid</c> names
/// (an unknown kid is refused; it makes the remote key set be fetched again, at most once per
/// <see cref="MinimumRefetchInterval"/>); <c>exp</c> is required, and <c>nbf</c> for runtime tokens (a provider's
/// token without <c>nbf</c> must carry <c>iat</c>, which stands for it), within <see cref="TokenOptions.ClockSkew"/>
/// of <see cref="TimeProvider"/>'s now; <c>iss</c> and <c>aud</c> must match; the tenant, role and subject claims
/// are required and the role must be one of the four. Register as a singleton: it caches the fetched key sets.
/// </remarks>
public sealed partial class TokenValidator : IDisposable
{
    /// <summary>The name of the <see cref="IHttpClientFactory"/> client that fetches key sets and discovery documents.</summary>
    public const string HttpClientName = "aperture-tokens";

    /// <summary>The fewest seconds between two fetches of a key set, whatever kid a token names.</summary>
    public static readonly TimeSpan MinimumRefetchInterval = TimeSpan.FromSeconds(30);

    /// <summary>The signing algorithms accepted; anything else (none, HS256, ES384 …) is refused.</summary>
    public static readonly IReadOnlyList<string> AllowedAlgorithms = [SecurityAlgorithms.EcdsaSha256, SecurityAlgorithms.RsaSha256];

    /// <summary>Longer bearer values are refused before they are parsed.</summary>
    public const int MaxTokenLength = 16 * 1024;

    private static readonly JsonWebTokenHandler Handler = new() { MaximumTokenSizeInBytes = MaxTokenLength };

    private readonly TokenOptions _options;
    private readonly RuntimeSigningKeys _ownKeys;
    private readonly TimeProvider _time;
    private readonly ILogger<TokenValidator> _logger;
    private readonly RemoteKeySet? _centralKeys;
    private readonly ConfigurationManager<OpenIdConnectConfiguration>? _oidc;

    public TokenValidator(IOptions<TokenOptions> options, RuntimeSigningKeys ownKeys, TimeProvider time, IHttpClientFactory httpClients, ILogger<TokenValidator> logger)
    {
        _options = options.Value;
        _ownKeys = ownKeys;
        _time = time;
        _logger = logger;
        if (!string.IsNullOrWhiteSpace(_options.JwksUrl))
        {
            _centralKeys = new RemoteKeySet(_options.JwksUrl, new KeyDocumentRetriever(httpClients, _options.JwksTimeout, requireHttps: false), _options, time, logger);
        }

        if (_options.OidcEnabled)
        {
            var metadata = $"{_options.Oidc.Authority!.TrimEnd('/')}/.well-known/openid-configuration";
            _oidc = new ConfigurationManager<OpenIdConnectConfiguration>(metadata, new OpenIdConnectConfigurationRetriever(),
                new KeyDocumentRetriever(httpClients, _options.JwksTimeout, _options.Oidc.RequireHttpsMetadata))
            {
                AutomaticRefreshInterval = _options.JwksRefreshInterval > BaseConfigurationManager.MinimumAutomaticRefreshInterval
                    ? _options.JwksRefreshInterval
                    : BaseConfigurationManager.MinimumAutomaticRefreshInterval,
                RefreshInterval = MinimumRefetchInterval,
            };
        }
    }

    /// <summary>The principal of <paramref name="token"/> (the bearer value, without <c>Bearer </c>), or why it is refused.</summary>
    public async Task<TokenValidationOutcome> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        var outcome = await CheckAsync(token, cancellationToken);
        if (!outcome.Succeeded)
        {
            LogRefused(_logger, outcome.Failure);
        }

        return outcome;
    }

    private async Task<TokenValidationOutcome> CheckAsync(string token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(token))
        {
            return TokenValidationOutcome.Refused("no token");
        }

        if (token.Length > MaxTokenLength)
        {
            return TokenValidationOutcome.Refused($"the token is longer than {MaxTokenLength} characters");
        }

        JsonWebToken jwt;
        try
        {
            jwt = new JsonWebToken(token);
        }
        catch (Exception e) when (e is ArgumentException or SecurityTokenMalformedException or FormatException or System.Text.Json.JsonException)
        {
            return TokenValidationOutcome.Refused("the token is not a well-formed JWT");
        }

        if (jwt.IsEncrypted)
        {
            return TokenValidationOutcome.Refused("encrypted tokens (JWE) are not accepted");
        }

        if (!jwt.TryGetHeaderValue<string>(JwtHeaderParameterNames.Alg, out var algorithm) || !jwt.IsSigned
            || string.Equals(algorithm, SecurityAlgorithms.None, StringComparison.OrdinalIgnoreCase))
        {
            return TokenValidationOutcome.Refused("the token is not signed (alg none is refused)");
        }

        if (!AllowedAlgorithms.Contains(algorithm, StringComparer.Ordinal))
        {
            return TokenValidationOutcome.Refused("the token's signing algorithm is not accepted (ES256 or RS256 only)");
        }

        if (!jwt.TryGetHeaderValue<string>(JwtHeaderParameterNames.Kid, out var keyId) || string.IsNullOrEmpty(keyId))
        {
            return TokenValidationOutcome.Refused("the token names no signing key (kid)");
        }

        if (!jwt.TryGetPayloadValue<string>(JwtRegisteredClaimNames.Iss, out var issuer) || string.IsNullOrEmpty(issuer))
        {
            return TokenValidationOutcome.Refused("the token has no issuer (iss)");
        }

        var source = await SourceOfAsync(issuer, keyId, cancellationToken);
        if (source.Failure is not null)
        {
            return TokenValidationOutcome.Refused(source.Failure);
        }

        var parameters = new TokenValidationParameters
        {
            ValidIssuer = source.Issuer,
            ValidAudience = source.Audience,
            IssuerSigningKeys = source.Keys,
            TryAllIssuerSigningKeys = false,
            ValidAlgorithms = AllowedAlgorithms,
            RequireSignedTokens = true,
            RequireExpirationTime = true,
            RequireAudience = true,
            ValidateIssuer = true,
            ValidateAudience = true,
            ValidateLifetime = true,
            ValidateIssuerSigningKey = true,
            ClockSkew = _options.ClockSkew,
            LifetimeValidator = ValidateLifetime,
            SaveSigninToken = false,
            LogValidationExceptions = false,
        };

        var result = await Handler.ValidateTokenAsync(jwt, parameters);
        if (!result.IsValid)
        {
            if (result.Exception is SecurityTokenSignatureKeyNotFoundException)
            {
                source.OnUnknownKey?.Invoke();
            }

            return TokenValidationOutcome.Refused(ReasonOf(result.Exception));
        }

        if (NotBeforeFailure(jwt, source.NotBeforeRequired) is { } notBefore)
        {
            return TokenValidationOutcome.Refused(notBefore);
        }

        return PrincipalOf(jwt, source);
    }

    /// <summary>Where a token of <paramref name="issuer"/> is checked: its keys, the issuer and audience it must name, its claim names.</summary>
    private sealed record Source(
        string? Failure,
        string Issuer = "",
        string Audience = "",
        IReadOnlyList<SecurityKey>? Keys = null,
        string TenantClaim = RuntimeTokenClaims.Tenant,
        string RoleClaim = RuntimeTokenClaims.Role,
        string SubjectClaim = RuntimeTokenClaims.Subject,
        bool NotBeforeRequired = true,
        Action? OnUnknownKey = null);

    private async Task<Source> SourceOfAsync(string issuer, string keyId, CancellationToken cancellationToken)
    {
        if (string.Equals(issuer, _options.Issuer, StringComparison.Ordinal))
        {
            IReadOnlyList<SecurityKey> keys;
            if (_centralKeys is null)
            {
                try
                {
                    keys = _ownKeys.ValidationKeys;
                }
                catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    LogOwnKeysUnreadable(_logger, e.Message);
                    return new Source("this runtime's signing keys could not be read");
                }
            }
            else if (await _centralKeys.KeysForAsync(keyId, cancellationToken) is { } central)
            {
                keys = central;
            }
            else
            {
                return new Source("the central runtime's signing keys (Aperture:Tokens:JwksUrl) could not be fetched");
            }

            return new Source(null, _options.Issuer, _options.Audience, keys);
        }

        if (_oidc is null)
        {
            return new Source("the token's issuer is not accepted");
        }

        OpenIdConnectConfiguration configuration;
        try
        {
            configuration = await _oidc.GetConfigurationAsync(cancellationToken);
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or HttpRequestException or TimeoutException or ArgumentException)
        {
            LogOidcUnavailable(_logger, _oidc.MetadataAddress, e.Message);
            return new Source("the OpenID Connect provider's keys could not be fetched");
        }

        if (!string.Equals(issuer, configuration.Issuer, StringComparison.Ordinal))
        {
            return new Source("the token's issuer is not accepted");
        }

        return new Source(null, configuration.Issuer, _options.Oidc.Audience!, [.. configuration.SigningKeys],
            _options.TenantClaim, _options.RoleClaim, _options.SubjectClaim, NotBeforeRequired: false, OnUnknownKey: _oidc.RequestRefresh);
    }

    /// <summary>
    /// The handler's lifetime rule (exp required, nbf when present, both within the skew) on
    /// <see cref="TimeProvider"/>'s clock; 8.23 keeps TokenValidationParameters.TimeProvider internal.
    /// </summary>
    private bool ValidateLifetime(DateTime? notBefore, DateTime? expires, SecurityToken token, TokenValidationParameters parameters)
    {
        var now = _time.GetUtcNow().UtcDateTime;
        if (expires is null)
        {
            throw new SecurityTokenNoExpirationException("The token has no expiry.");
        }

        if (notBefore is { } from && from > expires)
        {
            throw new SecurityTokenInvalidLifetimeException("The token's not-before time is after its expiry.");
        }

        if (notBefore is { } start && start > now + parameters.ClockSkew)
        {
            throw new SecurityTokenNotYetValidException("The token is not valid yet.") { NotBefore = start };
        }

        if (expires < now - parameters.ClockSkew)
        {
            throw new SecurityTokenExpiredException("The token has expired.") { Expires = expires.Value };
        }

        return true;
    }

    private string? NotBeforeFailure(JsonWebToken jwt, bool required)
    {
        if (jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Nbf, out _))
        {
            // Checked by the handler, with the skew.
            return null;
        }

        if (required || !jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Iat, out var issuedAt))
        {
            return "the token has no not-before time (nbf)";
        }

        return DateTimeOffset.FromUnixTimeSeconds(issuedAt) > _time.GetUtcNow() + _options.ClockSkew ? "the token is not valid yet" : null;
    }

    private static TokenValidationOutcome PrincipalOf(JsonWebToken jwt, Source source)
    {
        if (!jwt.TryGetPayloadValue<string>(source.TenantClaim, out var tenant) || string.IsNullOrEmpty(tenant))
        {
            return TokenValidationOutcome.Refused($"the token has no tenant claim ({source.TenantClaim})");
        }

        if (!RuntimeTokenClaims.IsValidTenant(tenant))
        {
            return TokenValidationOutcome.Refused($"the token's tenant claim ({source.TenantClaim}) is not a tenant id");
        }

        if (!jwt.TryGetPayloadValue<string>(source.SubjectClaim, out var subject) || string.IsNullOrEmpty(subject))
        {
            return TokenValidationOutcome.Refused($"the token has no subject claim ({source.SubjectClaim})");
        }

        if (!RuntimeTokenClaims.IsValidSubject(subject))
        {
            return TokenValidationOutcome.Refused($"the token's subject claim ({source.SubjectClaim}) is malformed");
        }

        if (RoleOf(jwt, source.RoleClaim) is not { } role)
        {
            return TokenValidationOutcome.Refused(
                $"the token's role claim ({source.RoleClaim}) is missing or not one of viewer, editor, admin, super-admin");
        }

        return TokenValidationOutcome.Valid(Principal.ForRole(tenant, subject, role, CredentialKind.Jwt) with
        {
            ExpiresAt = jwt.TryGetPayloadValue<long>(JwtRegisteredClaimNames.Exp, out var exp) ? DateTimeOffset.FromUnixTimeSeconds(exp) : null,
        });
    }

    /// <summary>The role a claim names; of a list of names (a provider's groups), the highest one known.</summary>
    private static Role? RoleOf(JsonWebToken jwt, string claim)
    {
        // A JSON array arrives as one claim per element.
        var names = jwt.Claims.Where(c => string.Equals(c.Type, claim, StringComparison.Ordinal)).Select(c => c.Value).ToList();
        if (names.Count == 1)
        {
            return Roles.TryParse(names[0], out var role) ? role : null;
        }

        Role? highest = null;
        foreach (var name in names)
        {
            if (Roles.TryParse(name, out var role) && (highest is null || role > highest))
            {
                highest = role;
            }
        }

        return highest;
    }

    /// <summary>A fixed sentence for each way the handler refuses; its messages are not used, as they may quote the token.</summary>
    private static string ReasonOf(Exception? exception) => exception switch
    {
        SecurityTokenExpiredException => "the token has expired",
        SecurityTokenNotYetValidException => "the token is not valid yet",
        SecurityTokenNoExpirationException => "the token has no expiry (exp)",
        SecurityTokenInvalidLifetimeException => "the token's lifetime is invalid",
        SecurityTokenInvalidIssuerException => "the token's issuer is not accepted",
        SecurityTokenInvalidAudienceException => "the token's audience is not accepted",
        SecurityTokenInvalidAlgorithmException => "the token's signing algorithm is not accepted (ES256 or RS256 only)",
        SecurityTokenSignatureKeyNotFoundException => "the token's signing key (kid) is not known",
        SecurityTokenInvalidSignatureException => "the token's signature does not verify",
        SecurityTokenMalformedException => "the token is not a well-formed JWT",
        _ => "the token is not valid",
    };

    public void Dispose() => _centralKeys?.Dispose();

    /// <summary>
    /// A key set fetched over HTTP (the central runtime's JWKS): fetched on first use, again after
    /// <see cref="TokenOptions.JwksRefreshInterval"/>, and sooner when a token names a kid it lacks, but never
    /// twice within <see cref="MinimumRefetchInterval"/>; a failed fetch keeps the keys fetched before.
    /// </summary>
    private sealed class RemoteKeySet(string url, IDocumentRetriever retriever, TokenOptions options, TimeProvider time, ILogger logger) : IDisposable
    {
        private readonly SemaphoreSlim _fetching = new(1, 1);
        private volatile Fetched? _fetched;
        private long _lastAttemptTicks = long.MinValue;

        private sealed record Fetched(IReadOnlyList<SecurityKey> Keys, HashSet<string> KeyIds, DateTimeOffset At);

        /// <returns>The keys to check a token of <paramref name="keyId"/> with; null when none were ever fetched.</returns>
        public async Task<IReadOnlyList<SecurityKey>?> KeysForAsync(string keyId, CancellationToken cancellationToken)
        {
            if (NeedsFetch(_fetched, keyId) && MayFetch())
            {
                await _fetching.WaitAsync(cancellationToken);
                try
                {
                    if (NeedsFetch(_fetched, keyId) && MayFetch())
                    {
                        await FetchAsync();
                    }
                }
                finally
                {
                    _fetching.Release();
                }
            }

            return _fetched?.Keys;
        }

        private bool NeedsFetch(Fetched? fetched, string keyId) =>
            fetched is null || !fetched.KeyIds.Contains(keyId) || time.GetUtcNow() - fetched.At >= options.JwksRefreshInterval;

        private bool MayFetch()
        {
            var last = Interlocked.Read(ref _lastAttemptTicks);
            return last == long.MinValue || time.GetUtcNow().UtcTicks - last >= MinimumRefetchInterval.Ticks;
        }

        private async Task FetchAsync()
        {
            Interlocked.Exchange(ref _lastAttemptTicks, time.GetUtcNow().UtcTicks);
            try
            {
                // Not the caller's token: one caller giving up must not cancel the fetch the others wait for.
                var document = await retriever.GetDocumentAsync(url, CancellationToken.None);
                var keys = new JsonWebKeySet(document).GetSigningKeys();
                if (keys.Count == 0)
                {
                    LogJwksFailed(logger, url, "it holds no signing key");
                    return;
                }

                var keyIds = keys.Select(k => k.KeyId).Where(id => !string.IsNullOrEmpty(id)).ToHashSet(StringComparer.Ordinal);
                _fetched = new Fetched([.. keys], keyIds, time.GetUtcNow());
                LogJwksFetched(logger, url, keys.Count);
            }
            catch (Exception e) when (e is HttpRequestException or TimeoutException or IOException or ArgumentException or InvalidOperationException or System.Text.Json.JsonException)
            {
                LogJwksFailed(logger, url, e.Message);
            }
        }

        public void Dispose() => _fetching.Dispose();
    }

    /// <summary>Fetches a key set or discovery document through <see cref="IHttpClientFactory"/>, within a timeout and a size limit.</summary>
    private sealed class KeyDocumentRetriever(IHttpClientFactory httpClients, TimeSpan timeout, bool requireHttps) : IDocumentRetriever
    {
        private const int MaxDocumentBytes = 1024 * 1024;

        public async Task<string> GetDocumentAsync(string address, CancellationToken cancel)
        {
            if (requireHttps && !address.StartsWith("https://", StringComparison.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"{address} is not https ({TokenOptions.Section}:Oidc:RequireHttpsMetadata is true)");
            }

            using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
            limit.CancelAfter(timeout);
            using var client = httpClients.CreateClient(HttpClientName);
            client.MaxResponseContentBufferSize = MaxDocumentBytes;
            try
            {
                using var response = await client.GetAsync(new Uri(address), limit.Token);
                response.EnsureSuccessStatusCode();
                return await response.Content.ReadAsStringAsync(limit.Token);
            }
            catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
            {
                throw new TimeoutException($"{address} did not answer within {timeout.TotalSeconds} s");
            }
        }
    }

    [LoggerMessage(EventId = 710, Level = LogLevel.Debug, Message = "Bearer token refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string reason);

    [LoggerMessage(EventId = 711, Level = LogLevel.Information, Message = "Fetched {Count} signing keys from {Url}")]
    private static partial void LogJwksFetched(ILogger logger, string url, int count);

    [LoggerMessage(EventId = 712, Level = LogLevel.Warning, Message = "Could not fetch the signing keys from {Url}: {Reason}")]
    private static partial void LogJwksFailed(ILogger logger, string url, string reason);

    [LoggerMessage(EventId = 714, Level = LogLevel.Error, Message = "Cannot check runtime tokens, the signing keys do not read: {Reason}")]
    private static partial void LogOwnKeysUnreadable(ILogger logger, string reason);

    [LoggerMessage(EventId = 713, Level = LogLevel.Warning, Message = "Could not read the OpenID Connect provider's configuration at {Address}: {Reason}")]
    private static partial void LogOidcUnavailable(ILogger logger, string address, string reason);
}
