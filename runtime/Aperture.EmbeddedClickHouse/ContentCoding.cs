using System.IO.Compression;
using K4os.Compression.LZ4.Streams;

namespace Aperture.EmbeddedClickHouse;

/// <summary>The HTTP content codings ClickHouse accepts on request bodies and offers on responses.</summary>
public static class ContentCoding
{
    /// <summary>Wraps a request body in the decoder its Content-Encoding names.</summary>
    public static Stream Decode(Stream body, string? contentEncoding) => contentEncoding?.Trim().ToLowerInvariant() switch
    {
        null or "" or "identity" or "none" => body,
        "gzip" or "x-gzip" => new GZipStream(body, CompressionMode.Decompress, leaveOpen: true),
        "deflate" => new ZLibStream(body, CompressionMode.Decompress, leaveOpen: true),
        "br" => new BrotliStream(body, CompressionMode.Decompress, leaveOpen: true),
        "zstd" => new ZstdSharp.DecompressionStream(body, leaveOpen: true),
        "lz4" => LZ4Stream.Decode(body, leaveOpen: true),
        var other => throw new EndpointException(ExceptionCodes.NotImplemented, $"Unknown Content-Encoding '{other}'"),
    };

    /// <summary>The first coding of the client's Accept-Encoding that the endpoint can produce.</summary>
    public static string? ChooseResponseCoding(string? acceptEncoding)
    {
        if (string.IsNullOrEmpty(acceptEncoding))
        {
            return null;
        }

        foreach (var part in acceptEncoding.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var name = part.Split(';', 2)[0].Trim().ToLowerInvariant();
            if (name is "gzip" or "deflate" or "br" or "zstd" or "lz4")
            {
                return name;
            }
        }

        return null;
    }

    /// <summary>Wraps a response body in the encoder for <paramref name="coding"/>.</summary>
    public static Stream Encode(Stream body, string coding) => coding switch
    {
        "gzip" => new GZipStream(body, CompressionLevel.Fastest, leaveOpen: true),
        "deflate" => new ZLibStream(body, CompressionLevel.Fastest, leaveOpen: true),
        "br" => new BrotliStream(body, CompressionLevel.Fastest, leaveOpen: true),
        "zstd" => new ZstdSharp.CompressionStream(body, level: 1, leaveOpen: true),
        "lz4" => LZ4Stream.Encode(body, leaveOpen: true),
        _ => throw new ArgumentOutOfRangeException(nameof(coding), coding, "unsupported coding"),
    };
}
