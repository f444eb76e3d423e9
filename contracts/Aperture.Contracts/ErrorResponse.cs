using System.Text.Json.Serialization;

namespace Aperture.Contracts;

/// <summary>
/// The error body every Aperture HTTP API answers with (agent-api.md, "Standard Error Format"):
/// a stable code, a sentence for people, and optional details naming what was wrong.
/// </summary>
public sealed record ErrorResponse(
    [property: JsonPropertyName("error")] string Error,
    [property: JsonPropertyName("message")] string Message,
    [property: JsonPropertyName("details")] IReadOnlyDictionary<string, string>? Details = null);

/// <summary>The error codes of the standard format.</summary>
public static class ErrorCodes
{
    public const string InvalidRequest = "invalid_request";
    public const string NotFound = "not_found";
    public const string Unauthorized = "unauthorized";
    public const string Forbidden = "forbidden";
    public const string InternalError = "internal_error";
    public const string ServiceUnavailable = "service_unavailable";
    public const string NotImplemented = "not_implemented";
}
