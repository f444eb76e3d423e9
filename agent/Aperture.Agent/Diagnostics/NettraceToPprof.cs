using System.Runtime.InteropServices;
using Aperture.Contracts.Pprof;
using Microsoft.Diagnostics.Tracing;
using Microsoft.Diagnostics.Tracing.Etlx;

namespace Aperture.Agent.Diagnostics;

/// <summary>
/// Turns an EventPipe trace of the sample profiler into a pprof CPU profile: each <c>Thread/Sample</c>
/// event's managed call stack (method names from the trace's rundown) is one sample of the profiler's
/// interval, aggregated by stack and written with the pprof builder the runtime's export uses too.
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
            var start = (long)(log.SessionStartTime.ToUniversalTime() - DateTime.UnixEpoch).TotalMilliseconds * 1_000_000;
            var pprof = new PprofProfileBuilder(start, durationNs, SamplePeriodNs);
            pprof.AddSampleType("samples", "count");
            pprof.AddSampleType("cpu", "nanoseconds");
            pprof.SetPeriodType("cpu", "nanoseconds");

            // Samples of the same stack are one pprof sample; a stack is its locations, leaf first as pprof lists them.
            var totals = new Dictionary<ulong[], long>(LocationsComparer.Instance);
            var locationIds = new List<ulong>(MaxFrames);
            samples = 0;
            foreach (var sample in log.Events)
            {
                if (sample.ProviderName != "Microsoft-DotNETCore-SampleProfiler" || sample.EventName != "Thread/Sample")
                {
                    continue;
                }

                locationIds.Clear();
                for (var frame = sample.CallStack(); frame is not null && locationIds.Count < MaxFrames; frame = frame.Caller)
                {
                    var address = frame.CodeAddress;
                    var name = address.FullMethodName;
                    locationIds.Add(pprof.Location(address.Address, string.IsNullOrEmpty(name) ? string.Empty : name, address.ModuleName ?? string.Empty));
                }

                if (locationIds.Count == 0)
                {
                    continue;
                }

                var stack = locationIds.ToArray();
                totals[stack] = totals.GetValueOrDefault(stack) + 1;
                samples++;
            }

            foreach (var (stack, count) in totals)
            {
                pprof.AddSample(stack, count, count * SamplePeriodNs);
            }

            return pprof.ToGzip();
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

    /// <summary>Stacks as arrays of location ids, compared by their contents.</summary>
    private sealed class LocationsComparer : IEqualityComparer<ulong[]>
    {
        public static readonly LocationsComparer Instance = new();

        public bool Equals(ulong[]? x, ulong[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(ulong[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(MemoryMarshal.AsBytes(obj.AsSpan()));
            return hash.ToHashCode();
        }
    }
}
