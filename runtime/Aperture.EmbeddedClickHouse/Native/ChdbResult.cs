using System.Runtime.InteropServices;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>A finished statement's output and counters. The output stays in native memory until disposed.</summary>
public sealed unsafe class ChdbResult : IDisposable
{
    private nint _handle;

    private ChdbResult(nint handle)
    {
        _handle = handle;
        Length = (long)ChdbNative.ResultLength(handle);
        Elapsed = TimeSpan.FromSeconds(ChdbNative.ResultElapsed(handle));
        RowsRead = ChdbNative.ResultRowsRead(handle);
        BytesRead = ChdbNative.ResultBytesRead(handle);
        StorageRowsRead = ChdbNative.ResultStorageRowsRead(handle);
        StorageBytesRead = ChdbNative.ResultStorageBytesRead(handle);
        RowsWritten = ChdbNative.ResultRowsWritten(handle);
        BytesWritten = ChdbNative.ResultBytesWritten(handle);
    }

    public long Length { get; }

    public TimeSpan Elapsed { get; }

    /// <summary>Rows in the result set.</summary>
    public ulong RowsRead { get; }

    public ulong BytesRead { get; }

    public ulong StorageRowsRead { get; }

    public ulong StorageBytesRead { get; }

    public ulong RowsWritten { get; }

    public ulong BytesWritten { get; }

    /// <summary>A read-only stream over the output, valid until this result is disposed.</summary>
    public Stream OpenRead()
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        var buffer = ChdbNative.ResultBuffer(_handle);
        return buffer is null || Length == 0
            ? Stream.Null
            : new UnmanagedMemoryStream(buffer, Length, Length, FileAccess.Read);
    }

    internal static ChdbResult TakeOrThrow(nint handle)
    {
        if (handle == 0)
        {
            throw new ChdbException("Code: 1002. DB::Exception: the engine returned no result. (UNKNOWN_EXCEPTION)");
        }

        var error = ChdbNative.ResultError(handle);
        if (error is not null)
        {
            var message = Marshal.PtrToStringUTF8((nint)error) ?? "unknown error";
            ChdbNative.DestroyQueryResult(handle);
            throw new ChdbException(message);
        }

        return new ChdbResult(handle);
    }

    public void Dispose()
    {
        if (_handle != 0)
        {
            ChdbNative.DestroyQueryResult(_handle);
            _handle = 0;
        }
    }
}
