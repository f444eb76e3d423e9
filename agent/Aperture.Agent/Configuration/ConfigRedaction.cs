using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aperture.Agent.Configuration;

/// <summary>The configuration as /config shows it: snake_case JSON with every secret replaced.</summary>
public static class ConfigRedaction
{
    public const string Redacted = "[REDACTED]";
    private static readonly HashSet<string> SecretKeys = new(StringComparer.Ordinal) { "token", "bearer_token", "password", "api_key" };

    public static JsonNode Redact(AgentConfig config)
    {
        var node = JsonSerializer.SerializeToNode(config, AgentConfigJsonContext.Default.AgentConfig)!;
        Walk(node);
        return node;
    }

    private static void Walk(JsonNode node)
    {
        if (node is not JsonObject obj)
        {
            return;
        }

        foreach (var (key, value) in obj.ToList())
        {
            if (SecretKeys.Contains(key) && value is JsonValue v && v.TryGetValue<string>(out var text) && text.Length > 0)
            {
                obj[key] = Redacted;
            }
            else if (key == "headers" && value is JsonObject headers)
            {
                // Collector headers usually carry credentials; their names may stay, their values not.
                foreach (var name in headers.Select(h => h.Key).ToList())
                {
                    headers[name] = Redacted;
                }
            }
            else if (value is not null)
            {
                Walk(value);
            }
        }
    }
}
