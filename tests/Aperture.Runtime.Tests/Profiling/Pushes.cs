using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Contracts.Grpc;

namespace Aperture.Runtime.Tests.Profiling;

/// <summary>Builders for pushed batches and small helpers over the aggregator's APIs.</summary>
internal static class Pushes
{
    public const long T0 = 1_795_000_000_000_000_000;

    public static Stack Stack(params string[] functions)
    {
        var stack = new Stack();
        for (var i = 0; i < functions.Length; i++)
        {
            stack.Frames.Add(new Frame { Ip = 0x400000UL + (ulong)(functions[i].GetHashCode(StringComparison.Ordinal) & 0xffff), Function = functions[i], Module = "app" });
        }

        return stack;
    }

    public static Event Cpu(long ts, ulong count, params string[] functions) =>
        new() { Type = EventType.Cpu, TimestampNs = (ulong)ts, Count = count, Stack = Stack(functions) };

    public static Event Lock(long ts, ulong count, ulong waitNs, ulong address, params string[] functions) =>
        new() { Type = EventType.Lock, TimestampNs = (ulong)ts, Count = count, WaitNs = waitNs, LockAddress = address, Stack = Stack(functions) };

    public static Event Syscall(long ts, ulong count, ulong latencyNs, string name, params string[] functions) =>
        new() { Type = EventType.Syscall, TimestampNs = (ulong)ts, Count = count, LatencyNs = latencyNs, Syscall = name, Stack = Stack(functions) };

    public static PushRequest Batch(string agent, ulong sequence, params Event[] events)
    {
        var request = new PushRequest { AgentId = agent, Sequence = sequence, SamplePeriodNs = 10_101_010, Hostname = "test-node" };
        request.Events.AddRange(events);
        return request;
    }

    public static string Agent(string name) => $"{name}-{Guid.NewGuid():N}"[..24];

    public static async Task<JsonElement> PostJsonAsync(HttpClient http, string path, object body, CancellationToken cancellationToken)
    {
        using var response = await http.PostAsJsonAsync(path, body, cancellationToken);
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        Assert.True(response.IsSuccessStatusCode, $"{path} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>Waits until storage holds <paramref name="expectedSamples"/> samples of the agent.</summary>
    public static async Task WaitForStorageAsync(HttpClient http, string agent, ulong expectedSamples, CancellationToken cancellationToken)
    {
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var result = await PostJsonAsync(http, "/api/aggregate", new { agent_id = agent, source = "storage" }, cancellationToken);
            return result.GetProperty("total_events").GetUInt64() == expectedSamples;
        }, TimeSpan.FromSeconds(20), $"{expectedSamples} samples of {agent} in storage");
    }
}
