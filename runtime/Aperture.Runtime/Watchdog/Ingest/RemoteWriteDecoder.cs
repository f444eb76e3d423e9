using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Aperture.Runtime.Platform;
using Snappier;

namespace Aperture.Runtime.Watchdog.Ingest;

/// <summary>One series of a remote-write request: every label (<c>__name__</c> included) and its samples.</summary>
public sealed record RemoteWriteSeries(IReadOnlyDictionary<string, string> Labels, IReadOnlyList<(long UnixMs, double Value)> Samples);

/// <summary>
/// A remote-write request this receiver does not speak (remote write 2.0, another encoding): answered 415, so the
/// sender (Prometheus 3, Alloy) can fall back to 1.0 rather than retry the same body forever.
/// </summary>
public sealed class UnsupportedRemoteWriteException : Exception
{
    public UnsupportedRemoteWriteException()
    {
    }

    public UnsupportedRemoteWriteException(string message)
        : base(message)
    {
    }

    public UnsupportedRemoteWriteException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// Decodes Prometheus remote write 1.0 (what Prometheus, Grafana Alloy and vmagent send to
/// <c>POST /api/v1/write</c>): a snappy block (not framed) holding a <c>prometheus.WriteRequest</c>.
/// The protobuf is read by hand: only timeseries (1) with labels (1) and samples (2) matter, every other
/// field (metadata, exemplars, native histograms) is skipped by its wire type.
/// </summary>
public static class RemoteWriteDecoder
{
    /// <summary>The largest snappy body accepted (Prometheus sends well under 1 MiB per request by default).</summary>
    public const int MaxCompressedBytes = 8 * 1024 * 1024;

    /// <summary>The largest decompressed WriteRequest; checked against snappy's declared length before allocating.</summary>
    public const int MaxDecompressedBytes = 32 * 1024 * 1024;

    public const int MaxSeries = 100_000;

    public const int MaxLabelsPerSeries = 128;

    public const int MaxSamples = 1_000_000;

    public const int MaxLabelBytes = 16 * 1024;

    public const string ContentType = "application/x-protobuf";

    public const string ContentEncoding = "snappy";

    public const string VersionHeader = "X-Prometheus-Remote-Write-Version";

    private const string V1Proto = "prometheus.WriteRequest";

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Checks the headers a 1.0 sender sets (Content-Type, Content-Encoding, X-Prometheus-Remote-Write-Version).</summary>
    /// <exception cref="UnsupportedRemoteWriteException">Remote write 2.0, another message or another encoding (answer 415).</exception>
    public static void ValidateHeaders(string? contentType, string? contentEncoding, string? version)
    {
        if (!string.IsNullOrWhiteSpace(contentType))
        {
            var parts = contentType.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0 || !parts[0].Equals(ContentType, StringComparison.OrdinalIgnoreCase))
            {
                throw new UnsupportedRemoteWriteException($"remote write needs Content-Type {ContentType}, not '{contentType}'");
            }

            foreach (var parameter in parts.Skip(1))
            {
                var equals = parameter.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0 && parameter[..equals].Trim().Equals("proto", StringComparison.OrdinalIgnoreCase))
                {
                    var proto = parameter[(equals + 1)..].Trim().Trim('"');
                    if (!proto.Equals(V1Proto, StringComparison.Ordinal))
                    {
                        throw new UnsupportedRemoteWriteException(
                            $"this receiver speaks remote write 1.0 ({V1Proto}), not '{proto}'; configure the sender for protobuf_message {V1Proto}");
                    }
                }
            }
        }

        // Senders that predate the header (and curl) leave it out; the body is snappy all the same.
        if (!string.IsNullOrWhiteSpace(contentEncoding) && !contentEncoding.Trim().Equals(ContentEncoding, StringComparison.OrdinalIgnoreCase))
        {
            throw new UnsupportedRemoteWriteException($"remote write needs Content-Encoding {ContentEncoding}, not '{contentEncoding}'");
        }

        if (!string.IsNullOrWhiteSpace(version) && !version.Trim().StartsWith("0.1", StringComparison.Ordinal))
        {
            throw new UnsupportedRemoteWriteException($"this receiver speaks remote write 0.1.0 (1.0), not {VersionHeader} {version}");
        }
    }

    /// <summary>Decodes a snappy-compressed WriteRequest.</summary>
    /// <exception cref="InvalidRequestException">Not snappy, not a WriteRequest, or over a limit.</exception>
    public static IReadOnlyList<RemoteWriteSeries> Decode(ReadOnlySpan<byte> body)
    {
        if (body.Length > MaxCompressedBytes)
        {
            throw new InvalidRequestException("body", $"the remote-write body is {body.Length} bytes, over the {MaxCompressedBytes}-byte limit");
        }

        if (body.IsEmpty)
        {
            throw new InvalidRequestException("body", "the remote-write body is empty");
        }

        int length;
        try
        {
            length = Snappy.GetUncompressedLength(body);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            throw new InvalidRequestException("body", "the remote-write body is not snappy block format");
        }

        if (length is < 0 or > MaxDecompressedBytes)
        {
            throw new InvalidRequestException("body", $"the remote-write body declares {length} bytes decompressed, over the {MaxDecompressedBytes}-byte limit");
        }

        var buffer = ArrayPool<byte>.Shared.Rent(Math.Max(length, 1));
        try
        {
            int written;
            try
            {
                written = Snappy.Decompress(body, buffer.AsSpan(0, length));
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
            {
                throw new InvalidRequestException("body", "the remote-write body is corrupt snappy");
            }

            return DecodeWriteRequest(buffer.AsSpan(0, written));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Decodes an uncompressed WriteRequest.</summary>
    /// <exception cref="InvalidRequestException">Not a WriteRequest, or over a limit.</exception>
    public static IReadOnlyList<RemoteWriteSeries> DecodeWriteRequest(ReadOnlySpan<byte> message)
    {
        var series = new List<RemoteWriteSeries>();
        var samples = 0;
        var reader = new ProtoReader(message, "WriteRequest");
        while (reader.Next(out var field, out var wireType))
        {
            if (field == 1 && wireType == ProtoReader.LengthDelimited)
            {
                if (series.Count == MaxSeries)
                {
                    throw new InvalidRequestException("timeseries", $"the request has more than {MaxSeries} series");
                }

                series.Add(ReadTimeSeries(reader.ReadBytes(), ref samples));
            }
            else
            {
                reader.Skip(wireType);
            }
        }

        return series;
    }

    private static RemoteWriteSeries ReadTimeSeries(ReadOnlySpan<byte> message, ref int sampleCount)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var samples = new List<(long, double)>();
        var reader = new ProtoReader(message, "TimeSeries");
        while (reader.Next(out var field, out var wireType))
        {
            switch (field)
            {
                case 1 when wireType == ProtoReader.LengthDelimited:
                    if (labels.Count == MaxLabelsPerSeries)
                    {
                        throw new InvalidRequestException("labels", $"a series has more than {MaxLabelsPerSeries} labels");
                    }

                    var (name, value) = ReadLabel(reader.ReadBytes());
                    if (!labels.TryAdd(name, value))
                    {
                        throw new InvalidRequestException("labels", $"a series has the label '{name}' twice");
                    }

                    break;
                case 2 when wireType == ProtoReader.LengthDelimited:
                    if (++sampleCount > MaxSamples)
                    {
                        throw new InvalidRequestException("samples", $"the request has more than {MaxSamples} samples");
                    }

                    samples.Add(ReadSample(reader.ReadBytes()));
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        if (labels.Count == 0)
        {
            throw new InvalidRequestException("labels", "a series has no labels");
        }

        return new RemoteWriteSeries(labels, samples);
    }

    private static (string Name, string Value) ReadLabel(ReadOnlySpan<byte> message)
    {
        string? name = null;
        var value = string.Empty;
        var reader = new ProtoReader(message, "Label");
        while (reader.Next(out var field, out var wireType))
        {
            switch (field)
            {
                case 1 when wireType == ProtoReader.LengthDelimited:
                    name = ReadString(reader.ReadBytes(), "label name");
                    break;
                case 2 when wireType == ProtoReader.LengthDelimited:
                    value = ReadString(reader.ReadBytes(), "label value");
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return string.IsNullOrEmpty(name)
            ? throw new InvalidRequestException("labels", "a label has no name")
            : (name, value);
    }

    private static (long UnixMs, double Value) ReadSample(ReadOnlySpan<byte> message)
    {
        var value = 0d;
        var timestamp = 0L;
        var reader = new ProtoReader(message, "Sample");
        while (reader.Next(out var field, out var wireType))
        {
            switch (field)
            {
                case 1 when wireType == ProtoReader.Fixed64:
                    value = BitConverter.Int64BitsToDouble((long)reader.ReadFixed64());
                    break;
                case 2 when wireType == ProtoReader.Varint:
                    // int64 in protobuf is two's complement in a varint, not zigzag.
                    timestamp = (long)reader.ReadVarint();
                    break;
                default:
                    reader.Skip(wireType);
                    break;
            }
        }

        return (timestamp, value);
    }

    private static string ReadString(ReadOnlySpan<byte> bytes, string what)
    {
        if (bytes.Length > MaxLabelBytes)
        {
            throw new InvalidRequestException("labels", $"a {what} is {bytes.Length} bytes, over the {MaxLabelBytes}-byte limit");
        }

        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new InvalidRequestException("labels", $"a {what} is not UTF-8");
        }
    }

    /// <summary>Just enough of the protobuf wire format; every fault is an <see cref="InvalidRequestException"/>.</summary>
    private ref struct ProtoReader
    {
        public const int Varint = 0;
        public const int Fixed64 = 1;
        public const int LengthDelimited = 2;
        public const int Fixed32 = 5;

        private readonly ReadOnlySpan<byte> _data;
        private readonly string _message;
        private int _position;

        public ProtoReader(ReadOnlySpan<byte> data, string message)
        {
            _data = data;
            _message = message;
            _position = 0;
        }

        public bool Next(out int field, out int wireType)
        {
            if (_position >= _data.Length)
            {
                field = 0;
                wireType = 0;
                return false;
            }

            var tag = ReadVarint();
            field = (int)Math.Min(tag >> 3, int.MaxValue);
            wireType = (int)(tag & 7);
            if (field == 0)
            {
                throw Malformed("a field numbered 0");
            }

            return true;
        }

        public ulong ReadVarint()
        {
            ulong result = 0;
            for (var shift = 0; shift < 64; shift += 7)
            {
                if (_position >= _data.Length)
                {
                    throw Malformed("a varint cut short");
                }

                var b = _data[_position++];
                result |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return result;
                }
            }

            throw Malformed("a varint longer than 10 bytes");
        }

        public ulong ReadFixed64()
        {
            if (_data.Length - _position < 8)
            {
                throw Malformed("a fixed64 cut short");
            }

            var value = BinaryPrimitives.ReadUInt64LittleEndian(_data[_position..]);
            _position += 8;
            return value;
        }

        public ReadOnlySpan<byte> ReadBytes()
        {
            var length = ReadVarint();
            if (length > (ulong)(_data.Length - _position))
            {
                throw Malformed("a length past the end of the message");
            }

            var bytes = _data.Slice(_position, (int)length);
            _position += (int)length;
            return bytes;
        }

        public void Skip(int wireType)
        {
            switch (wireType)
            {
                case Varint:
                    ReadVarint();
                    break;
                case Fixed64:
                    ReadFixed64();
                    break;
                case LengthDelimited:
                    ReadBytes();
                    break;
                case Fixed32:
                    if (_data.Length - _position < 4)
                    {
                        throw Malformed("a fixed32 cut short");
                    }

                    _position += 4;
                    break;
                default:
                    // Groups (3, 4) are proto2 only and absent from remote write; 6 and 7 do not exist.
                    throw Malformed($"wire type {wireType}");
            }
        }

        private readonly InvalidRequestException Malformed(string what) =>
            new("body", $"the remote-write body is not a valid protobuf {_message}: {what} at byte {_position}");
    }
}
