using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using Aperture.Agent.Collectors.Host;
using Aperture.Contracts;
using Microsoft.AspNetCore.Http;

namespace Aperture.Agent.Api;

/// <summary>
/// Every type the agent writes as JSON, with metadata generated at build time: the agent runs as a Native AOT
/// binary, where reflection-based serialization is not available. Answers whose shape is one endpoint's own
/// are built as <see cref="JsonObject"/>s; names are written as given (no naming policy), as the spec spells them.
/// </summary>
[JsonSerializable(typeof(JsonNode))]
[JsonSerializable(typeof(JsonObject))]
[JsonSerializable(typeof(ErrorResponse))]
[JsonSerializable(typeof(ReadinessReport))]
[JsonSerializable(typeof(HostSamplePayload))]
[JsonSerializable(typeof(IReadOnlyList<GpuSample>))]
public sealed partial class AgentJsonContext : JsonSerializerContext;

/// <summary>What one host sample is sent to the server-monitoring ingest API as (servers-api.md).</summary>
public sealed record HostSamplePayload(
    [property: JsonPropertyName("sample")] HostSample Sample,
    [property: JsonPropertyName("agent")] HostSampleAgent Agent);

public sealed record HostSampleAgent(
    [property: JsonPropertyName("version")] string Version,
    [property: JsonPropertyName("hostname")] string Hostname,
    [property: JsonPropertyName("platform")] string Platform,
    [property: JsonPropertyName("dotnet")] string Dotnet,
    [property: JsonPropertyName("labels")] Dictionary<string, string> Labels);

/// <summary>JSON answers through the generated metadata of <see cref="AgentJsonContext"/>.</summary>
public static class AgentResults
{
    public static IResult Json(JsonNode body, int statusCode = StatusCodes.Status200OK) =>
        Results.Json(body, AgentJsonContext.Default.JsonNode, statusCode: statusCode);

    public static IResult Error(ErrorResponse error, int statusCode) =>
        Results.Json(error, AgentJsonContext.Default.ErrorResponse, statusCode: statusCode);

    public static Task WriteErrorAsync(this HttpResponse response, ErrorResponse error) =>
        response.WriteAsJsonAsync(error, AgentJsonContext.Default.ErrorResponse);

    public static JsonArray ToJsonArray(this IEnumerable<JsonNode?> items)
    {
        var array = new JsonArray();
        foreach (var item in items)
        {
            array.Add(item);
        }

        return array;
    }

    public static JsonArray ToJsonArray(this IEnumerable<int> items) => items.Select(i => (JsonNode?)i).ToJsonArray();

    public static JsonArray ToJsonArray(this IEnumerable<string> items) => items.Select(i => (JsonNode?)i).ToJsonArray();

    public static JsonObject ToJsonObject<TValue>(this IEnumerable<KeyValuePair<string, TValue>> entries, Func<TValue, JsonNode?> value) =>
        new(entries.Select(e => KeyValuePair.Create(e.Key, value(e.Value))));
}
