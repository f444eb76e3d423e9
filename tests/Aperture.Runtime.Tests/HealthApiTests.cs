using System.Net;
using System.Text.Json;

namespace Aperture.Runtime.Tests;

public sealed class HealthApiTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<(HttpStatusCode Status, JsonElement Body)> ReadyAsync(RuntimeEnvironment runtime)
    {
        using var response = await runtime.Http.GetAsync("/readyz", Cancel);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.Clone();
        return (response.StatusCode, body);
    }

    private static async Task WaitReadyAsync(RuntimeEnvironment runtime) =>
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await ReadyAsync(runtime)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "runtime ready");

    [Fact]
    public async Task Healthz_answers_ok_and_readyz_reports_every_check()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        Assert.Equal("ok", await runtime.Http.GetStringAsync("/healthz", Cancel));

        await WaitReadyAsync(runtime);
        var (status, body) = await ReadyAsync(runtime);

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ready", body.GetProperty("status").GetString());
        var checks = body.GetProperty("checks");
        Assert.Equal(["buffer", "clickhouse", "redis", "schema"], checks.EnumerateObject().Select(c => c.Name));
        Assert.All(checks.EnumerateObject(), c => Assert.Equal("ok", c.Value.GetString()));
    }

    [Fact]
    public async Task Readyz_turns_503_within_two_seconds_of_redis_stopping_and_recovers_when_it_returns()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        await WaitReadyAsync(runtime);

        await runtime.Redis.StopAsync();
        var noticed = await RuntimeEnvironment.WaitUntilAsync(
            async () => (await ReadyAsync(runtime)).Status == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(2), "503 after Redis stopped");
        var (_, body) = await ReadyAsync(runtime);

        Assert.True(noticed < TimeSpan.FromSeconds(2));
        Assert.Equal("not_ready", body.GetProperty("status").GetString());
        Assert.StartsWith("failed: ", body.GetProperty("checks").GetProperty("redis").GetString(), StringComparison.Ordinal);
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("clickhouse").GetString());

        await runtime.Redis.StartAsync();
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await ReadyAsync(runtime)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "200 after Redis returned");
    }

    [Fact]
    public async Task Readyz_turns_503_within_two_seconds_of_clickhouse_stopping_and_recovers_when_it_returns()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        await WaitReadyAsync(runtime);

        await runtime.ClickHouse.StopAsync();
        var noticed = await RuntimeEnvironment.WaitUntilAsync(
            async () => (await ReadyAsync(runtime)).Status == HttpStatusCode.ServiceUnavailable, TimeSpan.FromSeconds(2), "503 after ClickHouse stopped");
        var (_, body) = await ReadyAsync(runtime);

        Assert.True(noticed < TimeSpan.FromSeconds(2));
        Assert.StartsWith("failed: ", body.GetProperty("checks").GetProperty("clickhouse").GetString(), StringComparison.Ordinal);
        Assert.Equal("ok", body.GetProperty("checks").GetProperty("redis").GetString());

        await runtime.ClickHouse.StartAsync();
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await ReadyAsync(runtime)).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(15), "200 after ClickHouse returned");
    }

    [Fact]
    public async Task Metrics_are_served_in_the_prometheus_text_format()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        await WaitReadyAsync(runtime);

        using var response = await runtime.Http.GetAsync("/metrics", Cancel);
        var text = await response.Content.ReadAsStringAsync(Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        Assert.Contains("# TYPE aperture_runtime_info gauge", text, StringComparison.Ordinal);
        Assert.Contains("aperture_runtime_info{role=\"aggregator\"", text, StringComparison.Ordinal);
        Assert.Contains("aperture_readiness_check_up{check=\"clickhouse\"} 1", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unknown_route_answers_404_in_the_spec_error_format()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();

        using var response = await runtime.Http.GetAsync("/api/no-such-thing", Cancel);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("not_found", body.GetProperty("error").GetString());
        Assert.Contains("/api/no-such-thing", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_central_role_serves_its_health_api_without_a_grpc_port()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Aperture.Runtime.Hosting.RuntimeOptions.CentralRole);
        await WaitReadyAsync(runtime);

        Assert.Contains("aperture_runtime_info{role=\"central\"", await runtime.Http.GetStringAsync("/metrics", Cancel), StringComparison.Ordinal);
        using var tcp = new System.Net.Sockets.TcpClient();
        await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => tcp.ConnectAsync("127.0.0.1", runtime.GrpcPort, Cancel).AsTask());
    }
}
