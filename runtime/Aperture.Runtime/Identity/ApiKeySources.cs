using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Identity;

/// <summary>What a key of each scope may do.</summary>
public static class ApiKeyPrincipals
{
    private static readonly IReadOnlySet<Permission> IngestOnly = new HashSet<Permission> { Permission.Ingest };

    public static Principal Of(ApiKeyRecord key) => key.Scope switch
    {
        // Pushes profiles, server samples and job events, and reads nothing.
        ApiKeyScope.Ingestion => new Principal(key.TenantId, key.KeyId, Role.Editor, IngestOnly, CredentialKind.ApiKey, key.RateLimitRps, key.ExpiresAt,
            key.IngestTenants is { } tenants ? new HashSet<string>(tenants, StringComparer.Ordinal) : null),
        ApiKeyScope.Read => Principal.ForRole(key.TenantId, key.KeyId, Role.Viewer, CredentialKind.ApiKey) with { RateLimitRps = key.RateLimitRps, ExpiresAt = key.ExpiresAt },
        _ => Principal.ForRole(key.TenantId, key.KeyId, Role.Admin, CredentialKind.ApiKey) with { RateLimitRps = key.RateLimitRps, ExpiresAt = key.ExpiresAt },
    };
}

/// <summary>The central runtime's own keys, looked up in its store.</summary>
public sealed class ApiKeySource(ApiKeyStore store, TimeProvider time) : ICredentialSource
{
    public async ValueTask<bool> IsConfiguredAsync() => await store.AnyAsync();

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented)
    {
        if (presented.KeyCandidate is not { } candidate || !candidate.StartsWith(ApiKeyStore.KeyPrefix, StringComparison.Ordinal) || candidate.Length > 256)
        {
            return null;
        }

        var key = await store.FindByHashAsync(SecretTokens.Hash(candidate), context.RequestAborted);
        return key switch
        {
            null => AuthenticationOutcome.Unauthorized("The API key is not known."),
            _ when !key.IsActive(time.GetUtcNow()) => AuthenticationOutcome.Unauthorized("The API key has expired or been revoked."),
            _ => AuthenticationOutcome.Accepted(ApiKeyPrincipals.Of(key)),
        };
    }
}

/// <summary>Where a Site's runtime checks the keys and tokens the central runtime issued (configuration section <c>Aperture:Identity</c>).</summary>
public sealed class IdentityOptions
{
    public const string Section = "Aperture:Identity";

    /// <summary>The central runtime's HTTP address (http://central:8080); unset on the central runtime itself, or where keys are not used.</summary>
    [System.ComponentModel.DataAnnotations.Url]
    public string? CentralUrl { get; set; }

    /// <summary>How long a Site trusts what the central runtime said of a key; a revoked key stops working within this.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00", "00:00:30")]
    public TimeSpan KeyCacheTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The longest wait for the central runtime's answer about a key.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "00:00:30")]
    public TimeSpan CentralTimeout { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// A Site's view of the central runtime's API keys: the key itself is sent to the central
/// <c>GET /api/v1/rbac/permissions</c>, whose answer (its tenant, scope, limit, expiry) is kept for
/// <see cref="IdentityOptions.KeyCacheTtl"/> by the key's hash, so a revocation reaches every Site within it.
/// </summary>
public sealed class CentralApiKeySource : ICredentialSource, IDisposable
{
    private const int MaxCached = 100_000;
    private readonly IdentityOptions _options;
    private readonly TimeProvider _time;
    private readonly HttpClient _http;
    private readonly ConcurrentDictionary<string, (Principal? Principal, DateTimeOffset? Expires, long Until)> _cache = new(StringComparer.Ordinal);

    public CentralApiKeySource(IOptions<IdentityOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        _http = new HttpClient { Timeout = _options.CentralTimeout };
        if (_options.CentralUrl is { } url)
        {
            _http.BaseAddress = new Uri(url.TrimEnd('/') + "/");
        }
    }

    public ValueTask<bool> IsConfiguredAsync() => ValueTask.FromResult(_options.CentralUrl is not null);

    public async ValueTask<AuthenticationOutcome?> AuthenticateAsync(HttpContext context, PresentedCredential presented)
    {
        if (_options.CentralUrl is null || presented.KeyCandidate is not { } candidate
            || !candidate.StartsWith(ApiKeyStore.KeyPrefix, StringComparison.Ordinal) || candidate.Length > 256)
        {
            return null;
        }

        var hash = SecretTokens.Hash(candidate);
        var now = _time.GetTimestamp();
        if (!_cache.TryGetValue(hash, out var entry) || now >= entry.Until)
        {
            entry = await AskCentralAsync(candidate, context.RequestAborted);
            if (_cache.Count >= MaxCached)
            {
                _cache.Clear();
            }

            _cache[hash] = entry;
        }

        return entry.Principal is { } principal && (entry.Expires is not { } expires || expires > _time.GetUtcNow())
            ? AuthenticationOutcome.Accepted(principal)
            : AuthenticationOutcome.Unauthorized("The API key is not valid at the central runtime (unknown, expired or revoked).");
    }

    private async Task<(Principal?, DateTimeOffset?, long)> AskCentralAsync(string key, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/rbac/permissions");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        // A failure to reach the central runtime is the caller's 503 (ErrorHandling), not a refusal to cache.
        using var response = await _http.SendAsync(request, cancellationToken);
        var until = _time.GetTimestamp() + (long)(_options.KeyCacheTtl.TotalSeconds * _time.TimestampFrequency);
        if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
        {
            return (null, null, until);
        }

        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStreamAsync(cancellationToken));
        var root = body.RootElement;
        var permissions = new HashSet<Permission>();
        foreach (var name in root.GetProperty("permissions").EnumerateArray())
        {
            if (Roles.TryParsePermission(name.GetString(), out var permission))
            {
                permissions.Add(permission);
            }
        }

        _ = Roles.TryParse(root.GetProperty("role").GetString(), out Role role);
        var principal = new Principal(
            root.GetProperty("tenant_id").GetString()!, root.GetProperty("user_id").GetString()!, role, permissions, CredentialKind.ApiKey,
            root.TryGetProperty("rate_limit_rps", out var rps) && rps.ValueKind == JsonValueKind.Number ? rps.GetInt32() : null,
            root.TryGetProperty("expires_at", out var at) && at.ValueKind == JsonValueKind.String ? at.GetDateTimeOffset() : null,
            root.TryGetProperty("tenants", out var tenants) && tenants.ValueKind == JsonValueKind.Array
                ? new HashSet<string>(tenants.EnumerateArray().Select(t => t.GetString()!), StringComparer.Ordinal)
                : null);
        return (principal, principal.ExpiresAt, until);
    }

    public void Dispose() => _http.Dispose();
}
