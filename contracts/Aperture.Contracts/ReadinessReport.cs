using System.Text.Json.Serialization;

namespace Aperture.Contracts;

/// <summary>
/// A readiness answer (agent-api.md, GET /ready): <c>ready</c> or <c>not_ready</c>, and each
/// check's <c>ok</c> or <c>failed: reason</c>.
/// </summary>
public sealed record ReadinessReport(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("checks")] IReadOnlyDictionary<string, string> Checks)
{
    public const string Ready = "ready";
    public const string NotReady = "not_ready";
    public const string Ok = "ok";

    [JsonIgnore]
    public bool IsReady => Status == Ready;
}
