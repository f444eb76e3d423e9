using System.Text.Json;

namespace Aperture.Runtime.Platform;

/// <summary>Reads a JSON request body into a record, answering a malformed one as a client error.</summary>
public static class RequestBody
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { AllowTrailingCommas = false };

    /// <returns>The parsed body, or <paramref name="empty"/> when the body is empty.</returns>
    public static Task<T> ReadJsonAsync<T>(HttpRequest request, T empty, CancellationToken cancellationToken) =>
        ReadJsonAsync(request, empty, maxBytes: null, cancellationToken);

    /// <param name="maxBytes">The route's own body limit, in place of the listener's (null: the listener's).</param>
    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, T empty, long? maxBytes, CancellationToken cancellationToken)
    {
        if (request.ContentLength == 0)
        {
            return empty;
        }

        var body = await ReadBytesAsync(request.HttpContext, maxBytes, cancellationToken);
        if (body.Length == 0)
        {
            return empty;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(body.Span, Options) ?? empty;
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException(
                e.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body",
                $"the body is not valid JSON for this request: {e.Message}");
        }
    }

    /// <summary>The whole body, refused with a 400 past <paramref name="maxBytes"/> (null: the listener's limit).</summary>
    public static async Task<ReadOnlyMemory<byte>> ReadBytesAsync(HttpContext context, long? maxBytes, CancellationToken cancellationToken)
    {
        if (maxBytes is { } limit)
        {
            if (context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            {
                size.MaxRequestBodySize = limit;
            }

            if (context.Request.ContentLength > limit)
            {
                throw new InvalidRequestException("body", $"the body is larger than {limit} bytes");
            }
        }

        using var buffer = new MemoryStream(context.Request.ContentLength is { } length and < int.MaxValue ? (int)length : 4096);
        await context.Request.Body.CopyToAsync(buffer, cancellationToken);
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    public static long? OptionalLong(HttpRequest request, string name) =>
        request.Query[name].ToString() is { Length: > 0 } text
            ? long.TryParse(text, System.Globalization.NumberStyles.Integer, System.Globalization.CultureInfo.InvariantCulture, out var value)
                ? value
                : throw new InvalidRequestException(name, $"{name} must be an integer, not '{text}'")
            : null;

    public static int? OptionalInt(HttpRequest request, string name) =>
        OptionalLong(request, name) is { } value
            ? value is >= int.MinValue and <= int.MaxValue ? (int)value : throw new InvalidRequestException(name, $"{name} is out of range")
            : null;

    /// <summary>A timestamp parameter (ISO 8601 / RFC 3339; without an offset, UTC) as Unix milliseconds.</summary>
    public static long? OptionalTimeMs(HttpRequest request, string name) =>
        OptionalString(request, name) is { } text
            ? DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture,
                System.Globalization.DateTimeStyles.AssumeUniversal | System.Globalization.DateTimeStyles.AdjustToUniversal, out var parsed)
                ? parsed.ToUnixTimeMilliseconds()
                : throw new InvalidRequestException(name, $"{name} must be an ISO 8601 timestamp, not '{text}'")
            : null;

    public static string? OptionalString(HttpRequest request, string name) =>
        request.Query[name].ToString() is { Length: > 0 } text ? text : null;
}
