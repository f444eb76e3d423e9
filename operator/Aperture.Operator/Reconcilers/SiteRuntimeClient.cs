using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aperture.Operator.Desired;
using Aperture.Resources;
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

/// <summary>HTTP to a Site's runtime, with the Site's bearer token (from its Secret) when it has one.</summary>
public sealed class SiteRuntimeClient(HttpClient http, IKubernetes client, ISiteEndpoints endpoints)
{
    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => http.SendAsync(request, cancellationToken);

    public async Task<HttpRequestMessage> RequestAsync(Site site, HttpMethod method, string path, CancellationToken cancellationToken)
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

    public static async Task EnsureAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancellationToken);
            throw new HttpRequestException($"the Site's runtime answered {(int)response.StatusCode}: {body[..Math.Min(body.Length, 300)]}", null, response.StatusCode);
        }
    }
}
