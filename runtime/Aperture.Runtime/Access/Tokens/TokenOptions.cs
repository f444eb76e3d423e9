using System.ComponentModel.DataAnnotations;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>
/// JSON Web Tokens (configuration section <c>Aperture:Tokens</c>): the central runtime's own signing keys,
/// the tokens it issues, and what every runtime accepts. A Site's runtime sets <see cref="JwksUrl"/> and
/// validates by the central runtime's keys; either may also accept an OpenID Connect provider's tokens.
/// </summary>
public sealed class TokenOptions : IValidatableObject
{
    public const string Section = "Aperture:Tokens";

    /// <summary>The <c>iss</c> of the tokens this runtime issues, and the one it accepts for runtime tokens.</summary>
    [Required]
    public string Issuer { get; set; } = "aperture";

    /// <summary>The <c>aud</c> of the tokens this runtime issues, and the one it requires of them.</summary>
    [Required]
    public string Audience { get; set; } = "aperture";

    /// <summary>
    /// The folder of the signing keys: one PEM file (<c>*.pem</c>, an ECDSA P-256 private key, PKCS#8 or SEC1)
    /// per key. The file whose name sorts last (ordinal) is the active key, the others only validate, so a
    /// rotation is a new file (<c>aperture-runtime token init-keys --rotate</c> names them by UTC time). An
    /// empty folder gets its first key when the runtime first needs one. When unset, a key is generated in memory at start: the
    /// tokens it signs stop validating when the process ends, so <c>token issue</c> refuses to run without it.
    /// </summary>
    public string? KeyDirectory { get; set; }

    /// <summary>The longest lifetime a token may be issued with.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "365.00:00:00")]
    public TimeSpan MaxTtl { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How far <c>exp</c> and <c>nbf</c> may be off the local clock (at most a minute).</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:01:00")]
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// On a Site's runtime, the central runtime's key set, e.g. <c>http://central:8080/.well-known/jwks.json</c>.
    /// When set, runtime tokens are validated by those keys instead of this runtime's own.
    /// </summary>
    public string? JwksUrl { get; set; }

    /// <summary>How long one fetch of <see cref="JwksUrl"/> (or of the OpenID Connect documents) may take.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:01:00")]
    public TimeSpan JwksTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// How long a fetched key set is used before it is fetched again. A token whose <c>kid</c> is not in it
    /// fetches it sooner, but never more than once per <see cref="TokenValidator.MinimumRefetchInterval"/>.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:30", "1.00:00:00")]
    public TimeSpan JwksRefreshInterval { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>An OpenID Connect provider whose tokens are accepted too; off while its authority is empty.</summary>
    public TokenOidcOptions Oidc { get; set; } = new();

    /// <summary>The claim of an OpenID Connect provider's token that names the tenant (runtime tokens always carry <c>tenant</c>).</summary>
    [Required]
    public string TenantClaim { get; set; } = "tenant";

    /// <summary>The claim of an OpenID Connect provider's token that names the role: viewer, editor, admin or super-admin (runtime tokens always carry <c>role</c>).</summary>
    [Required]
    public string RoleClaim { get; set; } = "role";

    /// <summary>The claim of an OpenID Connect provider's token that names the subject (runtime tokens always carry <c>sub</c>).</summary>
    [Required]
    public string SubjectClaim { get; set; } = "sub";

    public bool OidcEnabled => !string.IsNullOrWhiteSpace(Oidc.Authority);

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!string.IsNullOrWhiteSpace(JwksUrl) && !IsHttpUrl(JwksUrl))
        {
            yield return new ValidationResult("must be an absolute http or https URL", [nameof(JwksUrl)]);
        }

        if (OidcEnabled)
        {
            if (!IsHttpUrl(Oidc.Authority!))
            {
                yield return new ValidationResult("must be an absolute http or https URL", [$"{nameof(Oidc)}:{nameof(TokenOidcOptions.Authority)}"]);
            }

            if (string.IsNullOrWhiteSpace(Oidc.Audience))
            {
                yield return new ValidationResult("is required when Oidc:Authority is set", [$"{nameof(Oidc)}:{nameof(TokenOidcOptions.Audience)}"]);
            }
        }
    }

    private static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

/// <summary>The OpenID Connect provider of <see cref="TokenOptions.Oidc"/>.</summary>
public sealed class TokenOidcOptions
{
    /// <summary>The provider's issuer, e.g. <c>https://login.example.com/realms/acme</c>; its discovery document and JWKS are read from there.</summary>
    public string? Authority { get; set; }

    /// <summary>The <c>aud</c> the provider's tokens must carry (the client id the provider issues them for).</summary>
    public string? Audience { get; set; }

    /// <summary>False only for a provider on plain HTTP (tests, local development).</summary>
    public bool RequireHttpsMetadata { get; set; } = true;
}
