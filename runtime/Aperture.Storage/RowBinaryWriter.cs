using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Aperture.Storage;

/// <summary>
/// Writes rows in ClickHouse's RowBinary format (little-endian numbers, strings and arrays with a
/// LEB128 length). The writer serialises Aperture's own rows without boxing each value, which the
/// driver's generic object[] path must do.
/// </summary>
public sealed class RowBinaryWriter
{
    private readonly ArrayBufferWriter<byte> _buffer;

    public RowBinaryWriter(int initialCapacity = 64 * 1024) => _buffer = new ArrayBufferWriter<byte>(initialCapacity);

    public int Length => _buffer.WrittenCount;

    /// <summary>Starts over, keeping the buffer: a writer that flushes again and again allocates its space once.</summary>
    public void Reset() => _buffer.ResetWrittenCount();

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    public void WriteInt8(sbyte value) => WriteUInt8((byte)value);

    public void WriteUInt8(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
    }

    public void WriteUInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
    }

    public void WriteFloat64(double value)
    {
        BinaryPrimitives.WriteDoubleLittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void WriteUInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
    }

    public void WriteUInt64(ulong value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void WriteInt64(long value)
    {
        BinaryPrimitives.WriteInt64LittleEndian(_buffer.GetSpan(8), value);
        _buffer.Advance(8);
    }

    public void WriteString(string value)
    {
        if (value.Length == 0)
        {
            WriteUInt8(0);
            return;
        }

        var span = _buffer.GetSpan(Encoding.UTF8.GetMaxByteCount(value.Length) + 10);
        var length = Encoding.UTF8.GetBytes(value, span[10..]);
        var prefix = VarInt(span, (ulong)length);
        if (prefix != 10)
        {
            span.Slice(10, length).CopyTo(span[prefix..]);
        }

        _buffer.Advance(prefix + length);
    }

    /// <summary>Bytes as a ClickHouse String (length prefix and the bytes as they are).</summary>
    public void WriteBytes(ReadOnlySpan<byte> value)
    {
        var span = _buffer.GetSpan(value.Length + 10);
        var prefix = VarInt(span, (ulong)value.Length);
        value.CopyTo(span[prefix..]);
        _buffer.Advance(prefix + value.Length);
    }

    /// <summary>A string already in RowBinary form (see <see cref="EncodeString"/>): for values repeated on every row.</summary>
    public void WriteEncoded(ReadOnlySpan<byte> encoded)
    {
        encoded.CopyTo(_buffer.GetSpan(encoded.Length));
        _buffer.Advance(encoded.Length);
    }

    /// <summary>A string's RowBinary form (length prefix and UTF-8 bytes), for <see cref="WriteEncoded"/>.</summary>
    public static byte[] EncodeString(string value)
    {
        var writer = new RowBinaryWriter(Encoding.UTF8.GetMaxByteCount(value.Length) + 10);
        writer.WriteString(value);
        return writer.Written.ToArray();
    }

    /// <summary>The rows written so far as a read-only stream over the writer's buffer (no copy).</summary>
    public Stream AsStream() =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(_buffer.WrittenMemory, out var segment)
            ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
            : new MemoryStream(_buffer.WrittenMemory.ToArray(), writable: false);

    /// <summary>An array's element count; the caller writes the elements.</summary>
    public void ArrayLength(int count)
    {
        var span = _buffer.GetSpan(10);
        _buffer.Advance(VarInt(span, (ulong)count));
    }

    private static int VarInt(Span<byte> span, ulong value)
    {
        var i = 0;
        while (value >= 0x80)
        {
            span[i++] = (byte)(value | 0x80);
            value >>= 7;
        }

        span[i++] = (byte)value;
        return i;
    }
}
