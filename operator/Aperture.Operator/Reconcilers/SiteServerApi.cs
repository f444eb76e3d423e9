using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Resources;

namespace Aperture.Operator.Reconcilers;

/// <summary>What a Site's runtime knows of a monitored server (servers-api.md's server object).</summary>
public sealed record RegisteredServer(
    [property: JsonPropertyName("id")] long Id,
    [property: JsonPropertyName("slug")] string Slug,
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("hostname")] string? Hostname,
    [property: JsonPropertyName("description")] string? Description,
    [property: JsonPropertyName("is_active")] bool IsActive,
    [property: JsonPropertyName("labels")] Dictionary<string, string>? Labels,
    [property: JsonPropertyName("last_seen_at")] string? LastSeenAt,
    [property: JsonPropertyName("snapshot_count")] long SnapshotCount);

/// <summary>The runtime's server registry admin API (PUT/GET/DELETE /api/admin/servers/{slug}).</summary>
public sealed class SiteServerApi(SiteRuntimeClient runtime)
{
    /// <summary>Creates or updates the server; the runtime keeps only the token's hash.</summary>
    public async Task<RegisteredServer> RegisterAsync(Site site, MonitoredServerSpec spec, string token, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Put, Path(spec.Slug), cancellationToken);
        request.Content = JsonContent.Create(new
        {
            name = spec.Name,
            hostname = spec.Hostname ?? string.Empty,
            description = spec.Description ?? string.Empty,
            is_active = spec.Active,
            labels = spec.Labels ?? [],
            token,
        });
        using var response = await runtime.SendAsync(request, cancellationToken);
        await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        return Server(await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken));
    }

    /// <returns>Null when the runtime does not know the slug.</returns>
    public async Task<RegisteredServer?> GetAsync(Site site, string slug, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Get, Path(slug), cancellationToken);
        using var response = await runtime.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        return Server(await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken));
    }

    public async Task DeleteAsync(Site site, string slug, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Delete, Path(slug), cancellationToken);
        using var response = await runtime.SendAsync(request, cancellationToken);
        if (response.StatusCode != HttpStatusCode.NotFound)
        {
            await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        }
    }

    private static string Path(string slug) => $"api/admin/servers/{Uri.EscapeDataString(slug)}";

    private static RegisteredServer Server(JsonElement body) =>
        body.GetProperty("server").Deserialize<RegisteredServer>()
        ?? throw new HttpRequestException("the Site's runtime answered without a server");
}
