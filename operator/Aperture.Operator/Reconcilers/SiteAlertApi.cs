using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Resources;

namespace Aperture.Operator.Reconcilers;

/// <summary>The alert API of a Site's runtime (aggregator-api.md), with the Site's bearer token when it has one.</summary>
public sealed class SiteAlertApi(SiteRuntimeClient runtime)
{
    public async Task<string> CreateAsync(Site site, AlertRule rule, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Post, "api/alerts", cancellationToken);
        request.Content = JsonContent.Create(new
        {
            name = rule.Spec.Name ?? rule.Metadata.Name,
            metric = Name(rule.Spec.Metric),
            @operator = Name(rule.Spec.Operator),
            threshold = rule.Spec.Threshold,
            severity = Name(rule.Spec.Severity),
        });
        using var response = await runtime.SendAsync(request, cancellationToken);
        await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        return (await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken)).GetProperty("id").GetString()!;
    }

    /// <returns>False when the runtime does not have the rule (any more).</returns>
    public async Task<bool> DeleteAsync(Site site, string ruleId, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Delete, $"api/alerts/{Uri.EscapeDataString(ruleId)}", cancellationToken);
        using var response = await runtime.SendAsync(request, cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        return true;
    }

    public async Task<IReadOnlySet<string>> RuleIdsAsync(Site site, CancellationToken cancellationToken)
    {
        using var request = await runtime.RequestAsync(site, HttpMethod.Get, "api/alerts", cancellationToken);
        using var response = await runtime.SendAsync(request, cancellationToken);
        await SiteRuntimeClient.EnsureAsync(response, cancellationToken);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
        return body.GetProperty("rules").EnumerateArray().Select(r => r.GetProperty("id").GetString()!).ToHashSet(StringComparer.Ordinal);
    }

    private static string Name<T>(T value)
        where T : struct, Enum => JsonSerializer.Serialize(value).Trim('"');
}
