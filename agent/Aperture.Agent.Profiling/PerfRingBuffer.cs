namespace Aperture.Agent.Profiling;

/// <summary>
/// One mmap'd perf ring buffer: a metadata page (perf_event_mmap_page) followed by a power-of-two data area.
/// The kernel writes data_head; this reader writes data_tail, after which the kernel may overwrite what it read.
/// </summary>
internal sealed unsafe class PerfRingBuffer : IDisposable
{
    private const int DataHeadOffset = 1024;
    private const int DataTailOffset = 1032;
    private const int DataOffsetOffset = 1040;
    private const int DataSizeOffset = 1048;

    private readonly byte* _base;
    private readonly nuint _length;
    private readonly byte* _data;
    private readonly int _dataSize;
    private readonly byte[] _scratch = new byte[ushort.MaxValue + 1];
    private bool _disposed;

    private PerfRingBuffer(byte* mapped, nuint length, int pageSize, int dataPages)
    {
        _base = mapped;
        _length = length;
        var dataOffset = *(ulong*)(mapped + DataOffsetOffset);
        var dataSize = *(ulong*)(mapped + DataSizeOffset);
        if (dataOffset == 0 || dataSize == 0)
        {
            // Kernels before 4.1 leave these zero: the data starts right after the metadata page.
            dataOffset = (ulong)pageSize;
            dataSize = (ulong)pageSize * (ulong)dataPages;
        }

        _data = mapped + dataOffset;
        _dataSize = (int)dataSize;
    }

    /// <summary>Maps the ring buffer of <paramref name="fd"/>; null with the errno when the kernel refuses.</summary>
    public static PerfRingBuffer? Map(int fd, int dataPages, out int errno)
    {
        var pageSize = Environment.SystemPageSize;
        var length = (nuint)((dataPages + 1) * pageSize);
        var mapped = PerfEventInterop.Map(fd, length, out errno);
        return mapped == null ? null : new PerfRingBuffer(mapped, length, pageSize, dataPages);
    }

    /// <summary>Hands every complete record to the sink and releases the space to the kernel.</summary>
    public int Drain(IPerfRecordSink sink)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        // Acquire: the record bytes below data_head are visible once data_head is (the kernel's smp_rmb pairing).
        var head = Volatile.Read(ref *(ulong*)(_base + DataHeadOffset));
        var tail = *(ulong*)(_base + DataTailOffset);
        var data = new ReadOnlySpan<byte>(_data, _dataSize);
        var newTail = PerfRecordReader.Read(data, tail, head, sink, _scratch, out var malformed);
        // Full barrier: every read of the records completes before the kernel sees the space released (smp_mb).
        Interlocked.MemoryBarrier();
        Volatile.Write(ref *(ulong*)(_base + DataTailOffset), newTail);
        return malformed;
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        PerfEventInterop.Unmap(_base, _length);
    }
}
