using System.Globalization;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Google.Protobuf;

namespace Aperture.Runtime.Profiling;

/// <summary>The profiling routes of aggregator-api.md: aggregate, diff, batches, health and exports.</summary>
public static class AggregatorApi
{
    private const int DefaultBatchList = 100;
    private const int MaxBatchList = 1000;

    private static readonly JsonFormatter PushFormatter = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true).WithPreserveProtoFieldNames(true));

    public static IEndpointRouteBuilder MapAggregatorApi(this IEndpointRouteBuilder routes)
    {
        // Beyond the spec: the Push RPC over plain HTTP, for agents behind proxies that do not pass
        // HTTP/2. The body is a PushRequest in protobuf (application/x-protobuf) or its JSON mapping.
        routes.MapPost("/api/push", async (HttpContext context, PushIngestor ingestor, CancellationToken cancellationToken) =>
        {
            var request = context.Request;
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, cancellationToken);
            var push = body.GetBuffer().AsMemory(0, (int)body.Length);
            if (request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) == true)
            {
                try
                {
                    push = JsonParser.Default.Parse<PushRequest>(System.Text.Encoding.UTF8.GetString(push.Span)).ToByteArray();
                }
                catch (Exception e) when (e is InvalidJsonException or InvalidProtocolBufferException)
                {
                    throw new InvalidRequestException("body", $"the body is not a valid PushRequest: {e.Message}");
                }
            }

            var response = await ingestor.PushAsync(push, context.Principal(), cancellationToken);
            return Results.Text(PushFormatter.Format(response), "application/json",
                statusCode: response.Accepted ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).Requires(Permission.Ingest);

        routes.MapPost("/api/aggregate", async (HttpRequest request, ProfileQueries queries, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(request, new AggregateRequestJson(null, null, null, null, null, null), cancellationToken);
            var query = ProfilingRequests.ToQuery(
                request.HttpContext.Principal().Tenant, body.AgentId, body.TimeStartNs, body.TimeEndNs, body.Limit, body.EventType, target: body.Target);
            var aggregate = await queries.AggregateAsync(query, body.Source, cancellationToken);
            return Results.Json(AggregateResponseJson.From(aggregate));
        }).Requires(Permission.Read);

        routes.MapPost("/api/diff", async (HttpRequest request, ProfileQueries queries, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(request, new DiffRequestJson(null, null, null, null, null, null, null, null), cancellationToken);
            var windows = ProfilingRequests.ToDiffWindows(body);
            if (!queries.StorageEnabled)
            {
                return Results.Json(new DiffResponseJson(string.Empty, "differential profiling requires ClickHouse storage, which is disabled on this aggregator"));
            }

            return Results.Json(new DiffResponseJson(await queries.DiffAsync(request.HttpContext.Principal().Tenant, windows, cancellationToken), string.Empty));
        }).Requires(Permission.Read);

        routes.MapGet("/api/batches", async (HttpRequest request, ProfileQueries queries, CancellationToken cancellationToken) =>
        {
            var limit = RequestBody.OptionalInt(request, "limit") ?? DefaultBatchList;
            if (limit < 1)
            {
                throw new InvalidRequestException("limit", "limit must be at least 1");
            }

            var batches = await queries.RecentBatchesAsync(request.HttpContext.Principal().Tenant, RequestBody.OptionalString(request, "agent_id"), Math.Min(limit, MaxBatchList), cancellationToken);
            return Results.Json(new BatchesResponseJson([.. batches.Select(b => new BatchJson(b.AgentId, b.Sequence, b.EventCount, b.ReceivedAtNs))], string.Empty));
        }).Requires(Permission.Read);

        routes.MapGet("/api/health", (ProfileBuffer buffer, AggregatorStats stats, ProfileQueries queries) =>
        {
            var degraded = buffer.Utilization >= 0.9 || (stats.PendingRows > 0 && stats.FlushError > 0 && buffer.Unflushed > 0);
            return Results.Json(new HealthResponseJson(
                degraded ? "degraded" : "healthy",
                buffer.Count,
                buffer.Utilization,
                queries.StorageEnabled,
                stats.PushOk,
                stats.PushError,
                stats.EventsTotal,
                stats.FlushOk,
                stats.FlushError,
                stats.PendingRows));
        }).Requires(Permission.Read);

        routes.MapGet("/api/export/json", async (HttpRequest request, ProfileQueries queries, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var aggregate = await queries.AggregateAsync(ExportQuery(request, defaultKind: null), RequestBody.OptionalString(request, "source"), cancellationToken);
            var bytes = JsonSerializer.SerializeToUtf8Bytes(AggregateResponseJson.From(aggregate));
            return Results.File(bytes, "application/json", $"aperture-profile-{Stamp(time)}.json");
        }).Requires(Permission.Read);

        routes.MapGet("/api/export/collapsed", async (HttpRequest request, ProfileQueries queries, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var query = ExportQuery(request, EventKind.Cpu);
            var aggregate = await queries.AggregateAsync(query, RequestBody.OptionalString(request, "source"), cancellationToken);
            var text = CollapsedStackExporter.Export(aggregate.For(query.Kind!.Value));
            return Results.File(System.Text.Encoding.UTF8.GetBytes(text), "text/plain; charset=utf-8", $"aperture-{query.Kind.Value.Name()}-{Stamp(time)}.collapsed");
        }).Requires(Permission.Read);

        routes.MapGet("/api/export/pprof", async (HttpRequest request, ProfileQueries queries, TimeProvider time, CancellationToken cancellationToken) =>
        {
            var query = ExportQuery(request, EventKind.Cpu);
            var aggregate = await queries.AggregateAsync(query, RequestBody.OptionalString(request, "source"), cancellationToken);
            var profile = aggregate.For(query.Kind!.Value);
            var bytes = PprofExporter.Export(profile, Math.Max(0, profile.EndTime - profile.StartTime));
            return Results.File(bytes, "application/octet-stream", $"aperture-{query.Kind.Value.Name()}-{Stamp(time)}.pb.gz");
        }).Requires(Permission.Read);

        return routes;
    }

    private static ProfileQuery ExportQuery(HttpRequest request, EventKind? defaultKind) =>
        ProfilingRequests.ToQuery(
            request.HttpContext.Principal().Tenant,
            RequestBody.OptionalString(request, "agent_id"),
            RequestBody.OptionalLong(request, "time_start_ns"),
            RequestBody.OptionalLong(request, "time_end_ns"),
            RequestBody.OptionalInt(request, "limit"),
            RequestBody.OptionalString(request, "event_type"),
            defaultKind);

    private static string Stamp(TimeProvider time) => time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
}
