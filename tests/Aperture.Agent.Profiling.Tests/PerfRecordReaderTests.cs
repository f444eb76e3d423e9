using System.Buffers.Binary;

namespace Aperture.Agent.Profiling.Tests;

public sealed class PerfRecordReaderTests
{
    private const ulong ContextKernel = unchecked((ulong)-128L);
    private const ulong ContextUser = unchecked((ulong)-512L);

    [Fact]
    public void Reads_samples_and_lost_records_in_order()
    {
        var data = new byte[256];
        var records = Concat(Sample(10, 11, 1000, 0x4000, [ContextUser, 0x4000, 0x3000]), Lost(7), Sample(10, 12, 2000, 0x5000, [ContextUser, 0x5000]));
        records.CopyTo(data, 0);
        var sink = new RecordingSink();

        var tail = PerfRecordReader.Read(data, 0, (ulong)records.Length, sink, new byte[65536], out var malformed);

        Assert.Equal((ulong)records.Length, tail);
        Assert.Equal(0, malformed);
        Assert.Equal(["sample 10/11 t=1000 ip=4000 [fffffffffffffe00,4000,3000]", "lost 7", "sample 10/12 t=2000 ip=5000 [fffffffffffffe00,5000]"], sink.Events);
    }

    [Fact]
    public void Joins_a_record_that_wraps_past_the_end_of_the_buffer()
    {
        var data = new byte[256];
        var first = Sample(1, 1, 5, 0x1111, [ContextKernel, 0xffffffff81000010, ContextUser, 0x1111, 0x2222, 0x3333]);
        var second = Lost(3);
        // Positions are free-running counters: two laps done, the first record starts 48 bytes before the end.
        var tail = (2UL * 256) + 208;
        Place(data, tail, first);
        Place(data, tail + (ulong)first.Length, second);
        var head = tail + (ulong)first.Length + (ulong)second.Length;
        var sink = new RecordingSink();

        var newTail = PerfRecordReader.Read(data, tail, head, sink, new byte[65536], out var malformed);

        Assert.True(first.Length > 48, "the first record must straddle the end of the buffer");
        Assert.Equal(head, newTail);
        Assert.Equal(0, malformed);
        Assert.Equal(["sample 1/1 t=5 ip=1111 [ffffffffffffff80,ffffffff81000010,fffffffffffffe00,1111,2222,3333]", "lost 3"], sink.Events);
    }

    [Fact]
    public void Nothing_to_read_when_head_equals_tail()
    {
        var sink = new RecordingSink();

        var tail = PerfRecordReader.Read(new byte[64], 64, 64, sink, new byte[65536], out var malformed);

        Assert.Equal(64UL, tail);
        Assert.Equal(0, malformed);
        Assert.Empty(sink.Events);
    }

    [Fact]
    public void A_record_with_an_impossible_size_skips_to_the_head_and_is_counted()
    {
        var data = new byte[128];
        var bad = new byte[16];
        BinaryPrimitives.WriteUInt32LittleEndian(bad, 9);
        BinaryPrimitives.WriteUInt16LittleEndian(bad.AsSpan(6), 4);
        bad.CopyTo(data, 0);
        var sink = new RecordingSink();

        var tail = PerfRecordReader.Read(data, 0, 16, sink, new byte[65536], out var malformed);

        Assert.Equal(16UL, tail);
        Assert.Equal(1, malformed);
        Assert.Empty(sink.Events);
    }

    [Fact]
    public void A_call_chain_longer_than_its_record_is_counted_as_malformed_and_the_next_record_still_read()
    {
        var data = new byte[256];
        var bad = Sample(1, 1, 1, 1, [1, 2]);
        BinaryPrimitives.WriteUInt64LittleEndian(bad.AsSpan(8 + 24), 1000);
        var records = Concat(bad, Lost(2));
        records.CopyTo(data, 0);
        var sink = new RecordingSink();

        var tail = PerfRecordReader.Read(data, 0, (ulong)records.Length, sink, new byte[65536], out var malformed);

        Assert.Equal((ulong)records.Length, tail);
        Assert.Equal(1, malformed);
        Assert.Equal(["lost 2"], sink.Events);
    }

    [Fact]
    public void Call_chain_markers_are_skipped_and_mark_kernel_and_user_frames()
    {
        ulong[] chain = [ContextKernel, 0xffffffff81000010, 0xffffffff81000020, ContextUser, 0x1111, 0x2222];

        var frames = PerfCpuProfiler.FramesLeafFirst(chain, 0xffffffff81000010, cpuMode: 1, maxDepth: 127);

        Assert.Equal([(0xffffffff81000010UL, true), (0xffffffff81000020UL, true), (0x1111UL, false), (0x2222UL, false)], frames);
        Assert.Equal(3, PerfCpuProfiler.FramesLeafFirst(chain, 0, 1, maxDepth: 3).Count);
        Assert.Equal([(0x4242UL, false)], PerfCpuProfiler.FramesLeafFirst([], 0x4242, cpuMode: 2, maxDepth: 127));
    }

    internal static byte[] Sample(int pid, int tid, ulong time, ulong ip, ulong[] chain)
    {
        var size = 8 + 32 + (chain.Length * 8);
        var bytes = new byte[size];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span, PerfRecordReader.RecordSample);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], 2);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], (ushort)size);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], ip);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], pid);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], tid);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], time);
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], (ulong)chain.Length);
        for (var i = 0; i < chain.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span[(40 + (i * 8))..], chain[i]);
        }

        return bytes;
    }

    internal static byte[] Lost(ulong count)
    {
        var bytes = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, PerfRecordReader.RecordLost);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(6), 24);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), 99);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), count);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => [.. parts.SelectMany(p => p)];

    private static void Place(byte[] data, ulong position, byte[] record)
    {
        for (var i = 0; i < record.Length; i++)
        {
            data[(int)((position + (ulong)i) % (ulong)data.Length)] = record[i];
        }
    }

    private sealed class RecordingSink : IPerfRecordSink
    {
        public List<string> Events { get; } = [];

        public void OnSample(int pid, int tid, ulong timeNs, ulong ip, int cpuMode, ReadOnlySpan<ulong> callchain) =>
            Events.Add($"sample {pid}/{tid} t={timeNs} ip={ip:x} [{string.Join(',', callchain.ToArray().Select(a => a.ToString("x", System.Globalization.CultureInfo.InvariantCulture)))}]");

        public void OnLost(ulong lostSamples) => Events.Add($"lost {lostSamples}");
    }
}
