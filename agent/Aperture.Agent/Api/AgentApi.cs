using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Agent.Configuration;
using Aperture.Agent.Diagnostics;
using Aperture.Agent.Services;
using Aperture.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Aperture.Agent.Api;

/// <summary>agent-api.md on port 19090: health, readiness, metrics, status, configuration and admin.</summary>
public static class AgentApi
{
    public static IEndpointRouteBuilder MapAgentApi(this IEndpointRouteBuilder routes, AgentRuntime agent)
    {
        routes.MapGet("/healthz", () => AgentResults.Json(new JsonObject { ["status"] = "ok" }));

        routes.MapGet("/ready", () =>
        {
            var report = agent.Readiness();
            return Results.Json(report, AgentJsonContext.Default.ReadinessReport, statusCode: report.IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        });

        routes.MapGet("/metrics", () => Results.Text(MetricsText.Render(agent), PrometheusText.ContentType));

        routes.MapGet("/status", () =>
        {
            var config = agent.Config.Current;
            return AgentResults.Json(new JsonObject
            {
                ["version"] = AgentRuntime.Version,
                ["commit"] = AgentRuntime.Commit,
                ["built"] = Built,
                ["uptime"] = Uptime(agent.Time.GetUtcNow() - agent.StartedAt),
                ["mode"] = config.Mode,
                ["agent_id"] = agent.AgentId,
                ["host"] = new JsonObject
                {
                    ["name"] = agent.Hostname,
                    ["os"] = RuntimeInformation.IsOSPlatform(OSPlatform.Linux) ? "linux" : RuntimeInformation.OSDescription,
                    ["arch"] = RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant(),
                    ["kernel"] = Environment.OSVersion.Version.ToString(),
                },
                ["collectors"] = CollectorsSummary(agent),
                ["profiling"] = new JsonObject
                {
                    ["enabled"] = config.Profiling.Enabled,
                    ["available"] = agent.ProfileProbe.Available,
                    ["reason"] = agent.ProfileProbe.Reason,
                    ["sample_rate"] = config.Profiling.SampleRate,
                    ["profiles_collected"] = agent.Metrics.ProfileBatches,
                    ["samples_collected"] = agent.Metrics.ProfileSamples,
                },
                ["export"] = ExportSummary(agent),
                ["discovery"] = DiscoverySummary(agent),
                ["config"] = new JsonObject
                {
                    ["path"] = agent.Config.Path,
                    ["loaded_at"] = agent.Config.LoadedAt,
                    ["reloads"] = agent.Config.Reloads,
                    ["last_reload_error"] = agent.Config.LastReloadError,
                },
            });
        });

        routes.MapGet("/status/export", () => AgentResults.Json(ExportDetail(agent)));
        routes.MapGet("/status/discovery", () => AgentResults.Json(DiscoverySummary(agent)));
        routes.MapGet("/status/collectors", () => AgentResults.Json(CollectorsDetail(agent)));
        routes.MapGet("/config", () => AgentResults.Json(ConfigRedaction.Redact(agent.Config.Current)));

        routes.MapPost("/admin/reload", () =>
        {
            try
            {
                agent.Config.Reload();
                return AgentResults.Json(new JsonObject { ["status"] = "ok", ["message"] = "Configuration reloaded" });
            }
            catch (AgentConfigException error)
            {
                agent.Metrics.ReloadFailed();
                return AgentResults.Error(
                    new ErrorResponse(ErrorCodes.InvalidRequest, "Invalid configuration; the configuration in force is unchanged: " + string.Join("; ", error.Errors),
                        error.Errors.Select((e, i) => (e, i)).ToDictionary(p => $"error_{p.i}", p => p.e)),
                    StatusCodes.Status400BadRequest);
            }
        });

        routes.MapPost("/admin/flush", async (CancellationToken cancellationToken) =>
        {
            var flushed = await agent.FlushAsync(cancellationToken);
            return AgentResults.Json(new JsonObject
            {
                ["status"] = "ok",
                ["flushed"] = flushed.ToJsonObject(n => n),
                ["remaining"] = agent.Channels.Select(c => KeyValuePair.Create(c.Name, c.Waiting)).ToJsonObject(n => n),
            });
        });

        routes.MapGet("/openapi.json", () => Results.Text(OpenApiDocument.Json, "application/json"));
        return routes;
    }

    /// <summary>
    /// When the agent's code was written: its assembly in the JIT build; in the Native AOT build, where the
    /// assembly is compiled into the executable, the executable itself.
    /// </summary>
    private static string Built { get; } = File.GetLastWriteTimeUtc(
        File.Exists(Path.Combine(AppContext.BaseDirectory, "aperture-agent.dll"))
            ? Path.Combine(AppContext.BaseDirectory, "aperture-agent.dll")
            : Environment.ProcessPath ?? AppContext.BaseDirectory).ToString("O");

    private static string Uptime(TimeSpan uptime) =>
        $"{(int)uptime.TotalHours}h{uptime.Minutes}m{uptime.Seconds}s";

    private static JsonObject CollectorsSummary(AgentRuntime agent) => new()
    {
        ["host"] = agent.LastHostSampleError is null,
        ["gpu"] = agent.HostCollector.Gpus.Name,
        ["gpus"] = agent.LastHostSample?.Gpus.Count ?? 0,
        ["cpu_profiler"] = agent.ProfileProbe.Available,
        ["lock_events"] = agent.Profiler.KernelEvents().Any(k => k.Name == "lock_events" && k.Loaded),
        ["syscall_events"] = agent.Profiler.KernelEvents().Any(k => k.Name == "syscall_events" && k.Loaded),
        ["samples_collected"] = agent.Metrics.HostSamples,
    };

    /// <summary>In place of agent-api.md's /status/ebpf: what is loaded, and what this host does not permit and why.</summary>
    public static JsonObject CollectorsDetail(AgentRuntime agent)
    {
        var config = agent.Config.Current;
        var gpu = agent.HostCollector.Gpus;
        var profiler = agent.ProfileProbe;
        CollectorState[] collectors =
        [
            new CollectorState("host", "procfs", agent.LastHostSampleError is null, agent.LastHostSampleError is null,
                agent.LastHostSampleError ?? $"reading {Path.Combine(agent.HostCollector.Proc.Root, "proc")} and {Path.Combine(agent.HostCollector.Proc.Root, "sys")} every {config.Collectors.IntervalSeconds} s"),
            new CollectorState("gpu", gpu.Name, gpu.Available, true, gpu.Reason),
            new CollectorState("cpu_profiler", "perf_event", profiler.Available && config.Profiling.Enabled, profiler.Available,
                config.Profiling.Enabled ? profiler.Reason : "disabled in the configuration (profiling.enabled: false); " + profiler.Reason),
            .. agent.Profiler.KernelEvents().Select(k => new CollectorState(k.Name, "tracepoint", k.Loaded && config.Profiling.Enabled, k.Permitted,
                config.Profiling.Enabled ? k.Reason : "disabled in the configuration (profiling.enabled: false); " + k.Reason)),
        ];
        return new JsonObject
        {
            ["collectors"] = collectors.Select(c => (JsonNode?)new JsonObject
            {
                ["name"] = c.Name,
                ["source"] = c.Source,
                ["loaded"] = c.Loaded,
                ["permitted"] = c.Permitted,
                ["reason"] = c.Reason,
            }).ToJsonArray(),
            ["not_permitted"] = collectors.Where(c => !c.Permitted).Select(c => (JsonNode?)new JsonObject { ["name"] = c.Name, ["reason"] = c.Reason }).ToJsonArray(),
            ["last_host_sample_at"] = agent.LastHostSample?.CollectedAt,
            ["last_profile_at"] = agent.LastProfileAt,
            ["gpus"] = JsonSerializer.SerializeToNode(agent.LastHostSample?.Gpus ?? [], AgentJsonContext.Default.IReadOnlyListGpuSample),
        };
    }

    private sealed record CollectorState(string Name, string Source, bool Loaded, bool Permitted, string Reason);

    private static JsonObject ExportSummary(AgentRuntime agent) => new()
    {
        ["endpoint"] = agent.Profiles.Sender.Destination,
        ["connected"] = agent.Profiles.Connected ?? false,
        ["last_export"] = agent.Channels.Max(c => c.LastDelivery),
        ["batches_exported"] = agent.Profiles.Forwarded + agent.Profiles.Replayed,
        ["samples_exported"] = agent.Samples.Forwarded + agent.Samples.Replayed,
        ["job_events_exported"] = agent.Jobs.Forwarded + agent.Jobs.Replayed,
        ["spooled"] = agent.Spool.Count,
    };

    public static JsonObject ExportDetail(AgentRuntime agent)
    {
        var config = agent.Config.Current;
        return new JsonObject
        {
            ["endpoint"] = agent.Profiles.Sender.Destination,
            ["protocol"] = "grpc",
            ["tls"] = config.Export.Aggregator.Endpoint.StartsWith("https", StringComparison.OrdinalIgnoreCase),
            ["compression"] = "none",
            ["connected"] = agent.Profiles.Connected ?? false,
            ["last_export"] = agent.Profiles.LastDelivery,
            ["last_error"] = agent.Profiles.LastError,
            ["queues"] = agent.Channels.Select(c => KeyValuePair.Create(c.Name, c)).ToJsonObject(c => new JsonObject
            {
                ["destination"] = c.Sender.Destination,
                ["configured"] = c.Sender.Configured,
                ["connected"] = c.Connected,
                ["size"] = c.Waiting,
                ["capacity_bytes"] = agent.Spool.MaxBytes,
                ["exported"] = c.Forwarded + c.Replayed,
                ["forwarded"] = c.Forwarded,
                ["replayed"] = c.Replayed,
                ["spooled"] = c.SpooledTotal,
                ["rejected"] = c.Rejected,
                ["dropped"] = c.Dropped,
                ["last_export"] = c.LastDelivery,
                ["last_error"] = c.LastError,
                ["next_attempt"] = c.Connected == false ? c.NextAttempt : (DateTimeOffset?)null,
            }),
            ["spool"] = new JsonObject { ["dir"] = agent.Spool.Path, ["entries"] = agent.Spool.Count, ["bytes"] = agent.Spool.Bytes, ["max_bytes"] = agent.Spool.MaxBytes, ["dropped"] = agent.Spool.Dropped },
            ["host_samples"] = new JsonObject { ["server_slug"] = config.Export.Servers.ServerSlug, ["skipped"] = agent.HostSampleExportSkipped },
            ["otlp"] = new JsonObject { ["enabled"] = agent.OtlpEnabled, ["endpoint"] = config.Export.Otlp.Endpoint, ["protocol"] = config.Export.Otlp.Protocol, ["interval_seconds"] = config.Export.Otlp.IntervalSeconds },
        };
    }

    private static JsonObject DiscoverySummary(AgentRuntime agent)
    {
        var discovery = agent.Discovery;
        var targets = discovery.Targets;
        var selection = targets.Last;
        return new JsonObject
        {
            ["kubernetes"] = new JsonObject
            {
                ["enabled"] = discovery.Kubernetes,
                ["connected"] = targets.WatchesPods ? targets.Connected : (bool?)null,
                ["api_server"] = targets.ApiServer,
                ["node"] = discovery.NodeName,
                ["namespace"] = discovery.Namespace,
                ["pods_watched"] = targets.PodsWatched,
                ["error"] = targets.WatchesPods ? targets.Problem : null,
            },
            ["container_runtime"] = new JsonObject { ["socket"] = discovery.ContainerRuntimeSocket, ["connected"] = false },
            ["host"] = new JsonObject { ["name"] = agent.Hostname, ["root"] = agent.Config.Current.Collectors.HostRoot },
            ["profiling_targets"] = new JsonObject { ["pids"] = agent.Config.Current.Profiling.Pids.ToJsonArray() },
            ["targets"] = (selection?.Targets ?? []).Select(t => (JsonNode?)new JsonObject
            {
                ["name"] = t.Target.Name,
                ["namespace"] = t.Target.Namespace,
                ["pod_selector"] = t.Target.PodSelector.ToJsonObject(v => v),
                ["event_types"] = t.Target.EventTypes.ToJsonArray(),
                ["sample_rate"] = t.Target.SampleRate,
                ["all_processes"] = t.AllProcesses,
                ["pods"] = t.Pods.Select(p => (JsonNode?)new JsonObject { ["name"] = p.Pod.Name, ["uid"] = p.Pod.Uid, ["phase"] = p.Pod.Phase, ["processes"] = p.Pids.Count, ["pids"] = p.Pids.ToJsonArray() }).ToJsonArray(),
                ["processes"] = t.Pids.Count,
                ["error"] = t.Error,
            }).ToJsonArray(),
            ["check"] = discovery.Check(),
        };
    }
}
