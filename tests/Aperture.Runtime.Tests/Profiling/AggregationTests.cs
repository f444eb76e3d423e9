using Aperture.Runtime.Profiling;
using static Aperture.Runtime.Tests.Profiling.Samples;

namespace Aperture.Runtime.Tests.Profiling;

public sealed class AggregationTests
{
    [Fact]
    public void The_limit_takes_the_newest_matching_batches_and_counts_the_rest_as_skipped()
    {
        var batches = Enumerable.Range(1, 5).Select(i => CpuBatch(i % 2 == 0 ? "even" : "odd", (ulong)i, i * 100L, (ulong)i)).Reverse().ToList();

        var result = BufferAggregation.Aggregate(batches, new ProfileQuery("odd", null, null, null, 2));

        Assert.Equal(5UL + 3UL, result.Cpu.TotalSamples);
        Assert.Equal(1, result.SkippedBatches);
    }

    [Fact]
    public void Events_outside_the_range_or_of_another_kind_are_left_out()
    {
        var main = Stack("main", "work");
        var batch = Batch("a", 1, 0, (EventKind.Cpu, 10, 2, 0, main), (EventKind.Cpu, 20, 3, 0, main), (EventKind.Lock, 15, 4, 900, main));

        var cpu = BufferAggregation.Aggregate([batch], new ProfileQuery(null, 15, 25, EventKind.Cpu, 100));
        var all = BufferAggregation.Aggregate([batch], new ProfileQuery(null, 10, 20, null, 100));

        Assert.Equal(3UL, cpu.Cpu.TotalSamples);
        Assert.Equal(0UL, cpu.Lock.TotalSamples);
        Assert.Equal(2UL, all.Cpu.TotalSamples);
        Assert.Equal(900UL, all.Lock.Stacks.Single().Value);
        Assert.Equal(6UL, all.TotalEvents);
    }

    [Fact]
    public void A_stack_id_depends_on_every_frame_and_on_nothing_else()
    {
        Assert.Equal(Stack("main", "a").Id, Stack("main", "a").Id);
        Assert.NotEqual(Stack("main", "a").Id, Stack("main", "b").Id);
        Assert.NotEqual(Stack("main", "a").Id, Stack("a", "main").Id);
        Assert.NotEqual(Stack("ma", "ina").Id, Stack("mai", "na").Id);
    }
}
