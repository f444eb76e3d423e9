using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;
using System.Runtime;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using Aperture.Agent.Services;
using Aperture.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Diagnostics.NETCore.Client;

namespace Aperture.Agent.Api;

/// <summary>
/// The .NET equivalents of agent-api.md's Go <c>/debug/vars</c> and <c>/debug/pprof/*</c>, served only when
/// <c>self_telemetry.debug.enabled</c> is true (404 otherwise): the managed heap, garbage collection, threads,
/// and a CPU profile of the agent itself: an EventPipe trace (sample profiler) taken through the runtime's
/// diagnostics port, converted to pprof or given as it is.
/// </summary>
public static class DebugApi
{
    private const int MaxProfileSeconds = 60;
    private const long MaxTraceBytes = 64L * 1024 * 1024;

    public static IEndpointRouteBuilder MapDebugApi(this IEndpointRouteBuilder routes, AgentRuntime agent)
    {
        var debug = routes.MapGroup("/debug").AddEndpointFilter(async (context, next) =>
            agent.Config.Current.SelfTelemetry.Debug.Enabled
                ? await next(context)
                : AgentResults.Error(new ErrorResponse(ErrorCodes.NotFound, "Debug endpoints are off (self_telemetry.debug.enabled: false)"), StatusCodes.Status404NotFound));

        debug.MapGet("/vars", () =>
        {
            using var process = Process.GetCurrentProcess();
            return AgentResults.Json(new JsonObject
            {
                ["cmdline"] = Environment.GetCommandLineArgs().ToJsonArray(),
                ["memstats"] = new JsonObject
                {
                    ["Alloc"] = GC.GetTotalMemory(forceFullCollection: false),
                    ["TotalAlloc"] = GC.GetTotalAllocatedBytes(),
                    ["Sys"] = process.WorkingSet64,
                    ["HeapCommitted"] = GC.GetGCMemoryInfo().TotalCommittedBytes,
                    ["NumGC"] = Enumerable.Range(0, GC.MaxGeneration + 1).Sum(GC.CollectionCount),
                    ["PauseTotalNs"] = (long)(GC.GetTotalPauseDuration().TotalMilliseconds * 1_000_000),
                },
                ["runtime"] = new JsonObject { ["version"] = Environment.Version.ToString(), ["processors"] = Environment.ProcessorCount, ["server_gc"] = GCSettings.IsServerGC },
                ["agent"] = new JsonObject
                {
                    ["host_samples"] = agent.Metrics.HostSamples,
                    ["profile_batches"] = agent.Metrics.ProfileBatches,
                    ["sidecar_events"] = agent.Metrics.SidecarEvents,
                    ["spool_entries"] = agent.Spool.Count,
                    ["spool_bytes"] = agent.Spool.Bytes,
                    ["spool_dropped"] = agent.Spool.Dropped,
                },
            });
        });

        debug.MapGet("/pprof/", () => AgentResults.Json(new JsonObject
        {
            ["profiles"] = new JsonArray(
                Profile("/debug/pprof/heap", "managed heap after the last GC: generations, fragmentation, committed (Go: heap)"),
                Profile("/debug/pprof/gc", "collection counts, pause time, allocation (Go: memstats)"),
                Profile("/debug/pprof/threads", "threads and the thread pool (Go: goroutine, threadcreate)"),
                Profile("/debug/pprof/profile?seconds=30", "CPU profile of the agent, gzipped pprof from an EventPipe sample-profiler trace; format=nettrace for the trace itself (Go: profile; JIT build only)")),
        }));

        debug.MapGet("/pprof/heap", () =>
        {
            var info = GC.GetGCMemoryInfo(GCKind.Any);
            return AgentResults.Json(new JsonObject
            {
                ["heap_size_bytes"] = info.HeapSizeBytes,
                ["fragmented_bytes"] = info.FragmentedBytes,
                ["total_committed_bytes"] = info.TotalCommittedBytes,
                ["total_available_memory_bytes"] = info.TotalAvailableMemoryBytes,
                ["high_memory_load_threshold_bytes"] = info.HighMemoryLoadThresholdBytes,
                ["memory_load_bytes"] = info.MemoryLoadBytes,
                ["promoted_bytes"] = info.PromotedBytes,
                ["pinned_objects"] = info.PinnedObjectsCount,
                ["finalization_pending"] = info.FinalizationPendingCount,
                ["last_gc"] = new JsonObject { ["index"] = info.Index, ["generation"] = info.Generation, ["compacted"] = info.Compacted, ["concurrent"] = info.Concurrent, ["pause_time_percentage"] = info.PauseTimePercentage },
                ["generations"] = info.GenerationInfo.ToArray().Select((g, i) => (JsonNode?)new JsonObject
                {
                    ["generation"] = i < 3 ? $"gen{i}" : i == 3 ? "loh" : "poh",
                    ["size_before_bytes"] = g.SizeBeforeBytes,
                    ["size_after_bytes"] = g.SizeAfterBytes,
                    ["fragmentation_before_bytes"] = g.FragmentationBeforeBytes,
                    ["fragmentation_after_bytes"] = g.FragmentationAfterBytes,
                }).ToJsonArray(),
                ["total_memory_bytes"] = GC.GetTotalMemory(forceFullCollection: false),
            });
        });

        debug.MapGet("/pprof/gc", () => AgentResults.Json(new JsonObject
        {
            ["collections"] = Enumerable.Range(0, GC.MaxGeneration + 1).Select(g => KeyValuePair.Create($"gen{g}", GC.CollectionCount(g))).ToJsonObject(n => n),
            ["total_pause_ms"] = GC.GetTotalPauseDuration().TotalMilliseconds,
            ["total_allocated_bytes"] = GC.GetTotalAllocatedBytes(),
            ["server_gc"] = GCSettings.IsServerGC,
            ["latency_mode"] = GCSettings.LatencyMode.ToString(),
            ["large_object_heap_compaction"] = GCSettings.LargeObjectHeapCompactionMode.ToString(),
        }));

        debug.MapGet("/pprof/threads", Threads);
        debug.MapGet("/pprof/goroutine", Threads);

        debug.MapGet("/pprof/profile", async (HttpContext context, CancellationToken cancellationToken) =>
        {
            var seconds = 30;
            if (context.Request.Query["seconds"] is { Count: > 0 } given &&
                (!int.TryParse(given.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out seconds) || seconds is < 1 or > MaxProfileSeconds))
            {
                throw new InvalidRequestException("seconds", $"seconds must be a whole number from 1 to {MaxProfileSeconds}");
            }

            var format = context.Request.Query["format"].ToString();
            if (format is not ("" or "pprof" or "nettrace"))
            {
                throw new InvalidRequestException("format", "format is pprof (the default) or nettrace");
            }

            // The trace goes through the runtime's diagnostics port and is read with TraceEvent, neither of which the
            // Native AOT build has; the trimmer drops the code below from that build, as this check is constant there.
            if (!RuntimeFeature.IsDynamicCodeSupported)
            {
                return AgentResults.Error(new ErrorResponse(ErrorCodes.NotImplemented,
                    "The CPU profile of the agent itself needs the JIT build of the agent (dotnet aperture-agent.dll); this is the Native AOT build, which has no EventPipe diagnostics port to trace itself through."),
                    StatusCodes.Status501NotImplemented);
            }

            return await ProfileSelfAsync(seconds, format, cancellationToken);
        });

        return routes;
    }

    private static JsonObject Profile(string path, string description) => new JsonObject { ["path"] = path, ["description"] = description };

    private static async Task<IResult> ProfileSelfAsync(int seconds, string format, CancellationToken cancellationToken)
    {
        byte[] trace;
        try
        {
            trace = await TraceSelfAsync(TimeSpan.FromSeconds(seconds), cancellationToken);
        }
        catch (Exception error) when (error is DiagnosticsClientException or ServerNotAvailableException or IOException or TimeoutException)
        {
            return AgentResults.Error(new ErrorResponse(ErrorCodes.ServiceUnavailable, $"The runtime's diagnostics port did not start a trace: {error.Message} (is DOTNET_EnableDiagnostics=0 set?)"),
                StatusCodes.Status503ServiceUnavailable);
        }

        if (format == "nettrace")
        {
            return Results.File(trace, "application/octet-stream", $"aperture-agent-{Environment.ProcessId}.nettrace");
        }

        var pprof = await Task.Run(() => Diagnostics.NettraceToPprof.Convert(trace, seconds * 1_000_000_000L, out _), cancellationToken);
        return Results.File(pprof, "application/octet-stream", $"aperture-agent-{Environment.ProcessId}.pb.gz");
    }

    private static JsonObject ThreadInfo(ProcessThread thread)
    {
        string state;
        double? cpuMs;
        try
        {
            state = thread.ThreadState.ToString();
        }
        catch (InvalidOperationException)
        {
            state = "Unknown"; // the thread ended while we looked
        }

        try
        {
            cpuMs = thread.TotalProcessorTime.TotalMilliseconds;
        }
        catch (Exception error) when (error is InvalidOperationException or NotSupportedException)
        {
            cpuMs = null;
        }

        return new JsonObject { ["id"] = thread.Id, ["state"] = state, ["cpu_ms"] = cpuMs };
    }

    /// <summary>A sample-profiler EventPipe session on this very process, through its diagnostics port.</summary>
    private static async Task<byte[]> TraceSelfAsync(TimeSpan duration, CancellationToken cancellationToken)
    {
        var client = new DiagnosticsClient(Environment.ProcessId);
        EventPipeProvider[] providers =
        [
            new("Microsoft-DotNETCore-SampleProfiler", EventLevel.Informational),
            new("Microsoft-Windows-DotNETRuntime", EventLevel.Informational, (long)ClrTraceEventKeywords),
        ];
        using var session = await client.StartEventPipeSessionAsync(providers, requestRundown: true, circularBufferMB: 64, cancellationToken);
        using var trace = new MemoryStream();
        var copy = Task.Run(async () =>
        {
            var buffer = new byte[81920];
            int read;
            while ((read = await session.EventStream.ReadAsync(buffer, CancellationToken.None)) > 0)
            {
                if (trace.Length + read <= MaxTraceBytes)
                {
                    trace.Write(buffer, 0, read);
                }
            }
        }, CancellationToken.None);
        try
        {
            await Task.Delay(duration, cancellationToken);
        }
        finally
        {
            await session.StopAsync(CancellationToken.None);
        }

        await copy.WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
        return trace.ToArray();
    }

    /// <summary>Loader and JIT keywords, so the trace's rundown names the methods on its stacks.</summary>
    private const long ClrTraceEventKeywords = 0x8 | 0x10;

    private static IResult Threads()
    {
        using var process = Process.GetCurrentProcess();
        ThreadPool.GetAvailableThreads(out var availableWorkers, out var availableIo);
        ThreadPool.GetMaxThreads(out var maxWorkers, out var maxIo);
        return AgentResults.Json(new JsonObject
        {
            ["count"] = process.Threads.Count,
            ["thread_pool"] = new JsonObject
            {
                ["threads"] = ThreadPool.ThreadCount,
                ["pending_work_items"] = ThreadPool.PendingWorkItemCount,
                ["completed_work_items"] = ThreadPool.CompletedWorkItemCount,
                ["busy_workers"] = maxWorkers - availableWorkers,
                ["busy_io"] = maxIo - availableIo,
            },
            ["threads"] = process.Threads.Cast<ProcessThread>().Select(t => (JsonNode?)ThreadInfo(t)).ToJsonArray(),
        });
    }
}
