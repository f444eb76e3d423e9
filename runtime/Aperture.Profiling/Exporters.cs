using System.Globalization;
using System.IO.Compression;
using System.Text;
using Aperture.Profiling.Pprof;
using Google.Protobuf;
using ValueType = Aperture.Profiling.Pprof.ValueType;

namespace Aperture.Profiling;

/// <summary>
/// Brendan Gregg's collapsed format: one line per unique stack (frames root first, joined with
/// ';'), a space and its count; largest count first, ties in stack order. Stacks whose frames have
/// the same names are one line.
/// </summary>
public static class CollapsedStackExporter
{
    public static string Export(KindProfile profile)
    {
        var lines = profile.Stacks
            .GroupBy(s => s.Stack.Collapsed, StringComparer.Ordinal)
            .Select(g => (Stack: g.Key, Count: g.Aggregate(0UL, (sum, s) => sum + s.Count)))
            .OrderByDescending(l => l.Count)
            .ThenBy(l => l.Stack, StringComparer.Ordinal);
        var text = new StringBuilder();
        foreach (var (stack, count) in lines)
        {
            text.Append(stack).Append(' ').Append(count.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }

        return text.ToString();
    }
}

/// <summary>A gzipped pprof profile.proto of one kind, readable by `go tool pprof` and speedscope.</summary>
public static class PprofExporter
{
    public static byte[] Export(KindProfile profile, long durationNs)
    {
        var strings = new List<string> { string.Empty };
        var stringIds = new Dictionary<string, long>(StringComparer.Ordinal) { [string.Empty] = 0 };
        long Str(string s)
        {
            if (!stringIds.TryGetValue(s, out var id))
            {
                id = strings.Count;
                strings.Add(s);
                stringIds[s] = id;
            }

            return id;
        }

        var (countType, valueType, valueUnit) = profile.Kind switch
        {
            EventKind.Cpu => ("samples", "cpu", "nanoseconds"),
            EventKind.Lock => ("contentions", "delay", "nanoseconds"),
            _ => ("calls", "latency", "nanoseconds"),
        };
        var result = new Profile
        {
            TimeNanos = profile.StartTime,
            DurationNanos = durationNs,
            Period = profile.Kind == EventKind.Cpu ? profile.SamplePeriodNs : 1,
        };
        result.SampleType.Add(new ValueType { Type = Str(countType), Unit = Str("count") });
        result.SampleType.Add(new ValueType { Type = Str(valueType), Unit = Str(valueUnit) });
        result.PeriodType = profile.Kind == EventKind.Cpu
            ? new ValueType { Type = Str("cpu"), Unit = Str("nanoseconds") }
            : new ValueType { Type = Str(countType), Unit = Str("count") };

        var mappings = new Dictionary<string, ulong>(StringComparer.Ordinal);
        var functions = new Dictionary<(string Name, string Module), ulong>();
        var locations = new Dictionary<StackFrame, ulong>();
        foreach (var total in profile.Stacks)
        {
            var sample = new Sample();
            // pprof lists a sample's locations leaf first; Aperture's stacks are root first.
            for (var i = total.Stack.Frames.Length - 1; i >= 0; i--)
            {
                var frame = total.Stack.Frames[i];
                if (!locations.TryGetValue(frame, out var locationId))
                {
                    if (!mappings.TryGetValue(frame.Module, out var mappingId))
                    {
                        mappingId = (ulong)mappings.Count + 1;
                        mappings[frame.Module] = mappingId;
                        result.Mapping.Add(new Mapping { Id = mappingId, Filename = Str(frame.Module), HasFunctions = true });
                    }

                    var name = frame.Function.Length > 0 ? frame.Function : string.Create(CultureInfo.InvariantCulture, $"0x{frame.Ip:x}");
                    if (!functions.TryGetValue((name, frame.Module), out var functionId))
                    {
                        functionId = (ulong)functions.Count + 1;
                        functions[(name, frame.Module)] = functionId;
                        result.Function.Add(new Function { Id = functionId, Name = Str(name), SystemName = Str(name), Filename = Str(frame.Module) });
                    }

                    locationId = (ulong)locations.Count + 1;
                    locations[frame] = locationId;
                    var location = new Location { Id = locationId, MappingId = mappingId, Address = frame.Ip };
                    location.Line.Add(new Line { FunctionId = functionId });
                    result.Location.Add(location);
                }

                sample.LocationId.Add(locationId);
            }

            sample.Value.Add((long)total.Count);
            sample.Value.Add(profile.Kind == EventKind.Cpu ? (long)total.Count * profile.SamplePeriodNs : (long)total.Value);
            result.Sample.Add(sample);
        }

        result.StringTable.AddRange(strings);
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            result.WriteTo(gzip);
        }

        return output.ToArray();
    }
}

/// <summary>One stack's line in a differential profile.</summary>
public sealed record StackDelta(string Stack, ulong Baseline, ulong Comparison)
{
    public long Delta => (long)Comparison - (long)Baseline;
}

/// <summary>Baseline against comparison, stack by stack (collapsed text identifies a stack).</summary>
public sealed record ProfileDiff(ulong BaselineTotal, ulong ComparisonTotal, IReadOnlyList<StackDelta> Stacks)
{
    /// <summary>The <paramref name="maxStacks"/> stacks that changed most, by absolute delta.</summary>
    public static ProfileDiff Compute(KindProfile baseline, KindProfile comparison, int maxStacks)
    {
        var byStack = new Dictionary<string, (ulong Baseline, ulong Comparison)>(StringComparer.Ordinal);
        foreach (var s in baseline.Stacks)
        {
            var current = byStack.GetValueOrDefault(s.Stack.Collapsed);
            byStack[s.Stack.Collapsed] = (current.Baseline + s.Count, current.Comparison);
        }

        foreach (var s in comparison.Stacks)
        {
            var current = byStack.GetValueOrDefault(s.Stack.Collapsed);
            byStack[s.Stack.Collapsed] = (current.Baseline, current.Comparison + s.Count);
        }

        var stacks = byStack
            .Select(kv => new StackDelta(kv.Key, kv.Value.Baseline, kv.Value.Comparison))
            .OrderByDescending(d => Math.Abs(d.Delta))
            .ThenBy(d => d.Stack, StringComparer.Ordinal)
            .Take(maxStacks)
            .ToList();
        return new ProfileDiff(baseline.TotalSamples, comparison.TotalSamples, stacks);
    }
}
