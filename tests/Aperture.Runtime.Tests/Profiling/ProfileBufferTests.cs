using Aperture.Runtime.Profiling;
using Microsoft.Extensions.Time.Testing;
using static Aperture.Runtime.Tests.Profiling.Samples;

namespace Aperture.Runtime.Tests.Profiling;

public sealed class ProfileBufferTests
{
    private static readonly DateTimeOffset Start = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static long Ns(DateTimeOffset at) => (at - DateTimeOffset.UnixEpoch).Ticks * 100;

    [Fact]
    public void A_buffer_full_of_unwritten_batches_refuses_the_next_one()
    {
        var time = new FakeTimeProvider(Start);
        var buffer = new ProfileBuffer(2, TimeSpan.FromMinutes(5), time, writesToStorage: true);

        Assert.Equal(BufferAddResult.Added, buffer.TryAdd(CpuBatch("a", 1, Ns(Start))));
        Assert.Equal(BufferAddResult.Added, buffer.TryAdd(CpuBatch("a", 2, Ns(Start))));
        Assert.Equal(BufferAddResult.Full, buffer.TryAdd(CpuBatch("a", 3, Ns(Start))));
        Assert.Equal(2, buffer.Unflushed);
        Assert.Equal(1.0, buffer.Utilization);
    }

    [Fact]
    public void A_written_batch_makes_room_for_a_new_one_even_within_the_retention()
    {
        var time = new FakeTimeProvider(Start);
        var buffer = new ProfileBuffer(2, TimeSpan.FromMinutes(5), time, writesToStorage: true);
        var first = CpuBatch("a", 1, Ns(Start));
        buffer.TryAdd(first);
        buffer.TryAdd(CpuBatch("a", 2, Ns(Start)));

        buffer.MarkFlushed([first]);

        Assert.Equal(BufferAddResult.Added, buffer.TryAdd(CpuBatch("a", 3, Ns(Start))));
        Assert.Equal([3UL, 2UL], buffer.NewestFirst().Select(b => b.Sequence));
        Assert.Equal(Ns(Start) + 1, buffer.CoverageStartNs);
    }

    [Fact]
    public void Written_batches_leave_after_the_retention_and_unwritten_ones_never_do()
    {
        var time = new FakeTimeProvider(Start);
        var buffer = new ProfileBuffer(10, TimeSpan.FromMinutes(5), time, writesToStorage: true);
        var written = CpuBatch("a", 1, Ns(Start));
        var unwritten = CpuBatch("a", 2, Ns(Start));
        buffer.TryAdd(written);
        buffer.TryAdd(unwritten);
        buffer.MarkFlushed([written]);

        time.Advance(TimeSpan.FromMinutes(4));
        Assert.Equal(2, buffer.Count);
        time.Advance(TimeSpan.FromMinutes(2));

        Assert.Equal([2UL], buffer.NewestFirst().Select(b => b.Sequence));
        Assert.Equal(1, buffer.Unflushed);
    }

    [Fact]
    public void Without_storage_the_oldest_batch_gives_way()
    {
        var buffer = new ProfileBuffer(2, TimeSpan.FromHours(1), new FakeTimeProvider(Start), writesToStorage: false);

        buffer.TryAdd(CpuBatch("a", 1, Ns(Start)));
        buffer.TryAdd(CpuBatch("a", 2, Ns(Start)));

        Assert.Equal(BufferAddResult.Added, buffer.TryAdd(CpuBatch("a", 3, Ns(Start))));
        Assert.Equal([3UL, 2UL], buffer.NewestFirst().Select(b => b.Sequence));
        Assert.Equal(0, buffer.Unflushed);
    }
}
