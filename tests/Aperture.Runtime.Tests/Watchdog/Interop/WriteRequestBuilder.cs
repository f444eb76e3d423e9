using System.Buffers.Binary;
using System.Text;

namespace Aperture.Runtime.Tests.Watchdog.Interop;

/// <summary>
/// Writes protobuf by hand for the decoder tests, independent of the decoder's reader: a WriteRequest
/// as Prometheus' remote-write 1.0 proto defines it, plus raw fields for the malformed cases.
/// </summary>
internal sealed class ProtoWriter
{
    private readonly MemoryStream _buffer = new();

    public byte[] ToArray() => _buffer.ToArray();

    public ProtoWriter Varint(ulong value)
    {
        while (value >= 0x80)
        {
            _buffer.WriteByte((byte)(value | 0x80));
            value >>= 7;
        }

        _buffer.WriteByte((byte)value);
        return this;
    }

    public ProtoWriter Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    public ProtoWriter VarintField(int field, long value) => Tag(field, 0).Varint((ulong)value);

    public ProtoWriter DoubleField(int field, double value)
    {
        Tag(field, 1);
        Span<byte> bytes = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(bytes, BitConverter.DoubleToInt64Bits(value));
        _buffer.Write(bytes);
        return this;
    }

    public ProtoWriter Fixed32Field(int field, uint value)
    {
        Tag(field, 5);
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
        _buffer.Write(bytes);
        return this;
    }

    public ProtoWriter BytesField(int field, ReadOnlySpan<byte> bytes)
    {
        Tag(field, 2).Varint((ulong)bytes.Length);
        _buffer.Write(bytes);
        return this;
    }

    public ProtoWriter StringField(int field, string value) => BytesField(field, Encoding.UTF8.GetBytes(value));

    public ProtoWriter Raw(ReadOnlySpan<byte> bytes)
    {
        _buffer.Write(bytes);
        return this;
    }

    public static byte[] Label(string name, string value) => new ProtoWriter().StringField(1, name).StringField(2, value).ToArray();

    public static byte[] Sample(double value, long unixMs) => new ProtoWriter().DoubleField(1, value).VarintField(2, unixMs).ToArray();

    public static byte[] TimeSeries(IEnumerable<(string Name, string Value)> labels, IEnumerable<(long UnixMs, double Value)> samples)
    {
        var series = new ProtoWriter();
        foreach (var (name, value) in labels)
        {
            series.BytesField(1, Label(name, value));
        }

        foreach (var (unixMs, value) in samples)
        {
            series.BytesField(2, Sample(value, unixMs));
        }

        return series.ToArray();
    }

    public static byte[] WriteRequest(params byte[][] timeSeries)
    {
        var request = new ProtoWriter();
        foreach (var series in timeSeries)
        {
            request.BytesField(1, series);
        }

        return request.ToArray();
    }
}
