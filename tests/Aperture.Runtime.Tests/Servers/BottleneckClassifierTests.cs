using Aperture.Runtime.Servers;
using static Aperture.Runtime.Servers.BottleneckClassifier;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>Each rule just below, at and above its threshold, on crafted inputs.</summary>
public sealed class BottleneckClassifierTests
{
    private static readonly BottleneckInputs Moderate = new(
        CpuUsagePercent: 42, CpuIowaitPercent: 2, MemoryPercent: 50, SwapPercent: 0, DiskUtilPercent: 30,
        GpuTopUtilPercent: 40, NetworkRxBps: 5_000_000, NetworkTxBps: 5_000_000);

    private static string Label(BottleneckInputs inputs) => Classify(inputs).Label;

    [Fact]
    public void Nothing_saturated_and_something_busy_is_balanced()
    {
        var verdict = Classify(Moderate);
        Assert.Equal(Balanced, verdict.Label);
        Assert.Equal("Balanced", verdict.Title);
        Assert.Equal(BalancedConfidence, verdict.Confidence);
    }

    [Theory]
    [InlineData(84.9, Balanced)]
    [InlineData(85.0, GpuBound)]
    [InlineData(98.0, GpuBound)]
    public void Gpu_bound_from_its_threshold(double gpu, string expected) =>
        Assert.Equal(expected, Label(Moderate with { GpuTopUtilPercent = gpu }));

    [Fact]
    public void The_spec_example_reads_as_the_spec_says()
    {
        var verdict = Classify(Moderate with { GpuTopUtilPercent = 98, DiskUtilPercent = 64 });
        Assert.Equal(GpuBound, verdict.Label);
        Assert.Equal("Gpu Bound", verdict.Title);
        Assert.Equal("GPU 98% saturated while CPU 42% and disk 64% are lower", verdict.Reason);
        Assert.InRange(verdict.Confidence, 0.9, 0.95);
    }

    [Theory]
    [InlineData(84.9, Balanced)]
    [InlineData(85.0, CpuBound)]
    [InlineData(100.0, CpuBound)]
    public void Cpu_bound_from_its_threshold(double cpu, string expected) =>
        Assert.Equal(expected, Label(Moderate with { CpuUsagePercent = cpu }));

    [Theory]
    [InlineData(79.9, 19.9, Balanced)]
    [InlineData(80.0, 0.0, IoBound)]
    [InlineData(95.0, 0.0, IoBound)]
    [InlineData(10.0, 20.0, IoBound)]
    [InlineData(10.0, 35.0, IoBound)]
    public void Io_bound_from_disk_utilisation_or_iowait(double disk, double iowait, string expected) =>
        Assert.Equal(expected, Label(Moderate with { DiskUtilPercent = disk, CpuIowaitPercent = iowait }));

    [Theory]
    [InlineData(94.9, 9.9, Balanced)]
    [InlineData(95.0, 0.0, MemoryBound)]
    [InlineData(89.9, 50.0, Balanced)]
    [InlineData(90.0, 9.9, Balanced)]
    [InlineData(90.0, 10.0, MemoryBound)]
    [InlineData(92.0, 30.0, MemoryBound)]
    public void Memory_bound_when_nearly_full_or_full_and_swapping(double memory, double swap, string expected) =>
        Assert.Equal(expected, Label(Moderate with { MemoryPercent = memory, SwapPercent = swap }));

    [Fact]
    public void Memory_pressure_wins_over_a_saturated_gpu()
    {
        var verdict = Classify(Moderate with { MemoryPercent = 96, SwapPercent = 20, GpuTopUtilPercent = 99 });
        Assert.Equal(MemoryBound, verdict.Label);
        Assert.Contains("paging", verdict.Reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(99_999_999.0, Balanced)]
    [InlineData(100_000_000.0, NetworkBound)]
    [InlineData(150_000_000.0, NetworkBound)]
    public void Network_bound_from_its_threshold_either_way(double bps, string expected)
    {
        Assert.Equal(expected, Label(Moderate with { NetworkRxBps = bps }));
        Assert.Equal(expected, Label(Moderate with { NetworkTxBps = bps }));
    }

    [Fact]
    public void Two_saturated_resources_are_mixed()
    {
        var verdict = Classify(Moderate with { GpuTopUtilPercent = 90, CpuUsagePercent = 95 });
        Assert.Equal(Mixed, verdict.Label);
        Assert.Equal(MixedConfidence, verdict.Confidence);
        Assert.Equal("Several resources saturated at once: GPU 90% and CPU 95%", verdict.Reason);
    }

    [Theory]
    [InlineData(9.9, 9.9, 9.9, 999_999.0, Idle)]
    [InlineData(10.0, 0.0, 0.0, 0.0, Balanced)]
    [InlineData(0.0, 10.0, 0.0, 0.0, Balanced)]
    [InlineData(0.0, 0.0, 10.0, 0.0, Balanced)]
    [InlineData(0.0, 0.0, 0.0, 1_000_000.0, Balanced)]
    public void Idle_when_everything_is_below_the_idle_thresholds(double cpu, double gpu, double disk, double network, string expected) =>
        Assert.Equal(expected, Label(new BottleneckInputs(cpu, 0, 30, 0, disk, gpu, network, 0)));

    [Fact]
    public void Unknown_inputs_count_as_zero_and_a_host_without_gpu_can_be_idle()
    {
        var verdict = Classify(new BottleneckInputs(null, null, null, null, null, null, null, null));
        Assert.Equal(Idle, verdict.Label);
        Assert.Equal(1.0, verdict.Confidence);
        Assert.DoesNotContain("GPU", verdict.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Confidence_grows_from_the_threshold_to_full_saturation()
    {
        var atThreshold = Classify(Moderate with { CpuUsagePercent = CpuSaturatedPercent }).Confidence;
        var halfway = Classify(Moderate with { CpuUsagePercent = 92.5 }).Confidence;
        var full = Classify(Moderate with { CpuUsagePercent = 100 }).Confidence;
        Assert.Equal(BaseConfidence, atThreshold);
        Assert.Equal(0.8, halfway);
        Assert.Equal(1.0, full);
    }

    [Fact]
    public void Every_label_has_a_title_and_every_verdict_a_reason()
    {
        Assert.Equal(["Gpu Bound", "Cpu Bound", "Io Bound", "Memory Bound", "Network Bound", "Mixed", "Idle", "Balanced"], Labels.Select(Title));
        foreach (var inputs in new[] { Moderate, Moderate with { CpuUsagePercent = 99 }, Moderate with { DiskUtilPercent = 99 } })
        {
            Assert.False(string.IsNullOrWhiteSpace(Classify(inputs).Reason));
        }
    }
}
