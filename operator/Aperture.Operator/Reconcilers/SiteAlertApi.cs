using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aperture.Contracts.Resources;
using Aperture.Operator.Desired;
using k8s;

namespace Aperture.Operator.Reconcilers;

/// <summary>Where a Site's runtime answers HTTP; tests point it elsewhere.</summary>
public interface ISiteEndpoints
{
    Uri HttpBase(Site site);
}

public sealed class ClusterSiteEndpoints : ISiteEndpoints
{
    public Uri HttpBase(Site site) => new($"http://{SiteResources.Endpoint(site)}/");
}

/// <summary>The alert API of a Site's runtime (aggregator-api.md), with the Site's bearer token when it has one.</summary>
public sealed class SiteAlertApi(HttpClient http, IKubernetes client, ISiteEndpoints endpoints)
{
    public async Task<string> CreateAsync(Site site, AlertRule rule, CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(site, HttpMethod.Post, "api/alerts", cancellationToken);
        request.Content = JsonContent.Create(new
        {
            name = rule.Spec.Name ?? rule.Metadata.Name,
            metric = Name(rule.Spec.Metric),
            @operator = Name(rule.Spec.Operator),
            threshold = rule.Spec.Threshold,
            severity = Name(rule.Spec.Severity),
        });
        using var response = await http.SendAsync(request, cancellationToken);
        await EnsureAsync(response, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken)).GetProperty("id").GetString()!;
    }

    /// <returns>False when the runtime does not have the rule (any more).</returns>
    public async Task<bool> DeleteAsync(Site site, string ruleId, CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(site, HttpMethod.Delete, $"api/alerts/{Uri.EscapeDataString(ruleId)}", cancellationToken);
        using var response = await http.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await EnsureAsync(response, cancellationToken);
        return true;
    }

    public async Task<IReadOnlySet<string>> RuleIdsAsync(Site site, CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(site, HttpMethod.Get, "api/alerts", cancellationToken);
        using var response = await http.SendAsync(request, cancellationToken);
        await EnsureAsync(response, cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        return body.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal);
    }

    private async Task<HttpRequestMessage> RequestAsync(Site site, HttpMethod method, string path, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(method, new Uri(endpoints.HttpBase(site), path));
        if (site.Spec.AuthTokenSecretRef is { } reference)
        {
            var secret = await client.CoreV1.ReadNamespacedSecretAsync(reference.Name, site.Metadata.NamespaceProperty, cancellationToken: cancellationToken);
            if (secret.Data?.TryGetValue(reference.Key, out var token) == true)
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Encoding.UTF8.GetString(token));
            }
        }

        return request;
    }

    private static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"the Site's runtime answered {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}", null, response.StatusCode);
        }
    }

    private static string Name<T>(T value)
        where T : struct, Enum => JsonSerializer.Serialize(value).Trim('"');
}
