using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>One aggregator shared by a test class; tests keep apart by their own app names and job ids.</summary>
public sealed class JobsFixture : IAsyncLifetime
{
    public RuntimeEnvironment Runtime { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Jobs:FlushInterval=00:00:00.200",
            "--Aperture:Jobs:HeartbeatInterval=00:00:00.200",
            "--Aperture:Jobs:MaxBatchEvents=50",
            // CI runs the test projects side by side on two cores: a write that fails there is retried
            // within a second, and a read waits for it longer than a production client would.
            "--Aperture:Jobs:MaxRetryDelay=00:00:01",
            "--Aperture:Jobs:ReadTimeout=00:00:30");

    public async ValueTask DisposeAsync() => await Runtime.DisposeAsync();
}

/// <summary>Job events in the wire format of jobs-api.md, and the calls that send and read them.</summary>
public static class JobEvents
{
    public static readonly DateTimeOffset T0 = new(2025, 10, 19, 12, 0, 0, TimeSpan.Zero);

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static JsonObject Event(
        string app, string id, string kind, DateTimeOffset at, string? status = null, object? metrics = null, object? metadata = null,
        string type = "job", string? parent = null, string? key = null, string site = "fab1", string? businessKey = null) => new()
        {
            ["idempotency_key"] = key,
            ["site_id"] = site,
            ["app"] = new JsonObject { ["app_id"] = $"{app}-id", ["name"] = app, ["version"] = "1.0.0" },
            ["entity"] = new JsonObject
            {
                ["type"] = type,
                // Ids are the app's own, so tests that share a runtime never share a job.
                ["id"] = Id(app, id),
                ["parent_id"] = parent is null ? null : Id(app, parent),
                ["business_key"] = businessKey ?? $"batch-{id}",
                ["sub_key"] = type == "subjob" ? $"part-{id}" : null,
            },
            ["event"] = new JsonObject
            {
                ["kind"] = kind,
                ["at"] = at.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture),
                ["status"] = status,
                ["metrics"] = metrics is null ? new JsonObject() : JsonSerializer.SerializeToNode(metrics),
                ["metadata"] = metadata is null ? new JsonObject() : JsonSerializer.SerializeToNode(metadata),
            },
        };

    public static string Id(string app, string id) => $"{app}:{id}";

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient http, JsonNode body)
    {
        using var content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/v1/ingest/events", content, Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public static async Task<JsonElement> PostOkAsync(HttpClient http, JsonNode body)
    {
        var (status, answer) = await PostAsync(http, body);
        Assert.True(status == HttpStatusCode.OK, $"ingest answered {status}: {answer}");
        Assert.True(answer.GetProperty("ok").GetBoolean());
        return answer;
    }

    public static async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string pathAndQuery)
    {
        using var response = await http.GetAsync(pathAndQuery, Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>The items of GET /v1/jobs (or subjobs), asserting a 200 and a count that matches them.</summary>
    public static async Task<List<JsonElement>> ItemsAsync(HttpClient http, string pathAndQuery)
    {
        var (status, body) = await GetAsync(http, pathAndQuery);
        Assert.True(status == HttpStatusCode.OK, $"{pathAndQuery} answered {status}: {body}");
        var items = body.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(items.Count, body.GetProperty("count").GetInt32());
        Assert.True(body.GetProperty("duration_s").GetDouble() >= 0);
        return items;
    }

    public static async Task<JsonElement> JobAsync(HttpClient http, string app, string id)
    {
        var items = await ItemsAsync(http, $"/v1/jobs?app_name={Uri.EscapeDataString(app)}");
        return Assert.Single(items, i => i.GetProperty("job_id").GetString() == Id(app, id));
    }

    public static string? Str(this JsonElement item, string name) =>
        item.GetProperty(name).ValueKind == JsonValueKind.Null ? null : item.GetProperty(name).GetString();

    public static double? Num(this JsonElement item, string name) =>
        item.GetProperty(name).ValueKind == JsonValueKind.Null ? null : item.GetProperty(name).GetDouble();
}
