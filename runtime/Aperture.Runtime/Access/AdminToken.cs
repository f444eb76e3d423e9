using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;

namespace Aperture.Runtime.Access;

/// <summary>The admin token (APERTURE_AUTH_TOKEN); unset means no admin token is accepted.</summary>
public sealed class AuthTokenOptions
{
    public string? Token { get; set; }

    public bool Enabled => !string.IsNullOrEmpty(Token);

    /// <summary>Constant-time comparison of a presented bearer value with the token.</summary>
    public bool Matches(string? presented)
    {
        if (!Enabled || presented is null)
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(presented), Encoding.UTF8.GetBytes(Token!));
    }
}

/// <summary>
/// The admin token makes the caller super-admin, acting in the tenant named by <c>X-Scope-OrgID</c> (the header
/// Pyroscope, Mimir and Loki use), else <c>default</c>.
/// </summary>
public sealed partial class AdminTokenSource(AuthTokenOptions options) : ICredentialSource
{
    public const string ScopeHeader = "X-Scope-OrgID";

    public ValueTask<bool> IsConfiguredAsync() => ValueTask.FromResult(options.Enabled);

    public ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented) =>
        ValueTask.FromResult(options.Matches(presented.BearerToken)
            ? AuthenticationOutcome.Accepted(Principal.ForRole(ScopedTenant(context.Request), "admin-token", Role.SuperAdmin, CredentialKind.AdminToken))
            : null);

    /// <summary>The tenant a super-admin asked to act in.</summary>
    /// <exception cref="Platform.InvalidRequestException">The header is not a tenant id.</exception>
    public static string ScopedTenant(HttpRequest request)
    {
        var scoped = request.Headers[ScopeHeader].ToString();
        if (scoped.Length == 0)
        {
            return Platform.Tenants.Default;
        }

        return TenantIds.IsValid(scoped)
            ? scoped
            : throw new Platform.InvalidRequestException(ScopeHeader, $"{ScopeHeader} must be a tenant id (lower-case letters, digits and '-', at most 63)");
    }
}

/// <summary>The form of a tenant id, as the Tenant resource's CRD has it.</summary>
public static partial class TenantIds
{
    public static bool IsValid(string id) => Pattern().IsMatch(id);

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
