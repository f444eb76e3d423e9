using System.Collections.Immutable;
using Aperture.Profiling;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;

namespace Aperture.Agent.Diagnostics;

/// <summary>
/// Turns an EventPipe trace of the sample profiler into a pprof CPU profile: each <c>Thread/Sample</c>
/// event's managed call stack (method names from the trace's rundown) is one sample of the profiler's
/// interval, aggregated by stack and written with the runtime's pprof exporter.
/// </summary>
public static class NettraceToPprof
{
    /// <summary>The EventPipe sample profiler takes a sample per thread every millisecond.</summary>
    private const long SamplePeriodNs = 1_000_000;
    private const int MaxFrames = 256;

    public static byte[] Convert(byte[] nettrace, long durationNs, out int samples)
    {
        var directory = Path.Combine(Path.GetTempPath(), $"aperture-agent-trace-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        try
        {
            var tracePath = Path.Combine(directory, "trace.nettrace");
            File.WriteAllBytes(tracePath, nettrace);
            var etlxPath = TraceLog.CreateFromEventPipeDataFile(tracePath, Path.Combine(directory, "trace.etlx"));
            using var log = new TraceLog(etlxPath);
            var totals = new Dictionary<CallStack, ulong>();
            samples = 0;
            long first = long.MaxValue, last = 0;
            foreach (var sample in log.Events)
            {
                if (sample.ProviderName != "Microsoft-DotNETCore-SampleProfiler" || sample.EventName != "Thread/Sample")
                {
                    continue;
                }

                var frames = new List<StackFrame>();
                for (var frame = sample.CallStack(); frame is not null && frames.Count < MaxFrames; frame = frame.Caller)
                {
                    var address = frame.CodeAddress;
                    var name = address.FullMethodName;
                    frames.Add(new StackFrame(address.Address, string.IsNullOrEmpty(name) ? string.Empty : name, address.ModuleName ?? string.Empty));
                }

                if (frames.Count == 0)
                {
                    continue;
                }

                frames.Reverse(); // TraceEvent walks leaf to root; Aperture's stacks are root first
                var stack = new CallStack([.. frames]);
                totals[stack] = totals.GetValueOrDefault(stack) + 1;
                samples++;
                var ns = (long)(sample.TimeStampRelativeMSec * 1_000_000);
                first = Math.Min(first, ns);
                last = Math.Max(last, ns);
            }

            var start = (long)(log.SessionStartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalMilliseconds * 1_000_000;
            var profile = new KindProfile(
                EventKind.Cpu,
                start,
                start + durationNs,
                (ulong)samples,
                SamplePeriodNs,
                [.. totals.Select(t => new StackTotal(t.Key, t.Value, 0))]);
            return PprofExporter.Export(profile, durationNs);
        }
        finally
        {
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
                // A leftover temp directory is harmless.
            }
        }
    }
}
