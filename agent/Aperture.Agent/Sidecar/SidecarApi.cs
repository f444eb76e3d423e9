using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Agent.Api;
using Aperture.Agent.Delivery;
using Aperture.Agent.Diagnostics;
using Aperture.Agent.Services;
using Aperture.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Aperture.Agent.Sidecar;

/// <summary>
/// The job sidecar of jobs-api.md on port 8000. Jobs on this node post their events here; the sidecar
/// forwards them to the site's local jobs API, or spools them while it is down and replays them in order.
/// Every event leaves with an idempotency key (the caller's, or one assigned here on first receipt and
/// kept in the spooled copy), so an event that is replayed after an unknown outcome is stored once upstream.
/// </summary>
public static class SidecarApi
{
    public const string ServiceName = "sidecar-agent";

    public static IEndpointRouteBuilder MapSidecarApi(this IEndpointRouteBuilder routes, AgentRuntime agent)
    {
        routes.MapPost("/v1/ingest/events", async (HttpRequest request, CancellationToken cancellationToken) =>
        {
            var body = await ReadJsonAsync(request, agent, cancellationToken);
            if (body is not JsonObject single)
            {
                agent.Metrics.SidecarRejectedRequest();
                throw new InvalidRequestException("body", "The body must be one event (a JSON object); send arrays to /v1/ingest/events:batch");
            }

            var prepared = Prepare(single, agent, "body");
            agent.Metrics.SidecarReceived(1);
            var result = await agent.Jobs.SubmitAsync([prepared.Payload], cancellationToken);
            return Answer(result, 1, new JsonObject { ["ok"] = true, ["idempotency_key"] = prepared.Key, ["spooled"] = result.Outcome == SubmitOutcome.Spooled });
        });

        routes.MapPost("/v1/ingest/events:batch", async (HttpRequest request, CancellationToken cancellationToken) =>
        {
            var body = await ReadJsonAsync(request, agent, cancellationToken);
            if (body is not JsonArray array)
            {
                agent.Metrics.SidecarRejectedRequest();
                throw new InvalidRequestException("body", "The body must be a JSON array of events");
            }

            var max = agent.Config.Current.Sidecar.MaxBatchEvents;
            if (array.Count > max)
            {
                agent.Metrics.SidecarRejectedRequest();
                throw new InvalidRequestException("body", $"A batch holds at most {max} events (sidecar.max_batch_events); this one has {array.Count}");
            }

            var payloads = new List<byte[]>(array.Count);
            for (var i = 0; i < array.Count; i++)
            {
                if (array[i] is not JsonObject item)
                {
                    agent.Metrics.SidecarRejectedRequest();
                    throw new InvalidRequestException($"[{i}]", $"Event {i} is not a JSON object");
                }

                payloads.Add(Prepare(item, agent, $"[{i}]").Payload);
            }

            agent.Metrics.SidecarReceived(payloads.Count);
            if (payloads.Count == 0)
            {
                return AgentResults.Json(new JsonObject { ["ok"] = true, ["forwarded"] = 0, ["spooled"] = 0 });
            }

            // One upstream request per max_batch events: a batch is forwarded or spooled as a whole.
            int forwarded = 0, spooled = 0;
            foreach (var chunk in payloads.Chunk(agent.Config.Current.Export.Jobs.MaxBatch))
            {
                var result = await agent.Jobs.SubmitAsync(chunk, cancellationToken);
                if (result.Outcome == SubmitOutcome.Rejected)
                {
                    return Answer(result, chunk.Length, []);
                }

                if (result.Outcome == SubmitOutcome.Forwarded)
                {
                    forwarded += chunk.Length;
                }
                else
                {
                    spooled += chunk.Length;
                }
            }

            return AgentResults.Json(new JsonObject { ["ok"] = true, ["forwarded"] = forwarded, ["spooled"] = spooled });
        });

        routes.MapGet("/v1/healthz", () => AgentResults.Json(new JsonObject
        {
            ["status"] = "ok",
            ["service"] = ServiceName,
            ["version"] = AgentRuntime.Version,
            ["spool_count"] = agent.Jobs.Waiting,
            ["spool_dir"] = agent.Spool.Path,
            ["upstream"] = agent.Jobs.Sender.Destination,
            ["upstream_connected"] = agent.Jobs.Connected,
        }));

        routes.MapGet("/metrics", () => Results.Text(MetricsText.Render(agent), PrometheusText.ContentType));
        return routes;
    }

    private static IResult Answer(SubmitResult result, int events, JsonObject ok) =>
        result.Outcome == SubmitOutcome.Rejected
            ? AgentResults.Error(new ErrorResponse(ErrorCodes.InvalidRequest, $"The jobs API refused {events} event(s) as malformed", new Dictionary<string, string> { ["upstream"] = result.Error ?? string.Empty }),
                StatusCodes.Status400BadRequest)
            : AgentResults.Json(ok);

    private static async Task<JsonNode?> ReadJsonAsync(HttpRequest request, AgentRuntime agent, CancellationToken cancellationToken)
    {
        if (request.ContentLength > agent.Config.Current.Sidecar.MaxBodyBytes)
        {
            agent.Metrics.SidecarRejectedRequest();
            throw new InvalidRequestException("body", $"The body is larger than {agent.Config.Current.Sidecar.MaxBodyBytes} bytes (sidecar.max_body_bytes)");
        }

        try
        {
            return await JsonNode.ParseAsync(request.Body, cancellationToken: cancellationToken);
        }
        catch (JsonException error)
        {
            agent.Metrics.SidecarRejectedRequest();
            throw new InvalidRequestException("body", $"The body is not valid JSON: {error.Message}");
        }
    }

    private sealed record PreparedEvent(string Key, byte[] Payload);

    /// <summary>Checks the event's shape, gives it an idempotency key and the site's id where it has none.</summary>
    private static PreparedEvent Prepare(JsonObject item, AgentRuntime agent, string where)
    {
        foreach (var section in new[] { "entity", "event" })
        {
            if (item[section] is not JsonObject)
            {
                agent.Metrics.SidecarRejectedRequest();
                throw new InvalidRequestException($"{where}.{section}", $"The event has no '{section}' object");
            }
        }

        if (item["idempotency_key"] is not JsonValue key || !key.TryGetValue<string>(out var keyText) || keyText.Length == 0)
        {
            keyText = Guid.NewGuid().ToString();
            item["idempotency_key"] = keyText;
        }
        else if (keyText.Length > 200)
        {
            agent.Metrics.SidecarRejectedRequest();
            throw new InvalidRequestException($"{where}.idempotency_key", "An idempotency key is at most 200 characters");
        }

        if (item["site_id"] is null && agent.Config.Current.Sidecar.SiteId is { Length: > 0 } site)
        {
            item["site_id"] = site;
        }

        return new PreparedEvent(keyText, JsonSerializer.SerializeToUtf8Bytes(item, AgentJsonContext.Default.JsonObject));
    }
}
