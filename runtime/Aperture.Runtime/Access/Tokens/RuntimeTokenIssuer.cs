using System.Security.Cryptography;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;

namespace Aperture.Runtime.Access.Tokens;

/// <summary>The claims of a runtime token, and what their values may be.</summary>
public static class RuntimeTokenClaims
{
    public const string Subject = "sub";
    public const string Tenant = "tenant";
    public const string Role = "role";
    public const string TokenId = "jti";

    /// <summary>The longest tenant id (a DNS label).</summary>
    public const int MaxTenantLength = 63;

    /// <summary>A tenant id as everywhere in Aperture (<see cref="TenantIds"/>): it ends up in Redis keys and queries.</summary>
    public static bool IsValidTenant(string? tenant) => tenant is not null && TenantIds.IsValid(tenant);

    /// <summary>A subject (an email, a key id, a service name) is 1-256 characters, none of them a control character.</summary>
    public static bool IsValidSubject(string? subject) =>
        !string.IsNullOrWhiteSpace(subject) && subject.Length <= 256 && !subject.Any(char.IsControl);
}

/// <summary>
/// Issues the central runtime's own JWTs: ES256, signed by the active key of <see cref="RuntimeSigningKeys"/>
/// (header <c>kid</c>), with <c>iss</c>, <c>aud</c>, <c>sub</c>, <c>tenant</c>, <c>role</c> (viewer, editor,
/// admin, super-admin), <c>iat</c>, <c>nbf</c>, <c>exp</c> and <c>jti</c>.
/// </summary>
public sealed class RuntimeTokenIssuer(RuntimeSigningKeys keys, IOptions<TokenOptions> options, TimeProvider time)
{
    private static readonly JsonWebTokenHandler Handler = new() { SetDefaultTimesOnTokenCreation = false };

    private readonly TokenOptions _options = options.Value;

    /// <summary>A compact JWT for <paramref name="subject"/> acting as <paramref name="role"/> in <paramref name="tenant"/>, valid from now for <paramref name="ttl"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="ttl"/> is not positive or is over <see cref="TokenOptions.MaxTtl"/>; the role is not one of the four.</exception>
    /// <exception cref="ArgumentException">The tenant or subject is empty or malformed.</exception>
    public string Issue(string tenant, string subject, Role role, TimeSpan ttl)
    {
        if (!RuntimeTokenClaims.IsValidTenant(tenant))
        {
            throw new ArgumentException(
                $"A tenant id is 1-{RuntimeTokenClaims.MaxTenantLength} letters, digits, '.', '_' or '-', starting with a letter or digit.", nameof(tenant));
        }

        if (!RuntimeTokenClaims.IsValidSubject(subject))
        {
            throw new ArgumentException("A subject is 1-256 characters without control characters.", nameof(subject));
        }

        if (!Enum.IsDefined(role))
        {
            throw new ArgumentOutOfRangeException(nameof(role), role, "The role must be viewer, editor, admin or super-admin.");
        }

        if (ttl <= TimeSpan.Zero || ttl > _options.MaxTtl)
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl,
                $"A token's lifetime must be more than zero and at most {_options.MaxTtl} ({TokenOptions.Section}:MaxTtl).");
        }

        // JWT times are whole seconds.
        var now = DateTimeOffset.FromUnixTimeSeconds(time.GetUtcNow().ToUnixTimeSeconds()).UtcDateTime;
        var key = keys.Active;
        return Handler.CreateToken(new SecurityTokenDescriptor
        {
            Issuer = _options.Issuer,
            Audience = _options.Audience,
            IssuedAt = now,
            NotBefore = now,
            Expires = now + ttl,
            Claims = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                [RuntimeTokenClaims.Subject] = subject,
                [RuntimeTokenClaims.Tenant] = tenant,
                [RuntimeTokenClaims.Role] = Roles.Name(role),
                [RuntimeTokenClaims.TokenId] = Base64UrlEncoder.Encode(RandomNumberGenerator.GetBytes(16)),
            },
            SigningCredentials = new SigningCredentials(key.SecurityKey, SecurityAlgorithms.EcdsaSha256),
        });
    }
}
