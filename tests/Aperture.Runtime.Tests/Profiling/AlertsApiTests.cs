using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Profiling;

/// <summary>Each test has its own aggregator, so the metrics the rules watch start at known values.</summary>
public sealed class AlertsApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<string> CreateAsync(HttpClient http, string name, string metric, string op, double threshold, string severity = "warning")
    {
        using var response = await http.PostAsJsonAsync("/api/alerts", new { name, metric, @operator = op, threshold, severity }, Cancel);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return body.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> EvaluateAsync(HttpClient http)
    {
        using var response = await http.PostAsync("/api/alerts/evaluate", null, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.Clone();
    }

    [Fact]
    public async Task Every_operator_fires_exactly_when_its_comparison_holds()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        var http = runtime.Http;
        var ids = new Dictionary<string, string>();
        foreach (var op in new[] { "gt", "gte", "lt", "lte", "eq" })
        {
            ids[op] = await CreateAsync(http, $"errors {op} 1", "push_errors_total", op, 1);
        }

        Assert.Equal(["alert-1", "alert-2", "alert-3", "alert-4", "alert-5"], ids.Values);

        // push_errors_total is 0: lt and lte hold.
        var atZero = await EvaluateAsync(http);
        Assert.Equal(0.0, atZero.GetProperty("snapshot").GetProperty("push_errors_total").GetDouble());
        Assert.Equal([ids["lt"], ids["lte"]], atZero.GetProperty("fired").EnumerateArray().Select(f => f.GetProperty("rule_id").GetString()));

        // One rejected push makes it 1: gte, lte and eq hold.
        using var channel = runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => client.PushAsync(new PushRequest { AgentId = "" }, cancellationToken: Cancel).ResponseAsync);
        var atOne = await EvaluateAsync(http);
        Assert.Equal(1.0, atOne.GetProperty("snapshot").GetProperty("push_errors_total").GetDouble());
        Assert.Equal([ids["gte"], ids["lte"], ids["eq"]], atOne.GetProperty("fired").EnumerateArray().Select(f => f.GetProperty("rule_id").GetString()));

        // A second makes it 2: gt and gte hold.
        await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => client.PushAsync(new PushRequest { AgentId = "" }, cancellationToken: Cancel).ResponseAsync);
        var atTwo = await EvaluateAsync(http);
        Assert.Equal([ids["gt"], ids["gte"]], atTwo.GetProperty("fired").EnumerateArray().Select(f => f.GetProperty("rule_id").GetString()));

        var fired = atTwo.GetProperty("fired")[0];
        Assert.Equal("errors gt 1: Push Errors Total > 1 (current: 2)", fired.GetProperty("message").GetString());
        Assert.Equal("warning", fired.GetProperty("severity").GetString());
        Assert.Equal(2.0, fired.GetProperty("value").GetDouble());
        string[] snapshotKeys = ["buffer_utilization", "clickhouse_flush_errors", "clickhouse_pending_rows", "event_throughput", "push_error_rate", "push_errors_total"];
        Assert.Equal(snapshotKeys, atTwo.GetProperty("snapshot").EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Rules_and_history_survive_a_restart_and_can_be_toggled_and_deleted()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        var http = runtime.Http;
        var kept = await CreateAsync(http, "Always", "push_errors_total", "gte", 0, "critical");
        var removed = await CreateAsync(http, "Removed", "buffer_utilization", "gt", 0.9);
        await EvaluateAsync(http);

        await runtime.RestartRuntimeAsync();

        var rules = (await http.GetFromJsonAsync<JsonElement>("/api/alerts", Cancel)).GetProperty("rules");
        Assert.Equal([kept, removed], rules.EnumerateArray().Select(r => r.GetProperty("id").GetString()));
        Assert.Equal("critical", rules[0].GetProperty("severity").GetString());
        var history = (await http.GetFromJsonAsync<JsonElement>("/api/alerts/history", Cancel)).GetProperty("history");
        Assert.Equal(kept, Assert.Single(history.EnumerateArray()).GetProperty("rule_id").GetString());

        using (var toggled = await http.PostAsync($"/api/alerts/{kept}/toggle", null, Cancel))
        {
            Assert.False(JsonDocument.Parse(await toggled.Content.ReadAsStringAsync(Cancel)).RootElement.GetProperty("enabled").GetBoolean());
        }

        Assert.Empty((await EvaluateAsync(http)).GetProperty("fired").EnumerateArray());
        using (var deleted = await http.DeleteAsync($"/api/alerts/{removed}", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using (var again = await http.DeleteAsync($"/api/alerts/{removed}", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }

        Assert.Equal("alert-3", await CreateAsync(http, "After restart", "event_throughput", "lt", 5));
    }

    [Theory]
    [InlineData("{\"name\":\"x\",\"metric\":\"cpu_load\",\"operator\":\"gt\",\"threshold\":1,\"severity\":\"info\"}", "metric")]
    [InlineData("{\"name\":\"x\",\"metric\":\"buffer_utilization\",\"operator\":\"above\",\"threshold\":1,\"severity\":\"info\"}", "operator")]
    [InlineData("{\"name\":\"x\",\"metric\":\"buffer_utilization\",\"operator\":\"gt\",\"threshold\":1,\"severity\":\"fatal\"}", "severity")]
    [InlineData("{\"metric\":\"buffer_utilization\",\"operator\":\"gt\",\"threshold\":1,\"severity\":\"info\"}", "name")]
    [InlineData("{\"name\":\"x\",\"metric\":\"buffer_utilization\",\"operator\":\"gt\",\"severity\":\"info\"}", "threshold")]
    public async Task A_bad_rule_is_refused_naming_the_field(string body, string field)
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await runtime.Http.PostAsync("/api/alerts", content, Cancel);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal(field, error.GetProperty("details").GetProperty("field").GetString());
    }

    [Fact]
    public async Task The_background_evaluation_records_a_rule_that_starts_firing_once()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Profiling:AlertEvaluationInterval=00:00:00.200");
        var id = await CreateAsync(runtime.Http, "Always", "push_errors_total", "gte", 0);

        await RuntimeEnvironment.WaitUntilAsync(async () =>
            (await runtime.Http.GetFromJsonAsync<JsonElement>("/api/alerts/history", Cancel)).GetProperty("history").GetArrayLength() > 0,
            TimeSpan.FromSeconds(10), "a background evaluation");
        await Task.Delay(1000, Cancel);

        var history = (await runtime.Http.GetFromJsonAsync<JsonElement>("/api/alerts/history", Cancel)).GetProperty("history");
        Assert.Equal(id, Assert.Single(history.EnumerateArray()).GetProperty("rule_id").GetString());
    }
}
