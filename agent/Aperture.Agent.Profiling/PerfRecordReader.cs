using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Aperture.Agent.Profiling;

/// <summary>Receives the records <see cref="PerfRecordReader"/> finds in a ring buffer.</summary>
internal interface IPerfRecordSink
{
    /// <param name="callchain">Leaf first, with PERF_CONTEXT_* markers still in it.</param>
    /// <param name="cpuMode">header.misc &amp; PERF_RECORD_MISC_CPUMODE_MASK: 1 kernel, 2 user.</param>
    void OnSample(int pid, int tid, ulong timeNs, ulong ip, int cpuMode, ReadOnlySpan<ulong> callchain);

    void OnLost(ulong lostSamples);
}

/// <summary>A sink for tracepoint samples (sample_type TID|TIME|CALLCHAIN|RAW): the raw bytes start with common_type, the tracepoint id.</summary>
internal interface ITracepointRecordSink : IPerfRecordSink
{
    void OnRawSample(int pid, int tid, ulong timeNs, ReadOnlySpan<ulong> callchain, ReadOnlySpan<byte> raw);
}

/// <summary>
/// Parses the records between data_tail and data_head of a perf ring buffer whose sample_type is
/// IP|TID|TIME|CALLCHAIN. Pure over bytes, so the wrap-around and the record layout are tested on crafted buffers.
/// </summary>
internal static class PerfRecordReader
{
    public const uint RecordLost = 2;
    public const uint RecordSample = 9;
    public const int HeaderSize = 8;

    /// <summary>
    /// Reads every complete record in [tail, head) of <paramref name="data"/> (positions are the kernel's
    /// free-running byte counters; data.Length is a power of two) and returns the position to store as data_tail.
    /// Returns how many records were malformed (the rest of the buffer is then skipped, as it cannot be re-synchronised).
    /// </summary>
    public static ulong Read(ReadOnlySpan<byte> data, ulong tail, ulong head, IPerfRecordSink sink, byte[] scratch, out int malformed)
    {
        malformed = 0;
        var size = (ulong)data.Length;
        var mask = size - 1;
        if (head - tail > size)
        {
            // Cannot happen in the kernel's non-overwrite mode; guard so a corrupt head never reads outside the buffer.
            malformed++;
            return head;
        }

        Span<byte> header = stackalloc byte[HeaderSize];
        while (head - tail >= HeaderSize)
        {
            Copy(data, tail & mask, header);
            var type = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var misc = BinaryPrimitives.ReadUInt16LittleEndian(header[4..]);
            var recordSize = BinaryPrimitives.ReadUInt16LittleEndian(header[6..]);
            if (recordSize < HeaderSize || recordSize > head - tail)
            {
                malformed++;
                return head;
            }

            var start = tail & mask;
            ReadOnlySpan<byte> record;
            if (start + recordSize <= size)
            {
                record = data.Slice((int)start, recordSize);
            }
            else
            {
                // The record wraps past the end of the buffer: join its two halves.
                Copy(data, start, scratch.AsSpan(0, recordSize));
                record = scratch.AsSpan(0, recordSize);
            }

            if (!Dispatch(type, misc, record[HeaderSize..], sink))
            {
                malformed++;
            }

            tail += recordSize;
        }

        return tail;
    }

    private static bool Dispatch(uint type, ushort misc, ReadOnlySpan<byte> body, IPerfRecordSink sink)
    {
        switch (type)
        {
            case RecordSample when sink is ITracepointRecordSink tracepoints:
                return DispatchRaw(body, tracepoints);
            case RecordSample:
                // ip u64, pid u32, tid u32, time u64, nr u64, ips[nr]
                if (body.Length < 32)
                {
                    return false;
                }

                var ip = BinaryPrimitives.ReadUInt64LittleEndian(body);
                var pid = BinaryPrimitives.ReadInt32LittleEndian(body[8..]);
                var tid = BinaryPrimitives.ReadInt32LittleEndian(body[12..]);
                var time = BinaryPrimitives.ReadUInt64LittleEndian(body[16..]);
                var nr = BinaryPrimitives.ReadUInt64LittleEndian(body[24..]);
                var available = (ulong)(body.Length - 32) / 8;
                if (nr > available)
                {
                    return false;
                }

                var chain = MemoryMarshal.Cast<byte, ulong>(body.Slice(32, (int)nr * 8));
                if (!BitConverter.IsLittleEndian)
                {
                    return false;
                }

                sink.OnSample(pid, tid, time, ip, misc & 7, chain);
                return true;
            case RecordLost:
                // id u64, lost u64
                if (body.Length < 16)
                {
                    return false;
                }

                sink.OnLost(BinaryPrimitives.ReadUInt64LittleEndian(body[8..]));
                return true;
            default:
                // Other records (throttle, unthrottle) carry nothing a CPU profile needs.
                return true;
        }
    }

    /// <summary>pid u32, tid u32, time u64, nr u64, ips[nr], size u32, raw[size].</summary>
    internal static bool DispatchRaw(ReadOnlySpan<byte> body, ITracepointRecordSink sink)
    {
        if (body.Length < 24 || !BitConverter.IsLittleEndian)
        {
            return false;
        }

        var pid = BinaryPrimitives.ReadInt32LittleEndian(body);
        var tid = BinaryPrimitives.ReadInt32LittleEndian(body[4..]);
        var time = BinaryPrimitives.ReadUInt64LittleEndian(body[8..]);
        var nr = BinaryPrimitives.ReadUInt64LittleEndian(body[16..]);
        if (nr > (ulong)(body.Length - 24) / 8)
        {
            return false;
        }

        var chainBytes = (int)nr * 8;
        var chain = MemoryMarshal.Cast<byte, ulong>(body.Slice(24, chainBytes));
        var rest = body[(24 + chainBytes)..];
        if (rest.Length < 4)
        {
            return false;
        }

        var size = BinaryPrimitives.ReadUInt32LittleEndian(rest);
        if (size > (uint)(rest.Length - 4))
        {
            return false;
        }

        sink.OnRawSample(pid, tid, time, chain, rest.Slice(4, (int)size));
        return true;
    }

    private static void Copy(ReadOnlySpan<byte> data, ulong start, Span<byte> destination)
    {
        var first = (int)Math.Min((ulong)destination.Length, (ulong)data.Length - start);
        data.Slice((int)start, first).CopyTo(destination);
        if (first < destination.Length)
        {
            data[..(destination.Length - first)].CopyTo(destination[first..]);
        }
    }
}
