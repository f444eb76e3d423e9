using Aperture.Runtime.Profiling;
using static Aperture.Runtime.Tests.Profiling.Samples;

namespace Aperture.Runtime.Tests.Profiling;

public sealed class ExporterTests
{
    [Fact]
    public void Collapsed_output_is_root_first_largest_first_and_merges_stacks_with_the_same_names()
    {
        var sameNamesOtherAddresses = new CallStack([new StackFrame(0x9000, "main", "app"), new StackFrame(0x9100, "a", "lib")]);
        var profile = Profile(EventKind.Cpu, (Stack("main", "a"), 2), (sameNamesOtherAddresses, 3), (Stack("main", "b", "c"), 5), (Stack("main"), 1));

        Assert.Equal("main;a 5\nmain;b;c 5\nmain 1\n", CollapsedStackExporter.Export(profile));
    }

    [Fact]
    public void A_frame_without_a_name_shows_its_address()
    {
        var profile = Profile(EventKind.Cpu, (new CallStack([new StackFrame(0x4011f0, "", "app")]), 1));

        Assert.Equal("0x4011f0 1\n", CollapsedStackExporter.Export(profile));
    }

    [Fact]
    public void A_diff_is_per_stack_with_the_largest_change_first()
    {
        var baseline = Profile(EventKind.Cpu, (Stack("main", "a"), 10), (Stack("main", "b"), 5));
        var comparison = Profile(EventKind.Cpu, (Stack("main", "a"), 4), (Stack("main", "c"), 8));

        var diff = ProfileDiff.Compute(baseline, comparison, 10);

        Assert.Equal(15UL, diff.BaselineTotal);
        Assert.Equal(12UL, diff.ComparisonTotal);
        Assert.Equal(
            [("main;c", 0UL, 8UL, 8L), ("main;a", 10UL, 4UL, -6L), ("main;b", 5UL, 0UL, -5L)],
            diff.Stacks.Select(s => (s.Stack, s.Baseline, s.Comparison, s.Delta)));
        Assert.Equal(2, ProfileDiff.Compute(baseline, comparison, 2).Stacks.Count);
    }
}
