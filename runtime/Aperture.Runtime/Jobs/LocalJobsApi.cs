using System.Diagnostics;
using System.Globalization;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Health;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>
/// The site-local jobs API of jobs-api.md ("Local API"), on the jobs listener of the aggregator role. Every
/// event is stored in the caller's tenant and every read answers from it alone.
/// </summary>
public static partial class LocalJobsApi
{
    public const string ServiceName = "local-api";

    public static IEndpointRouteBuilder MapLocalJobsApi(this IEndpointRouteBuilder routes)
    {
        var jobs = routes.MapGroup(string.Empty).WithMetadata(ListenerMetadata.Jobs).Requires(Permission.Read);

        jobs.MapPost("/v1/ingest/events", async (HttpContext context, JobIngest ingest, IOptions<JobsOptions> options, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadBytesAsync(context, options.Value.MaxRequestBytes, cancellationToken);
            var events = JobEventParser.Parse(body.Span, options.Value.MaxBatchEvents, context.Principal().Tenant, out _);
            try
            {
                var outcome = await ingest.AcceptAsync(events, cancellationToken);
                return Results.Json(new IngestResponse(true, outcome.Accepted, outcome.Duplicates));
            }
            catch (IngestBackpressureException e)
            {
                return Results.Json(new ErrorResponse(ErrorCodes.ServiceUnavailable, e.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
            }
        }).Requires(Permission.Ingest);

        jobs.MapGet("/v1/jobs", (HttpContext context, JobIngest ingest, JobStateWriter writer, JobStore store, IOptions<JobsOptions> options, CancellationToken cancellationToken) =>
            QueryAsync(JobEvent.Job, context, ingest, writer, store, options.Value, cancellationToken));

        jobs.MapGet("/v1/subjobs", (HttpContext context, JobIngest ingest, JobStateWriter writer, JobStore store, IOptions<JobsOptions> options, CancellationToken cancellationToken) =>
            QueryAsync(JobEvent.Subjob, context, ingest, writer, store, options.Value, cancellationToken));

        jobs.MapGet("/v1/stream", JobStreamEndpoint.StreamAsync);

        jobs.MapGet("/v1/healthz", async (ReadinessProbe probe, JobStream stream, JobIngest ingest, JobStateWriter writer, CancellationToken cancellationToken) =>
        {
            var report = await probe.RunAsync(cancellationToken);
            var storage = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (var name in (string[])["clickhouse", "redis", "schema"])
            {
                storage[name] = report.Checks.TryGetValue(name, out var outcome) ? outcome : "not checked";
            }

            var ok = storage.Values.All(v => v == ReadinessReport.Ok);
            return Results.Json(
                new LocalHealth(ok ? "ok" : "degraded", ServiceName, RuntimeApplication.Version, storage,
                    (long)(ingest.LastAccepted - Math.Min(ingest.LastAccepted, writer.StoredThrough)), stream.SubscriberCount),
                statusCode: ok ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).Public("health probe of the jobs API");

        return routes;
    }

    private static async Task<IResult> QueryAsync(
        string entityType, HttpContext context, JobIngest ingest, JobStateWriter writer, JobStore store, JobsOptions options, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var query = ParseQuery(context.Principal().Tenant, entityType, context.Request, options);
        // Read-your-writes: whatever was acknowledged before this read is stored before it runs.
        try
        {
            await writer.WaitStoredAsync(ingest.LastAccepted, cancellationToken);
        }
        catch (TimeoutException e)
        {
            return Results.Json(new ErrorResponse(ErrorCodes.ServiceUnavailable, e.Message), statusCode: StatusCodes.Status503ServiceUnavailable);
        }

        var rows = await store.QueryAsync(query, cancellationToken);
        return Results.Bytes(JobsJson.QueryResponse(entityType, rows, Stopwatch.GetElapsedTime(started).TotalSeconds), "application/json");
    }

    /// <summary>from/to (ISO 8601; started_at in [from, to)), status (comma-separated), app_name (contains), limit; within <paramref name="tenant"/>.</summary>
    public static JobQuery ParseQuery(string tenant, string entityType, HttpRequest request, JobsOptions options)
    {
        var from = RequestBody.OptionalTimeMs(request, "from");
        var to = RequestBody.OptionalTimeMs(request, "to");
        if (from is not null && to is not null && to < from)
        {
            throw new InvalidRequestException("to", "to must not be before from");
        }

        var statuses = new List<string>();
        if (RequestBody.OptionalString(request, "status") is { } statusText)
        {
            foreach (var status in statusText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                if (Array.IndexOf(JobStatuses.All, status) < 0)
                {
                    throw new InvalidRequestException("status", $"status values are {string.Join(", ", JobStatuses.All)}; '{status}' is none of them");
                }

                statuses.Add(status);
            }
        }

        var appName = RequestBody.OptionalString(request, "app_name");
        if (appName is { Length: > JobEventParser.MaxNameLength })
        {
            throw new InvalidRequestException("app_name", $"app_name is longer than {JobEventParser.MaxNameLength} characters");
        }

        var limit = RequestBody.OptionalInt(request, "limit") ?? options.DefaultLimit;
        if (limit < 1)
        {
            throw new InvalidRequestException("limit", "limit must be at least 1");
        }

        return new JobQuery(tenant, entityType, from, to, statuses, appName, Math.Min(limit, options.MaxLimit));
    }

    private sealed record IngestResponse(
        [property: System.Text.Json.Serialization.JsonPropertyName("ok")] bool Ok,
        [property: System.Text.Json.Serialization.JsonPropertyName("accepted")] int Accepted,
        [property: System.Text.Json.Serialization.JsonPropertyName("duplicates")] int Duplicates);

    private sealed record LocalHealth(
        [property: System.Text.Json.Serialization.JsonPropertyName("status")] string Status,
        [property: System.Text.Json.Serialization.JsonPropertyName("service")] string Service,
        [property: System.Text.Json.Serialization.JsonPropertyName("version")] string Version,
        [property: System.Text.Json.Serialization.JsonPropertyName("storage")] IReadOnlyDictionary<string, string> Storage,
        [property: System.Text.Json.Serialization.JsonPropertyName("pending_events")] long PendingEvents,
        [property: System.Text.Json.Serialization.JsonPropertyName("stream_subscribers")] int StreamSubscribers);
}
