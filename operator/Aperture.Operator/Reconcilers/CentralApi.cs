using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Resources;

namespace Aperture.Operator.Reconcilers;

/// <summary>A tenant as the central runtime has it.</summary>
public sealed record CentralTenant(
    [property: JsonPropertyName("tenant_id")] string TenantId,
    [property: JsonPropertyName("created_at")] string? CreatedAt);

/// <summary>A key just made: the only time the central runtime shows the key itself.</summary>
public sealed record CreatedApiKey(string KeyId, string Key, string? CreatedAt)
{
    // The record's generated ToString would print the key; nothing that logs or formats it may see it.
    public override string ToString() => $"CreatedApiKey {{ KeyId = {KeyId} }}";
}

/// <summary>A key as the central runtime lists it (a prefix, never the key).</summary>
public sealed record CentralApiKey(
    [property: JsonPropertyName("key_id")] string KeyId,
    [property: JsonPropertyName("name")] string? Name,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("prefix")] string? Prefix,
    [property: JsonPropertyName("revoked")] bool Revoked);

/// <summary>
/// The central runtime's tenant and API-key routes (aiops-api.md) at <c>&lt;central&gt;/api/v1</c>, called
/// with the admin token as a bearer token; key routes act in a tenant named by <c>X-Scope-OrgID</c>.
/// Failures (no answer, or an answer other than the ones each call expects) are
/// <see cref="HttpRequestException"/>s whose message never holds a key or the token.
/// </summary>
public sealed class CentralApi(HttpClient http, Uri centralUrl, string? token)
{
    public const string ScopeHeader = "X-Scope-OrgID";

    private readonly Uri _base = new(centralUrl.ToString().TrimEnd('/') + "/api/v1/");

    public Uri Url => centralUrl;

    /// <summary>Registers the tenant, or finds it registered already (409); either way, as the central runtime has it.</summary>
    public async Task<CentralTenant> RegisterTenantAsync(TenantSpec spec, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, "tenants", tenant: null);
        request.Content = JsonContent.Create(new Dictionary<string, string?>
        {
            ["tenant_id"] = spec.TenantId,
            ["name"] = spec.Name,
            ["plan"] = Name(spec.Plan),
            ["contact_email"] = spec.Contact,
        }.Where(kv => kv.Value is not null).ToDictionary());
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.Conflict)
        {
            return await TenantAsync(spec.TenantId, cancellationToken)
                ?? throw new HttpRequestException($"the central runtime answered 409 for tenant {spec.TenantId} but does not know it", null, HttpStatusCode.Conflict);
        }

        await EnsureAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync<CentralTenant>(cancellationToken)
            ?? throw new HttpRequestException("the central runtime answered without a tenant");
    }

    /// <returns>Null when the central runtime does not know the tenant.</returns>
    public async Task<CentralTenant?> TenantAsync(string tenantId, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, $"tenants/{Uri.EscapeDataString(tenantId)}", tenant: null);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await EnsureAsync(response, cancellationToken);
        return await response.Content.ReadFromJsonAsync<CentralTenant>(cancellationToken);
    }

    public Task<CreatedApiKey> CreateKeyAsync(string tenantId, string name, ApiKeySpec spec, CancellationToken cancellationToken) =>
        CreateKeyAsync(tenantId, name, spec, tenants: null, cancellationToken);

    /// <param name="tenants">
    /// Beyond its own tenant, the tenants an ingestion key may push for (<c>"tenants"</c>); the answer must list
    /// them all, else the key is revoked again and the call fails (a central runtime without several-tenant keys).
    /// </param>
    public async Task<CreatedApiKey> CreateKeyAsync(string tenantId, string name, ApiKeySpec spec, IReadOnlyList<string>? tenants, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Post, "apikeys", tenantId);
        var body = new Dictionary<string, object>
        {
            ["name"] = name,
            ["scope"] = Name(spec.Scope),
            ["rate_limit_rps"] = spec.RateLimitRps,
        };
        if (spec.ExpiresAt is { } expires)
        {
            body["expires_at"] = expires;
        }

        if (tenants is not null)
        {
            body["tenants"] = tenants;
        }

        request.Content = JsonContent.Create(body);
        using var response = await SendAsync(request, cancellationToken);
        await EnsureAsync(response, cancellationToken);
        var created = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        var made = created.TryGetProperty("key_id", out var id) && id.GetString() is { Length: > 0 } keyId
            && created.TryGetProperty("api_key", out var key) && key.GetString() is { Length: > 0 } apiKey
            ? new CreatedApiKey(keyId, apiKey, created.TryGetProperty("created_at", out var at) ? at.GetString() : null)
            : throw new HttpRequestException("the central runtime answered POST /apikeys without key_id and api_key");
        if (tenants is not null)
        {
            var allowed = created.TryGetProperty("tenants", out var list) && list.ValueKind == JsonValueKind.Array
                ? list.EnumerateArray().Select(t => t.GetString()).OfType<string>().ToHashSet(StringComparer.Ordinal)
                : [];
            if (tenants.Any(t => t != tenantId && !allowed.Contains(t)))
            {
                await RevokeKeyAsync(tenantId, made.KeyId, cancellationToken);
                throw new HttpRequestException($"the central runtime made key {made.KeyId} without the tenants {string.Join(",", tenants)} (it does not support keys for several tenants); the key is revoked");
            }
        }

        return made;
    }

    public async Task<IReadOnlyList<CentralApiKey>> KeysAsync(string tenantId, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Get, "apikeys", tenantId);
        using var response = await SendAsync(request, cancellationToken);
        await EnsureAsync(response, cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        return body.GetProperty("api_keys").Deserialize<List<CentralApiKey>>() ?? [];
    }

    /// <returns>False when the central runtime does not know the key (which counts as revoked).</returns>
    public async Task<bool> RevokeKeyAsync(string tenantId, string keyId, CancellationToken cancellationToken)
    {
        using var request = Request(HttpMethod.Delete, $"apikeys/{Uri.EscapeDataString(keyId)}", tenantId);
        using var response = await SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureAsync(response, cancellationToken);
        return true;
    }

    private HttpRequestMessage Request(HttpMethod method, string path, string? tenant)
    {
        var request = new HttpRequestMessage(method, new Uri(_base, path));
        if (token is { Length: > 0 })
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (tenant is not null)
        {
            request.Headers.Add(ScopeHeader, tenant);
        }

        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, cancellationToken);
        }
        catch (TaskCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new HttpRequestException($"the central runtime at {centralUrl} did not answer {request.Method} {request.RequestUri!.AbsolutePath} in time", e);
        }
        catch (HttpRequestException e)
        {
            throw new HttpRequestException($"the central runtime at {centralUrl} cannot be reached: {e.Message}", e, e.StatusCode);
        }
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException(
                $"the central runtime answered {(int)response.StatusCode} to {response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}: {body[..Math.Min(body.Length, 300)]}",
                null, response.StatusCode);
        }
    }

    private static string Name<T>(T value)
        where T : struct, Enum => JsonSerializer.Serialize(value).Trim('"');
}
