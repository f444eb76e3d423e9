using System.Text.Json;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Servers;

/// <summary>
/// The routes of servers-api.md: ingest, the dashboard reads, and the registry's admin routes. Ingest is
/// in the tenant of the server whose token it carries; every other route shows and changes only the
/// caller's tenant's servers and keys.
/// </summary>
public static class ServersApi
{
    public const string IngestPrefix = "/api/ingest/servers/";

    public static IEndpointRouteBuilder MapServersApi(this IEndpointRouteBuilder routes)
    {
        routes.MapPost(IngestPrefix + "{slug}/metrics/", IngestAsync).AddEndpointFilter(async (context, next) =>
        {
            try
            {
                var result = await next(context);
                var status = result is IStatusCodeHttpResult { StatusCode: { } code } ? code : StatusCodes.Status200OK;
                ServerMetrics.IngestTotal.WithLabels(status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
                return result;
            }
            catch (InvalidRequestException)
            {
                ServerMetrics.IngestTotal.WithLabels("400").Inc();
                throw;
            }
        }).WithOwnCredential("the monitored server's ingest token");

        var dashboard = routes.MapGroup(string.Empty).Requires(Permission.Read);
        dashboard.MapGet("/api/servers/", async (HttpContext context, ServerRegistry registry) =>
            ServersJson.Ok(new { ok = true, servers = (await ActiveAsync(registry, context.Principal().Tenant)).Select(ServersJson.Server).ToList() }));
        dashboard.MapGet("/api/metrics/latest/", LatestAsync);
        dashboard.MapGet("/api/metrics/history/", HistoryAsync);

        // The registry is configuration: reading it is for those who may change it.
        var admin = routes.MapGroup("/api/admin").Requires(Permission.Write);
        admin.MapPut("/servers/{slug}", PutServerAsync);
        admin.MapGet("/servers/{slug}", async (string slug, HttpContext context, ServerRegistry registry) =>
            await registry.FindAsync(context.Principal().Tenant, slug) is { } server
                ? ServersJson.Ok(new { ok = true, server = ServersJson.Server(server) })
                : NotFound($"No monitored server '{slug}'", "server", slug));
        admin.MapDelete("/servers/{slug}", async (string slug, HttpContext context, ServerRegistry registry) =>
            await registry.DeleteAsync(context.Principal().Tenant, slug)
                ? ServersJson.Ok(new { ok = true })
                : NotFound($"No monitored server '{slug}'", "server", slug));
        admin.MapGet("/api-keys", async (HttpContext context, DashboardApiKeys keys) =>
                ServersJson.Ok(new { ok = true, api_keys = await keys.ListAsync(context.Principal().Tenant) }))
            .Requires(Permission.ManageKeys);
        admin.MapPost("/api-keys", async (HttpContext context, DashboardApiKeys keys, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(context.Request, new ApiKeyRequest(null), cancellationToken);
            if (string.IsNullOrWhiteSpace(body.Name) || body.Name.Length > SampleParser.MaxText)
            {
                throw new InvalidRequestException("name", $"name is required (at most {SampleParser.MaxText} characters)");
            }

            var (key, plaintext) = await keys.CreateAsync(context.Principal().Tenant, body.Name);
            return Results.Json(new { ok = true, api_key = key, key = plaintext }, ServersJson.Options, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.ManageKeys);
        admin.MapDelete("/api-keys/{id}", async (string id, HttpContext context, DashboardApiKeys keys) =>
            long.TryParse(id, System.Globalization.CultureInfo.InvariantCulture, out var number) && await keys.DeleteAsync(context.Principal().Tenant, number)
                ? ServersJson.Ok(new { ok = true })
                : NotFound($"No API key '{id}'", "id", id))
            .Requires(Permission.ManageKeys);

        DashboardAccess.MapDashboardAuth(routes);
        return routes;
    }

    private sealed record ApiKeyRequest(string? Name);

    private static async Task<IResult> IngestAsync(
        string slug, HttpRequest request, ServerRegistry registry, ServerIngestor ingestor, TimeProvider time,
        IOptions<ServerMonitoringOptions> options, CancellationToken cancellationToken)
    {
        if (await registry.FindWithTokenAsync(slug) is not var (server, tokenHash))
        {
            return NotFound($"No monitored server '{slug}'", "server", slug);
        }

        // The server is named before the token is checked (the spec's 404), but whether it is
        // disabled is told only to a holder of its token.
        if (!SecretTokens.Matches(PresentedToken(request), tokenHash))
        {
            return Results.Json(new ErrorResponse(ErrorCodes.Unauthorized, "Missing or invalid ingest token (X-Monitoring-Token or Authorization: Bearer)."),
                statusCode: StatusCodes.Status401Unauthorized);
        }

        if (!server.IsActive)
        {
            return Results.Json(new ErrorResponse(ErrorCodes.Forbidden, $"Monitored server '{slug}' is disabled."), statusCode: StatusCodes.Status403Forbidden);
        }

        var body = await ReadLimitedAsync(request, options.Value.MaxIngestBytes, cancellationToken);
        var (sample, agent) = SampleParser.Parse(body, time.GetUtcNow());
        var snapshot = await ingestor.IngestAsync(server, sample, agent);
        if (snapshot is null)
        {
            request.HttpContext.Response.Headers.RetryAfter = "1";
            return Results.Json(new ErrorResponse(ErrorCodes.ServiceUnavailable, "Too many snapshots wait for storage; retry shortly."),
                statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        return ServersJson.Ok(new
        {
            ok = true,
            server = new { id = server.Id, slug = server.Slug, name = server.Name, hostname = server.Hostname, is_active = server.IsActive },
            snapshot = new
            {
                id = snapshot.Id,
                collected_at = ServersJson.Time(sample.CollectedAt),
                bottleneck = snapshot.Bottleneck.Label,
                cpu_usage_percent = sample.CpuUsagePercent,
                top_gpu_util_percent = sample.GpuTopUtilPercent,
                disk_util_percent = snapshot.Rates.DiskUtilPercent,
            },
        });
    }

    private static string? PresentedToken(HttpRequest request)
    {
        if (request.Headers["X-Monitoring-Token"].ToString() is { Length: > 0 } token)
        {
            return token.Trim();
        }

        var authorization = request.Headers.Authorization.ToString();
        return authorization.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? authorization["Bearer ".Length..].Trim() : null;
    }

    /// <summary>Reads the body, refusing it (400) past <paramref name="limit"/> bytes without reading further.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadLimitedAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit)
        {
            throw new InvalidRequestException("body", $"the body is larger than {limit} bytes");
        }

        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new InvalidRequestException("body", $"the body is larger than {limit} bytes");
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private static async Task<IReadOnlyList<MonitoredServer>> ActiveAsync(ServerRegistry registry, string tenant) =>
        [.. (await registry.ListAsync(tenant)).Where(s => s.IsActive)];

    /// <summary>
    /// The server of the caller's tenant a dashboard read is about: the one named by <c>server</c> (slug
    /// or id), else the active server with the newest snapshot, else the first active server.
    /// </summary>
    private static async Task<(IReadOnlyList<MonitoredServer> Servers, MonitoredServer? Selected, IResult? Error)> SelectAsync(HttpRequest request, ServerRegistry registry)
    {
        var tenant = request.HttpContext.Principal().Tenant;
        var servers = await ActiveAsync(registry, tenant);
        if (RequestBody.OptionalString(request, "server") is { } wanted)
        {
            var named = await registry.FindBySlugOrIdAsync(tenant, wanted);
            return named is null
                ? (servers, null, NotFound($"No monitored server '{wanted}'", "server", wanted))
                : (servers, named, null);
        }

        var selected = servers.Where(s => s.SnapshotCount > 0).OrderByDescending(s => s.LatestSnapshotAt).ThenBy(s => s.Id).FirstOrDefault()
            ?? (servers.Count > 0 ? servers[0] : null);
        return selected is null
            ? (servers, null, NotFound("No monitored servers are registered and active.", "server", string.Empty))
            : (servers, selected, null);
    }

    private static async Task<IResult> LatestAsync(HttpRequest request, ServerRegistry registry, TimeProvider time)
    {
        var (servers, selected, error) = await SelectAsync(request, registry);
        if (error is not null)
        {
            return error;
        }

        var snapshot = await registry.LatestSnapshotAsync(selected!.Tenant, selected.Id);
        if (snapshot is null)
        {
            return NotFound($"Monitored server '{selected.Slug}' has no snapshots yet.", "server", selected.Slug);
        }

        return ServersJson.Ok(new
        {
            ok = true,
            servers = servers.Select(ServersJson.Server).ToList(),
            selected_server = ServersJson.Server(selected),
            snapshot = ServersJson.Snapshot(snapshot, selected, time.GetUtcNow()),
        });
    }

    private static async Task<IResult> HistoryAsync(
        HttpRequest request, ServerRegistry registry, ServerSnapshotStore store, TimeProvider time,
        IOptions<ServerMonitoringOptions> options, CancellationToken cancellationToken)
    {
        var minutes = Math.Clamp(RequestBody.OptionalInt(request, "minutes") ?? options.Value.DefaultHistoryMinutes, 1, options.Value.MaxHistoryMinutes);
        var (servers, selected, error) = await SelectAsync(request, registry);
        if (error is not null)
        {
            return error;
        }

        var history = await store.HistoryAsync(selected!.Tenant, selected.Id, time.GetUtcNow().AddMinutes(-minutes), options.Value.MaxHistoryPoints, cancellationToken);
        return ServersJson.Ok(new
        {
            ok = true,
            minutes,
            point_count = history.Points.Count,
            stride = history.Stride,
            sample_count = history.Samples,
            servers = servers.Select(ServersJson.Server).ToList(),
            selected_server = ServersJson.Server(selected),
            points = history.Points.Select(ServersJson.Point).ToList(),
        });
    }

    private static async Task<IResult> PutServerAsync(string slug, HttpContext context, ServerRegistry registry, CancellationToken cancellationToken)
    {
        var request = context.Request;
        ServerRegistry.ValidateSlug(slug);
        var body = await ReadLimitedAsync(request, 64 * 1024, cancellationToken);
        ServerChanges changes;
        string? token;
        try
        {
            using var document = body.Length == 0 ? JsonDocument.Parse("{}") : JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new InvalidRequestException("body", "the body must be a JSON object");
            }

            changes = new ServerChanges(
                Text(root, "name"),
                Text(root, "hostname"),
                Text(root, "description"),
                root.TryGetProperty("is_active", out var active) && active.ValueKind != JsonValueKind.Null
                    ? active.ValueKind is JsonValueKind.True or JsonValueKind.False ? active.GetBoolean() : throw new InvalidRequestException("is_active", "is_active must be true or false")
                    : null,
                root.TryGetProperty("labels", out var labels) && labels.ValueKind != JsonValueKind.Null ? SampleParser.ParseLabels(labels, "labels") : null);
            token = Text(root, "token");
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException("body", $"the body is not valid JSON: {e.Message}");
        }

        if (token is not null && token.Length < 16)
        {
            throw new InvalidRequestException("token", "a token must be at least 16 characters");
        }

        if (changes.Name is { Length: 0 })
        {
            throw new InvalidRequestException("name", "name must not be empty");
        }

        if (await registry.UpsertAsync(context.Principal().Tenant, slug, changes, token, generateTokenOnCreate: true) is not var (server, created, generated))
        {
            // Which tenant holds it is not told: that would name another tenant's server.
            return Results.Json(
                new ErrorResponse(ErrorCodes.InvalidRequest, $"The slug '{slug}' is registered to another tenant; a slug is unique across tenants, since the ingest URL names none.",
                    new Dictionary<string, string> { ["field"] = "slug" }),
                statusCode: StatusCodes.Status409Conflict);
        }

        return generated is null
            ? ServersJson.Ok(new { ok = true, created, server = ServersJson.Server(server) })
            : ServersJson.Ok(new { ok = true, created, server = ServersJson.Server(server), token = generated });
    }

    private static string? Text(JsonElement root, string name)
    {
        if (!root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null)
        {
            return null;
        }

        return value.ValueKind == JsonValueKind.String && value.GetString()!.Length <= SampleParser.MaxText
            ? value.GetString()
            : throw new InvalidRequestException(name, $"{name} must be a string of at most {SampleParser.MaxText} characters");
    }

    private static IResult NotFound(string message, string field, string value) =>
        Results.Json(new ErrorResponse(ErrorCodes.NotFound, message, new Dictionary<string, string> { [field] = value }),
            statusCode: StatusCodes.Status404NotFound);
}
