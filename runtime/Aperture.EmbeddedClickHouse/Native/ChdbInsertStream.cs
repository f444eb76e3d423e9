using System.Runtime.InteropServices;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>
/// A streaming INSERT: data is appended chunk by chunk (the engine applies back-pressure) and
/// committed by <see cref="Complete"/>. Disposing an unfinished stream cancels it.
/// </summary>
public sealed unsafe class ChdbInsertStream : IDisposable
{
    private nint _handle;
    private bool _finished;

    private ChdbInsertStream(nint handle) => _handle = handle;

    internal static ChdbInsertStream TakeOrThrow(nint handle)
    {
        if (handle == 0)
        {
            throw new ChdbException("Code: 1002. DB::Exception: the engine returned no insert stream. (UNKNOWN_EXCEPTION)");
        }

        var error = ChdbNative.StreamInsertError(handle);
        if (error is not null)
        {
            var message = Marshal.PtrToStringUTF8((nint)error) ?? "unknown error";
            ChdbNative.DestroyInsertStream(handle);
            throw new ChdbException(message);
        }

        return new ChdbInsertStream(handle);
    }

    public void Append(ReadOnlySpan<byte> chunk)
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        if (chunk.IsEmpty)
        {
            return;
        }

        int state;
        fixed (byte* data = chunk)
        {
            state = ChdbNative.StreamAppend(_handle, data, (nuint)chunk.Length);
        }

        if (state != 0)
        {
            ThrowStreamError();
        }
    }

    /// <summary>Ends the input and commits; returns the write counters.</summary>
    public ChdbResult Complete()
    {
        ObjectDisposedException.ThrowIf(_handle == 0, this);
        _finished = true;
        var result = ChdbNative.StreamDone(_handle);
        if (result == 0)
        {
            ThrowStreamError();
        }

        return ChdbResult.TakeOrThrow(result);
    }

    private void ThrowStreamError()
    {
        var error = ChdbNative.StreamInsertError(_handle);
        var message = error is null ? "insert stream failed" : Marshal.PtrToStringUTF8((nint)error) ?? "insert stream failed";
        throw new ChdbException(message);
    }

    public void Dispose()
    {
        if (_handle == 0)
        {
            return;
        }

        if (!_finished)
        {
            ChdbNative.StreamCancelInsert(_handle);
        }

        ChdbNative.DestroyInsertStream(_handle);
        _handle = 0;
    }
}
