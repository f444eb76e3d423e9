using Aperture.Runtime.Servers;

namespace Aperture.Runtime.Tests.Servers;

public sealed class CounterRatesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 2, 26, 2, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan MaxInterval = TimeSpan.FromMinutes(10);

    private static ServerSample Sample(double secondsAfterT0, ulong read, ulong write, ulong busyMs, ulong rx, ulong tx, string device = "nvme0n1") => new()
    {
        CollectedAt = T0.AddSeconds(secondsAfterT0),
        NetworkRxBytesTotal = rx,
        NetworkTxBytesTotal = tx,
        Disks = [new DiskSample(device, read, write, 0, 0, busyMs)],
    };

    [Fact]
    public void Rates_are_counter_deltas_over_the_interval()
    {
        var previous = CounterState.Of(Sample(0, 1_000, 0, 0, 10_000, 500));
        var rates = CounterRates.Derive(previous, Sample(2, 3_000, 4_000, 1_000, 30_000, 700), MaxInterval, out var interval);
        Assert.Equal(2.0, interval);
        Assert.Equal(1_000.0, rates.DiskReadBps);
        Assert.Equal(2_000.0, rates.DiskWriteBps);
        Assert.Equal(50.0, rates.DiskUtilPercent);
        Assert.Equal(10_000.0, rates.NetworkRxBps);
        Assert.Equal(100.0, rates.NetworkTxBps);
        Assert.Equal(new DiskRates("nvme0n1", 1_000, 2_000, 50), Assert.Single(rates.Disks));
    }

    [Fact]
    public void A_counter_that_went_down_was_reset_and_counts_from_zero()
    {
        var previous = CounterState.Of(Sample(0, 1_000_000, 1_000_000, 900_000, 5_000_000, 5_000_000));
        var rates = CounterRates.Derive(previous, Sample(4, 2_000, 1_000_400, 400, 8_000, 5_000_800), MaxInterval, out _);
        Assert.Equal(500.0, rates.DiskReadBps);
        Assert.Equal(100.0, rates.DiskWriteBps);
        Assert.Equal(10.0, rates.DiskUtilPercent);
        Assert.Equal(2_000.0, rates.NetworkRxBps);
        Assert.Equal(200.0, rates.NetworkTxBps);
    }

    [Fact]
    public void No_rates_without_a_previous_sample_across_a_long_gap_or_for_an_older_sample()
    {
        var previous = CounterState.Of(Sample(0, 0, 0, 0, 0, 0));
        Assert.Null(CounterRates.Derive(null, Sample(2, 1, 1, 1, 1, 1), MaxInterval, out _).DiskReadBps);
        Assert.Null(CounterRates.Derive(previous, Sample(601, 1, 1, 1, 1, 1), MaxInterval, out var gap).NetworkRxBps);
        Assert.Null(gap);
        Assert.Null(CounterRates.Derive(previous, Sample(0, 1, 1, 1, 1, 1), MaxInterval, out _).DiskUtilPercent);
        Assert.NotNull(CounterRates.Derive(previous, Sample(600, 1, 1, 1, 1, 1), MaxInterval, out _).DiskUtilPercent);
    }

    [Fact]
    public void A_new_device_has_no_rate_and_utilisation_is_the_busiest_device()
    {
        var previous = CounterState.Of(new ServerSample
        {
            CollectedAt = T0,
            Disks = [new DiskSample("sda", 0, 0, 0, 0, 0), new DiskSample("sdb", 0, 0, 0, 0, 0)],
        });
        var rates = CounterRates.Derive(previous, new ServerSample
        {
            CollectedAt = T0.AddSeconds(1),
            Disks = [new DiskSample("sda", 100, 0, 0, 0, 200), new DiskSample("sdb", 300, 0, 0, 0, 1_500), new DiskSample("sdc", 5, 5, 0, 0, 5)],
        }, MaxInterval, out _);
        Assert.Equal(400.0, rates.DiskReadBps);
        Assert.Equal(100.0, rates.DiskUtilPercent);
        Assert.Equal(new DiskRates("sdc", null, null, null), rates.Disks[2]);
    }
}
