using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>The error codes of a failed site behind the central API.</summary>
public static class CentralErrorCodes
{
    public const string BadGateway = "bad_gateway";
    public const string GatewayTimeout = "gateway_timeout";
}

/// <summary>
/// The central API's client of the sites' local APIs: one pooled HTTP client, a timeout per call,
/// the site's bearer token where one is configured, and the tenant the call acts in as
/// <c>X-Scope-OrgID</c> (the site's token is an admin token there, which acts in the tenant that header names).
/// </summary>
public sealed class SiteClient(IOptionsMonitor<CentralOptions> options) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectTimeout = TimeSpan.FromSeconds(5),
        AutomaticDecompression = System.Net.DecompressionMethods.All,
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
        // A site's answer is read whole: bounded, so that a misbehaving site cannot exhaust the centre's memory.
        MaxResponseContentBufferSize = 64 * 1024 * 1024,
    };

    public CentralOptions Options => options.CurrentValue;

    /// <summary>The site's response, or the reason it gave none.</summary>
    public sealed record SiteAnswer(int Status, byte[] Body, string? ContentType, string? Failure, bool TimedOut);

    /// <param name="tenant">The tenant to ask in; null for what belongs to no tenant (the site's health).</param>
    public Task<SiteAnswer> GetAsync(string siteId, string pathAndQuery, string? tenant, CancellationToken cancellationToken) =>
        SendAsync(siteId, Options.Sites[siteId], HttpMethod.Get, pathAndQuery, null, tenant, cancellationToken);

    /// <summary>
    /// A call to the site's main API (<see cref="CentralOptions.SiteApis"/>) in <paramref name="tenant"/>, with a JSON body
    /// where one is given; a site without a configured main API answers with a failure, not an exception.
    /// </summary>
    public Task<SiteAnswer> CallApiAsync(string siteId, HttpMethod method, string pathAndQuery, object? json, string tenant, CancellationToken cancellationToken) =>
        Options.SiteApis.TryGetValue(siteId, out var endpoint)
            ? SendAsync(siteId, endpoint, method, pathAndQuery, json is null ? null : System.Net.Http.Json.JsonContent.Create(json), tenant, cancellationToken)
            : Task.FromResult(new SiteAnswer(0, [], null, $"no API address of site '{siteId}' is configured (Aperture:Central:SiteApis)", false));

    private async Task<SiteAnswer> SendAsync(
        string siteId, string endpoint, HttpMethod method, string pathAndQuery, HttpContent? content, string? tenant, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Options.SiteTimeout);
        using var request = new HttpRequestMessage(method, endpoint.TrimEnd('/') + pathAndQuery) { Content = content };
        if (Options.SiteTokens.TryGetValue(siteId, out var token) && token.Length > 0)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (tenant is not null)
        {
            request.Headers.Add(AdminTokenSource.ScopeHeader, tenant);
        }

        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseContentRead, timeout.Token);
            var body = await response.Content.ReadAsByteArrayAsync(timeout.Token);
            return new SiteAnswer((int)response.StatusCode, body, response.Content.Headers.ContentType?.ToString(), null, false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SiteAnswer(0, [], null, $"no answer within {Options.SiteTimeout.TotalSeconds:0.###} s", true);
        }
        catch (HttpRequestException e)
        {
            return new SiteAnswer(0, [], null, e.InnerException?.Message ?? e.Message, false);
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The central API of jobs-api.md: the configured sites, queries forwarded to one site, and the sites' health.</summary>
public static class CentralJobsApi
{
    public const string ServiceName = "central-api";

    public static IEndpointRouteBuilder MapCentralJobsApi(this IEndpointRouteBuilder routes)
    {
        var central = routes.MapGroup(string.Empty).WithMetadata(ListenerMetadata.Jobs).Requires(Permission.Read);

        central.MapGet("/v1/sites", (SiteClient sites) =>
        {
            var list = sites.Options.Sites.OrderBy(s => s.Key, StringComparer.Ordinal).Select(s => new SiteJson(s.Key, s.Value)).ToList();
            return Results.Json(new SitesJson(list, list.Count));
        });

        central.MapGet("/v1/jobs", (HttpContext context, SiteClient sites, CancellationToken cancellationToken) =>
            ForwardAsync("/v1/jobs", context, sites, cancellationToken));
        central.MapGet("/v1/subjobs", (HttpContext context, SiteClient sites, CancellationToken cancellationToken) =>
            ForwardAsync("/v1/subjobs", context, sites, cancellationToken));

        central.MapGet("/v1/healthz", async (SiteClient sites, CancellationToken cancellationToken) =>
        {
            var configured = sites.Options.Sites.OrderBy(s => s.Key, StringComparer.Ordinal).ToList();
            var probes = await Task.WhenAll(configured.Select(s => ProbeAsync(sites, s.Key, s.Value, cancellationToken)));
            var report = new SortedDictionary<string, SiteHealthJson>(StringComparer.Ordinal);
            for (var i = 0; i < configured.Count; i++)
            {
                report[configured[i].Key] = probes[i];
            }

            var ok = probes.All(p => p.Status == "ok");
            return Results.Json(new CentralHealthJson(ok ? "ok" : "degraded", ServiceName, RuntimeApplication.Version, report));
        }).Public("health probe of the central API and its sites");

        return routes;
    }

    private static async Task<SiteHealthJson> ProbeAsync(SiteClient sites, string id, string endpoint, CancellationToken cancellationToken)
    {
        var answer = await sites.GetAsync(id, "/v1/healthz", null, cancellationToken);
        if (answer.Failure is { } failure)
        {
            return new SiteHealthJson("degraded", endpoint, answer.TimedOut ? $"Connection timeout: {failure}" : failure);
        }

        string? reported = null;
        try
        {
            using var body = JsonDocument.Parse(answer.Body);
            reported = body.RootElement.TryGetProperty("status", out var status) ? status.GetString() : null;
        }
        catch (JsonException)
        {
            // Not a jobs API health answer; reported below.
        }

        return answer.Status == StatusCodes.Status200OK && reported == "ok"
            ? new SiteHealthJson("ok", endpoint, null)
            : new SiteHealthJson("degraded", endpoint, $"HTTP {answer.Status}, status '{reported ?? "unreadable"}': {Snippet(answer.Body)}");
    }

    /// <summary>The query, less <c>site</c>, asked of the site in the caller's tenant: a caller sees its tenant's jobs only.</summary>
    private static async Task<IResult> ForwardAsync(string path, HttpContext context, SiteClient sites, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var site = RequestBody.OptionalString(request, "site") ?? throw new InvalidRequestException("site", "site is required (a site id from /v1/sites)");
        if (!sites.Options.Sites.ContainsKey(site))
        {
            return Results.Json(new ErrorResponse(ErrorCodes.NotFound, $"No site '{site}'", new Dictionary<string, string> { ["site"] = site }),
                statusCode: StatusCodes.Status404NotFound);
        }

        var query = new StringBuilder();
        foreach (var (name, values) in request.Query)
        {
            if (name == "site")
            {
                continue;
            }

            foreach (var value in values)
            {
                query.Append(query.Length == 0 ? '?' : '&').Append(Uri.EscapeDataString(name)).Append('=').Append(Uri.EscapeDataString(value ?? string.Empty));
            }
        }

        var answer = await sites.GetAsync(site, path + query, context.Principal().Tenant, cancellationToken);
        var details = new Dictionary<string, string> { ["site"] = site };
        if (answer.TimedOut)
        {
            JobsMetrics.CentralForwards.WithLabels(site, "timeout").Inc();
            return Results.Json(new ErrorResponse(CentralErrorCodes.GatewayTimeout, $"Site '{site}' gave no answer within {sites.Options.SiteTimeout.TotalSeconds:0.###} s", details),
                statusCode: StatusCodes.Status504GatewayTimeout);
        }

        if (answer.Failure is { } failure)
        {
            JobsMetrics.CentralForwards.WithLabels(site, "unreachable").Inc();
            details["error"] = failure;
            return Results.Json(new ErrorResponse(CentralErrorCodes.BadGateway, $"Site '{site}' could not be reached: {failure}", details),
                statusCode: StatusCodes.Status502BadGateway);
        }

        if (answer.Status >= StatusCodes.Status500InternalServerError)
        {
            JobsMetrics.CentralForwards.WithLabels(site, "failed").Inc();
            details["status"] = answer.Status.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return Results.Json(new ErrorResponse(CentralErrorCodes.BadGateway, $"Site '{site}' failed (HTTP {answer.Status}): {Snippet(answer.Body)}", details),
                statusCode: StatusCodes.Status502BadGateway);
        }

        // The site's own answers, 400s included, pass through as the site gave them.
        JobsMetrics.CentralForwards.WithLabels(site, "ok").Inc();
        return new SiteResult(answer.Status, answer.Body, answer.ContentType ?? "application/json");
    }

    /// <summary>A site's answer, status and body as it gave them.</summary>
    private sealed class SiteResult(int status, byte[] body, string contentType) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.StatusCode = status;
            httpContext.Response.ContentType = contentType;
            httpContext.Response.ContentLength = body.Length;
            await httpContext.Response.Body.WriteAsync(body);
        }
    }

    private static string Snippet(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 300)).ReplaceLineEndings(" ").Trim();
        return text.Length == 0 ? "(empty body)" : text;
    }

    private sealed record SiteJson([property: JsonPropertyName("id")] string Id, [property: JsonPropertyName("endpoint")] string Endpoint);

    private sealed record SitesJson([property: JsonPropertyName("sites")] IReadOnlyList<SiteJson> Sites, [property: JsonPropertyName("count")] int Count);

    private sealed record SiteHealthJson(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("endpoint")] string Endpoint,
        [property: JsonPropertyName("error")] string? Error);

    private sealed record CentralHealthJson(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("service")] string Service,
        [property: JsonPropertyName("version")] string Version,
        [property: JsonPropertyName("sites")] IReadOnlyDictionary<string, SiteHealthJson> Sites);
}
