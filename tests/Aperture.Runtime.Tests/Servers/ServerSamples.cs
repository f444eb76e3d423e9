using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>Ingest bodies as an agent sends them, and calls to the server-monitoring routes.</summary>
public static class ServerSamples
{
    public static CancellationToken Cancel => TestContext.Current.CancellationToken;

    public static string Time(DateTimeOffset t) => t.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'+00:00'", CultureInfo.InvariantCulture);

    /// <summary>A sample in the spec's shape; counters and utilisations as given.</summary>
    public static JsonObject Sample(
        DateTimeOffset collectedAt,
        double cpu = 32.1,
        double gpu = 40,
        ulong readBytes = 111_111_111_111,
        ulong writeBytes = 22_222_222_222,
        ulong busyMs = 9_876_543,
        ulong rxBytes = 123_456_789_012,
        ulong txBytes = 23_456_789_012,
        double memory = 50,
        double iowait = 2.7) => new()
        {
            ["collected_at"] = Time(collectedAt),
            ["cpu_usage_percent"] = cpu,
            ["cpu_user_percent"] = 21.0,
            ["cpu_system_percent"] = 8.4,
            ["cpu_iowait_percent"] = iowait,
            ["cpu_load_1"] = 6.2,
            ["cpu_load_5"] = 5.8,
            ["cpu_load_15"] = 5.1,
            ["cpu_frequency_mhz"] = 2880.0,
            ["cpu_count_logical"] = 64,
            ["cpu_count_physical"] = 32,
            ["memory_total_bytes"] = 274_877_906_944,
            ["memory_used_bytes"] = 198_642_237_440,
            ["memory_available_bytes"] = 76_235_669_504,
            ["memory_percent"] = memory,
            ["swap_total_bytes"] = 0,
            ["swap_used_bytes"] = 0,
            ["swap_percent"] = 0.0,
            ["network_rx_bytes_total"] = rxBytes,
            ["network_tx_bytes_total"] = txBytes,
            ["process_count"] = 412,
            ["disks"] = new JsonArray(new JsonObject
            {
                ["device"] = "nvme0n1",
                ["read_bytes_total"] = readBytes,
                ["write_bytes_total"] = writeBytes,
                ["read_count_total"] = 1_234_567,
                ["write_count_total"] = 456_789,
                ["busy_time_ms_total"] = busyMs,
            }),
            ["gpus"] = new JsonArray(
            Gpu(0, gpu),
            Gpu(1, gpu / 2)),
        };

    private static JsonObject Gpu(int index, double util) => new()
    {
        ["gpu_index"] = index,
        ["name"] = "NVIDIA A100-SXM4-80GB",
        ["uuid"] = $"GPU-{index}",
        ["utilization_gpu_percent"] = util,
        ["utilization_memory_percent"] = 71.0,
        ["memory_total_bytes"] = 85_899_345_920,
        ["memory_used_bytes"] = 68_719_476_736,
        ["memory_percent"] = 80.0,
        ["temperature_c"] = 64.0,
        ["power_w"] = 311.0,
        ["power_limit_w"] = 400.0,
    };

    public static JsonObject Wrapped(JsonObject sample, string version = "0.1.0") => new()
    {
        ["sample"] = sample,
        ["agent"] = new JsonObject
        {
            ["version"] = version,
            ["hostname"] = "train01",
            ["platform"] = "Linux-6.1",
            ["python"] = "3.13.1",
            ["labels"] = new JsonObject { ["rack"] = "r1", ["role"] = "trainer" },
        },
    };

    /// <summary>Registers (or updates) a server through the admin route; returns the generated token when one was made.</summary>
    public static async Task<(JsonElement Server, string? Token)> PutServerAsync(HttpClient http, string slug, object body, string? adminToken = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/admin/servers/{slug}") { Content = JsonContent.Create(body) };
        if (adminToken is not null)
        {
            request.Headers.Authorization = new("Bearer", adminToken);
        }

        using var response = await http.SendAsync(request, Cancel);
        var json = await JsonAsync(response);
        Assert.True(response.IsSuccessStatusCode, json.ToString());
        return (json.GetProperty("server").Clone(), json.TryGetProperty("token", out var token) ? token.GetString() : null);
    }

    public static async Task<HttpResponseMessage> IngestAsync(HttpClient http, string slug, string? token, string body, bool bearer = false)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/api/ingest/servers/{slug}/metrics/")
        {
            Content = new StringContent(body, Encoding.UTF8, "application/json"),
        };
        if (token is not null)
        {
            if (bearer)
            {
                request.Headers.Authorization = new("Bearer", token);
            }
            else
            {
                request.Headers.Add("X-Monitoring-Token", token);
            }
        }

        return await http.SendAsync(request, Cancel);
    }

    public static async Task<JsonElement> IngestOkAsync(HttpClient http, string slug, string token, JsonNode body)
    {
        using var response = await IngestAsync(http, slug, token, body.ToJsonString());
        var json = await JsonAsync(response);
        Assert.True(response.IsSuccessStatusCode, json.ToString());
        return json;
    }

    /// <summary>Polls until <paramref name="read"/> gives a value (snapshots reach ClickHouse after a flush interval).</summary>
    public static async Task<JsonElement> WaitForAsync(Func<Task<JsonElement?>> read)
    {
        JsonElement? value = null;
        await Aperture.Testing.Eventually.HoldsAsync(async () => (value = await read()) is not null, TimeSpan.FromSeconds(30), "the snapshots in ClickHouse", Cancel);
        return value!.Value;
    }

    public static async Task<JsonElement> JsonAsync(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync(Cancel);
        return JsonDocument.Parse(text.Length == 0 ? "null" : text).RootElement.Clone();
    }

    public static async Task<(System.Net.HttpStatusCode Status, JsonElement Body)> GetAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path, Cancel);
        return (response.StatusCode, await JsonAsync(response));
    }
}
