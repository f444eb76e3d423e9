using System.Text.Json;

namespace Aperture.Runtime.Platform;

/// <summary>Reads a JSON request body into a record, answering a malformed one as a client error.</summary>
public static class RequestBody
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { AllowTrailingCommas = false };

    /// <returns>The parsed body, or <paramref name="empty"/> when the body is empty.</returns>
    public static async Task<T> ReadJsonAsync<T>(HttpRequest request, T empty, CancellationToken cancellationToken)
    {
        if (request.ContentLength == 0)
        {
            return empty;
        }

        using var buffer = new MemoryStream();
        await request.Body.CopyToAsync(buffer, cancellationToken);
        if (buffer.Length == 0)
        {
            return empty;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), Options) ?? empty;
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException(
                e.Path is { Length: > 2 } path ? path.TrimStart('$', '.') : "body",
                $"the body is not valid JSON for this request: {e.Message}");
        }
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

    public static string? OptionalString(HttpRequest request, string name) =>
        request.Query[name].ToString() is { Length: > 0 } text ? text : null;
}
