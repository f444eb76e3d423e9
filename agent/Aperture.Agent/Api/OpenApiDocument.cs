using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aperture.Agent.Api;

/// <summary>The OpenAPI 3.0 description of the agent API (port 19090) and of the job sidecar (port 8000).</summary>
public static class OpenApiDocument
{
    /// <summary>Every route: method, path, summary, whether it needs the bearer token when auth is on, and its port.</summary>
    public static readonly IReadOnlyList<(string Method, string Path, string Summary, bool Secured, string Api)> Routes =
    [
        ("get", "/healthz", "Liveness probe", false, "agent"),
        ("get", "/ready", "Readiness probe: collectors, export and discovery checks; 503 names the failed check", false, "agent"),
        ("get", "/metrics", "Prometheus metrics (text format 0.0.4)", false, "agent"),
        ("get", "/status", "Version, uptime, host, collectors, profiling, export and discovery", true, "agent"),
        ("get", "/status/export", "Delivery channels, spool and OTLP export", true, "agent"),
        ("get", "/status/discovery", "Where the agent runs (Kubernetes node, container runtime, host)", true, "agent"),
        ("get", "/status/collectors", "What is loaded, and what this host does not permit and why", true, "agent"),
        ("get", "/config", "The configuration in force, secrets redacted", true, "agent"),
        ("get", "/debug/vars", "Runtime variables (command line, memory statistics, counters)", true, "agent"),
        ("get", "/debug/pprof/", "Index of the diagnostic profiles", true, "agent"),
        ("get", "/debug/pprof/heap", "Managed heap: sizes per generation, fragmentation, committed memory", true, "agent"),
        ("get", "/debug/pprof/gc", "Garbage collection counts, pauses and allocation", true, "agent"),
        ("get", "/debug/pprof/threads", "The process's threads and the thread pool", true, "agent"),
        ("get", "/debug/pprof/profile", "CPU profile of the agent itself, ?seconds=N (1-60): gzipped pprof profile.proto, or format=nettrace for the EventPipe trace", true, "agent"),
        ("post", "/admin/reload", "Reload the configuration file; 400 keeps the configuration in force", true, "agent"),
        ("post", "/admin/flush", "Send everything waiting in the spool now", true, "agent"),
        ("get", "/openapi.json", "This document", true, "agent"),
        ("post", "/v1/ingest/events", "Job sidecar (port 8000): one job event, forwarded to the site's jobs API or spooled", false, "sidecar"),
        ("post", "/v1/ingest/events:batch", "Job sidecar (port 8000): an array of job events; answers forwarded and spooled counts", false, "sidecar"),
        ("get", "/v1/healthz", "Job sidecar (port 8000): health with the spool's count and directory", false, "sidecar"),
    ];

    public static readonly string Json = Build();

    private static string Build()
    {
        var paths = new JsonObject();
        foreach (var (method, path, summary, secured, api) in Routes)
        {
            if (paths[path] is not JsonObject item)
            {
                paths[path] = item = new JsonObject();
            }

            var operation = new JsonObject
            {
                ["summary"] = summary,
                ["tags"] = new JsonArray(api),
                ["responses"] = new JsonObject
                {
                    ["200"] = new JsonObject { ["description"] = "OK" },
                    ["default"] = new JsonObject
                    {
                        ["description"] = "Error",
                        ["content"] = new JsonObject { ["application/json"] = new JsonObject { ["schema"] = new JsonObject { ["$ref"] = "#/components/schemas/Error" } } },
                    },
                },
            };
            if (secured)
            {
                operation["security"] = new JsonArray(new JsonObject { ["bearer"] = new JsonArray() });
            }

            item[method] = operation;
        }

        var document = new JsonObject
        {
            ["openapi"] = "3.0.3",
            ["info"] = new JsonObject { ["title"] = "Aperture node agent", ["version"] = "v1", ["description"] = "agent-api.md on port 19090; the job sidecar of jobs-api.md on port 8000. Bearer auth applies when self_telemetry.auth is enabled; /healthz, /ready and /metrics stay open." },
            ["paths"] = paths,
            ["components"] = new JsonObject
            {
                ["securitySchemes"] = new JsonObject { ["bearer"] = new JsonObject { ["type"] = "http", ["scheme"] = "bearer" } },
                ["schemas"] = new JsonObject
                {
                    ["Error"] = new JsonObject
                    {
                        ["type"] = "object",
                        ["required"] = new JsonArray("error", "message"),
                        ["properties"] = new JsonObject
                        {
                            ["error"] = new JsonObject { ["type"] = "string", ["enum"] = new JsonArray("invalid_request", "not_found", "unauthorized", "forbidden", "internal_error", "service_unavailable", "not_implemented") },
                            ["message"] = new JsonObject { ["type"] = "string" },
                            ["details"] = new JsonObject { ["type"] = "object", ["additionalProperties"] = new JsonObject { ["type"] = "string" } },
                        },
                    },
                },
            },
        };
        return document.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }
}
