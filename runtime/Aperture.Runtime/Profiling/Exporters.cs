using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Aperture.Contracts.Pprof;

namespace Aperture.Runtime.Profiling;

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
        var (countType, valueType, valueUnit) = profile.Kind switch
        {
            EventKind.Cpu => ("samples", "cpu", "nanoseconds"),
            EventKind.Lock => ("contentions", "delay", "nanoseconds"),
            _ => ("calls", "latency", "nanoseconds"),
        };
        var cpu = profile.Kind == EventKind.Cpu;
        var pprof = new PprofProfileBuilder(profile.StartTime, durationNs, cpu ? profile.SamplePeriodNs : 1);
        pprof.AddSampleType(countType, "count");
        pprof.AddSampleType(valueType, valueUnit);
        if (cpu)
        {
            pprof.SetPeriodType("cpu", "nanoseconds");
        }
        else
        {
            pprof.SetPeriodType(countType, "count");
        }

        var locationIds = new List<ulong>();
        foreach (var total in profile.Stacks)
        {
            // pprof lists a sample's locations leaf first; Aperture's stacks are root first.
            locationIds.Clear();
            for (var i = total.Stack.Frames.Length - 1; i >= 0; i--)
            {
                var frame = total.Stack.Frames[i];
                locationIds.Add(pprof.Location(frame.Ip, frame.Function, frame.Module));
            }

            pprof.AddSample(CollectionsMarshal.AsSpan(locationIds), (long)total.Count, cpu ? (long)total.Count * profile.SamplePeriodNs : (long)total.Value);
        }

        return pprof.ToGzip();
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
