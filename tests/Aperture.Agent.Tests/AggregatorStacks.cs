using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>What an agent's pushes look like at the aggregator, read through its flame-graph API.</summary>
public static class AggregatorStacks
{
    /// <summary>
    /// Waits until the aggregator holds at least <paramref name="minEvents"/> cpu samples of the agent, then gives the
    /// function names of its heaviest stack, root first.
    /// </summary>
    public static async Task<List<string?>> TopCpuStackAsync(HttpClient runtime, string agentId, ulong minEvents, string what, CancellationToken cancellationToken)
    {
        JsonElement top = default;
        await Eventually.HoldsAsync(async () =>
        {
            using var response = await runtime.PostAsJsonAsync("/api/aggregate", new { agent_id = agentId, event_type = "cpu", limit = 100 }, cancellationToken);
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken);
            var stacks = body.GetProperty("cpu").GetProperty("stacks");
            if (stacks.GetArrayLength() == 0 || body.GetProperty("total_events").GetUInt64() < minEvents)
            {
                return false;
            }

            top = stacks[0].GetProperty("stack");
            return true;
        }, TimeSpan.FromSeconds(60), what, cancellationToken);

        return [.. top.GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("function").GetString())];
    }
}
