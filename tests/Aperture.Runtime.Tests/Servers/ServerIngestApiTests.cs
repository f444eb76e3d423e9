using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Runtime.Servers;
using static Aperture.Runtime.Tests.Servers.ServerSamples;

namespace Aperture.Runtime.Tests.Servers;

public sealed class ServerIngestApiTests(ServersFixture fixture) : IClassFixture<ServersFixture>
{
    private HttpClient Http => fixture.Runtime.Http;

    /// <summary>Now, to the millisecond that storage keeps.</summary>
    private static DateTimeOffset Now => DateTimeOffset.FromUnixTimeMilliseconds(TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds());

    private static async Task AssertErrorAsync(HttpResponseMessage response, HttpStatusCode status, string code)
    {
        var body = await JsonAsync(response);
        Assert.True(status == response.StatusCode, $"{response.StatusCode}: {body}");
        Assert.Equal(code, body.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Both_body_forms_are_accepted_with_either_token_header_and_answer_as_the_spec_says()
    {
        var (server, token) = await PutServerAsync(Http, "ingest-ok", new { name = "GPU Box 01", hostname = "train01" });
        Assert.NotNull(token);

        var t0 = Now.AddSeconds(-10);
        var wrapped = await IngestOkAsync(Http, "ingest-ok", token, Wrapped(Sample(t0, gpu: 98)));
        Assert.True(wrapped.GetProperty("ok").GetBoolean());
        Assert.Equal(server.GetProperty("id").GetInt64(), wrapped.GetProperty("server").GetProperty("id").GetInt64());
        Assert.Equal(["id", "slug", "name", "hostname", "is_active"], wrapped.GetProperty("server").EnumerateObject().Select(p => p.Name));
        var snapshot = wrapped.GetProperty("snapshot");
        Assert.Equal(["id", "collected_at", "bottleneck", "cpu_usage_percent", "top_gpu_util_percent", "disk_util_percent"], snapshot.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Time(t0), snapshot.GetProperty("collected_at").GetString());
        Assert.Equal("gpu-bound", snapshot.GetProperty("bottleneck").GetString());
        Assert.Equal(98.0, snapshot.GetProperty("top_gpu_util_percent").GetDouble());
        // The first sample has no previous counters, so no disk rate yet.
        Assert.Equal(JsonValueKind.Null, snapshot.GetProperty("disk_util_percent").ValueKind);

        using var raw = await IngestAsync(Http, "ingest-ok", token, Sample(t0.AddSeconds(2), cpu: 97, gpu: 10).ToJsonString(), bearer: true);
        var rawBody = await JsonAsync(raw);
        Assert.Equal(HttpStatusCode.OK, raw.StatusCode);
        Assert.Equal("cpu-bound", rawBody.GetProperty("snapshot").GetProperty("bottleneck").GetString());
        Assert.True(rawBody.GetProperty("snapshot").GetProperty("id").GetInt64() > snapshot.GetProperty("id").GetInt64());

        var (_, after) = await GetAsync(Http, "/api/admin/servers/ingest-ok");
        Assert.Equal(2, after.GetProperty("server").GetProperty("snapshot_count").GetInt64());
        Assert.Equal("0.1.0", after.GetProperty("server").GetProperty("last_agent_version").GetString());
        Assert.Equal(Time(t0.AddSeconds(2)), after.GetProperty("server").GetProperty("latest_snapshot_at").GetString());
        Assert.Equal(JsonValueKind.String, after.GetProperty("server").GetProperty("last_seen_at").ValueKind);
    }

    [Fact]
    public async Task Every_error_status_of_the_ingest_route()
    {
        var (_, token) = await PutServerAsync(Http, "ingest-errors", new { name = "Errors" });
        var body = Wrapped(Sample(Now)).ToJsonString();

        using (var unknown = await IngestAsync(Http, "no-such-server", token, body))
        {
            await AssertErrorAsync(unknown, HttpStatusCode.NotFound, "not_found");
        }

        using (var missing = await IngestAsync(Http, "ingest-errors", null, body))
        {
            await AssertErrorAsync(missing, HttpStatusCode.Unauthorized, "unauthorized");
        }

        using (var wrong = await IngestAsync(Http, "ingest-errors", token + "x", body))
        {
            await AssertErrorAsync(wrong, HttpStatusCode.Unauthorized, "unauthorized");
        }

        using (var wrongBearer = await IngestAsync(Http, "ingest-errors", "not-the-token-at-all", body, bearer: true))
        {
            await AssertErrorAsync(wrongBearer, HttpStatusCode.Unauthorized, "unauthorized");
        }

        using (var malformed = await IngestAsync(Http, "ingest-errors", token, "{\"sample\": {\"cpu_usage_percent\": 3"))
        {
            await AssertErrorAsync(malformed, HttpStatusCode.BadRequest, "invalid_request");
        }

        foreach (var (bad, field) in new[]
        {
            ("[1, 2]", "body"),
            ("{\"sample\": 5}", "sample"),
            ("{\"sample\": {\"cpu_usage_percent\": \"high\"}}", "sample.cpu_usage_percent"),
            ("{\"cpu_usage_percent\": 140}", "cpu_usage_percent"),
            ("{\"disks\": [{\"read_bytes_total\": 1}]}", "disks[0].device"),
            ("{\"gpus\": {\"gpu_index\": 0}}", "gpus"),
            ("{\"collected_at\": \"yesterday\"}", "collected_at"),
        })
        {
            using var response = await IngestAsync(Http, "ingest-errors", token, bad);
            await AssertErrorAsync(response, HttpStatusCode.BadRequest, "invalid_request");
            Assert.Equal(field, (await JsonAsync(response)).GetProperty("details").GetProperty("field").GetString());
        }

        using (var tooLarge = await IngestAsync(Http, "ingest-errors", token, "{\"process_count\": 1, \"pad\": \"" + new string('x', 70_000) + "\"}"))
        {
            await AssertErrorAsync(tooLarge, HttpStatusCode.BadRequest, "invalid_request");
        }

        await PutServerAsync(Http, "ingest-errors", new { is_active = false });
        using (var disabled = await IngestAsync(Http, "ingest-errors", token, body))
        {
            await AssertErrorAsync(disabled, HttpStatusCode.Forbidden, "forbidden");
        }

        // Whether a server is disabled is told only to a holder of its token.
        using (var disabledWrongToken = await IngestAsync(Http, "ingest-errors", "wrong-token-wrong-token", body))
        {
            await AssertErrorAsync(disabledWrongToken, HttpStatusCode.Unauthorized, "unauthorized");
        }

        var (_, server) = await GetAsync(Http, "/api/admin/servers/ingest-errors");
        Assert.Equal(0, server.GetProperty("server").GetProperty("snapshot_count").GetInt64());

        var metrics = await Http.GetStringAsync("/metrics", Cancel);
        foreach (var status in new[] { "400", "401", "403", "404" })
        {
            Assert.Contains($"aperture_server_ingest_total{{status=\"{status}\"}}", metrics, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Rates_come_from_counter_deltas_and_survive_a_counter_reset()
    {
        var (_, token) = await PutServerAsync(Http, "rates", new { name = "Rates" });
        var t0 = Now.AddMinutes(-15);
        await IngestOkAsync(Http, "rates", token!, Wrapped(Sample(t0, readBytes: 1_000_000, writeBytes: 0, busyMs: 10_000, rxBytes: 0, txBytes: 0)));
        var second = await IngestOkAsync(Http, "rates", token!, Wrapped(Sample(t0.AddSeconds(2), readBytes: 3_000_000, writeBytes: 400_000, busyMs: 11_000, rxBytes: 20_000_000, txBytes: 2_000)));
        Assert.Equal(50.0, second.GetProperty("snapshot").GetProperty("disk_util_percent").GetDouble());

        // The host rebooted: every counter starts again from zero and counts from there.
        await IngestOkAsync(Http, "rates", token!, Wrapped(Sample(t0.AddSeconds(6), readBytes: 800_000, writeBytes: 4_000, busyMs: 400, rxBytes: 4_000_000, txBytes: 400)));
        var (status, latest) = await GetAsync(Http, "/api/metrics/latest/?server=rates");
        Assert.Equal(HttpStatusCode.OK, status);
        var snapshot = latest.GetProperty("snapshot");
        Assert.Equal(4.0, snapshot.GetProperty("interval_seconds").GetDouble());
        var disk = snapshot.GetProperty("disk");
        Assert.Equal(200_000.0, disk.GetProperty("read_bps").GetDouble());
        Assert.Equal(1_000.0, disk.GetProperty("write_bps").GetDouble());
        Assert.Equal(10.0, disk.GetProperty("util_percent").GetDouble());
        var device = Assert.Single(disk.GetProperty("devices").EnumerateArray());
        Assert.Equal("nvme0n1", device.GetProperty("device").GetString());
        Assert.Equal(200_000.0, device.GetProperty("read_bps").GetDouble());
        Assert.Equal(1_000_000.0, snapshot.GetProperty("network").GetProperty("rx_bps").GetDouble());
        Assert.Equal(100.0, snapshot.GetProperty("network").GetProperty("tx_bps").GetDouble());

        // The agent was down for longer than MaxRateInterval: no rate spans the gap.
        var afterGap = await IngestOkAsync(Http, "rates", token!, Wrapped(Sample(t0.AddMinutes(11), readBytes: 900_000, busyMs: 500)));
        Assert.Equal(JsonValueKind.Null, afterGap.GetProperty("snapshot").GetProperty("disk_util_percent").ValueKind);

        // The history has the same rates as the ingest derived, per point and per device.
        var points = await WaitForAsync(async () =>
        {
            var (_, history) = await GetAsync(Http, "/api/metrics/history/?server=rates&minutes=20");
            var p = history.GetProperty("points");
            return p.GetArrayLength() == 4 ? p : (JsonElement?)null;
        });
        Assert.Equal(JsonValueKind.Null, points[0].GetProperty("disk_read_bps").ValueKind);
        Assert.Equal(1_000_000.0, points[1].GetProperty("disk_read_bps").GetDouble());
        Assert.Equal(10.0, points[2].GetProperty("disks")[0].GetProperty("util_percent").GetDouble());
        Assert.Equal(2, points[2].GetProperty("gpus").GetArrayLength());
    }

    [Fact]
    public async Task Rotating_a_token_through_the_admin_route_invalidates_the_old_one()
    {
        var (_, first) = await PutServerAsync(Http, "rotate-admin", new { name = "Rotate" });
        await IngestOkAsync(Http, "rotate-admin", first!, Wrapped(Sample(Now)));

        // The operator generates the token, keeps it in a Secret, and registers it.
        const string chosen = "operator-generated-token-0123456789";
        var (server, generated) = await PutServerAsync(Http, "rotate-admin", new { token = chosen, labels = new { rack = "r9" } });
        Assert.Null(generated);
        Assert.Equal("r9", server.GetProperty("labels").GetProperty("rack").GetString());
        Assert.Equal("Rotate", server.GetProperty("name").GetString());

        using (var old = await IngestAsync(Http, "rotate-admin", first, Wrapped(Sample(Now)).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        await IngestOkAsync(Http, "rotate-admin", chosen, Wrapped(Sample(Now)));
        var (_, stored) = await GetAsync(Http, "/api/admin/servers/rotate-admin");
        Assert.DoesNotContain(chosen, stored.ToString(), StringComparison.Ordinal);
        Assert.False(stored.GetProperty("server").TryGetProperty("token_hash", out _));
    }

    [Fact]
    public async Task Rotating_a_token_from_the_command_line_invalidates_the_old_one()
    {
        var redis = fixture.Runtime.Redis.ConnectionString;
        var created = await RunCommandAsync("register-server", "cli-box", "--name", "CLI Box", "--hostname", "node7", "--redis", redis);
        Assert.Contains("registered server cli-box", created, StringComparison.Ordinal);
        var first = TokenIn(created);
        await IngestOkAsync(Http, "cli-box", first, Wrapped(Sample(Now)));

        var updated = await RunCommandAsync("register-server", "cli-box", "--description", "rack 4", "--redis", redis);
        Assert.DoesNotContain("token:", updated, StringComparison.Ordinal);
        await IngestOkAsync(Http, "cli-box", first, Wrapped(Sample(Now)));

        var second = TokenIn(await RunCommandAsync("register-server", "cli-box", "--rotate-token", "--redis", redis));
        Assert.NotEqual(first, second);
        using (var old = await IngestAsync(Http, "cli-box", first, Wrapped(Sample(Now)).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        await IngestOkAsync(Http, "cli-box", second, Wrapped(Sample(Now)));
        var (_, server) = await GetAsync(Http, "/api/admin/servers/cli-box");
        Assert.Equal("CLI Box", server.GetProperty("server").GetProperty("name").GetString());
        Assert.Equal("node7", server.GetProperty("server").GetProperty("hostname").GetString());
        Assert.Equal("rack 4", server.GetProperty("server").GetProperty("description").GetString());

        using var usage = new StringWriter();
        Assert.Equal(2, await ServerCommandLine.RunAsync(["register-server", "--name", "x"], TextWriter.Null, usage));
        Assert.Contains("usage:", usage.ToString(), StringComparison.Ordinal);
    }

    internal static async Task<string> RunCommandAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await ServerCommandLine.RunAsync(args, output, error);
        Assert.True(code == 0, $"exit {code}: {error}");
        return output.ToString();
    }

    internal static string TokenIn(string output) =>
        output.Split('\n').Select(l => l.Trim()).Single(l => l.StartsWith("token: ", StringComparison.Ordinal) || l.StartsWith("key: ", StringComparison.Ordinal)).Split(": ")[1];

    [Fact]
    public async Task The_admin_routes_create_read_update_and_delete()
    {
        var (_, missing) = await GetAsync(Http, "/api/admin/servers/admin-crud");
        Assert.Equal("not_found", missing.GetProperty("error").GetString());

        var (created, token) = await PutServerAsync(Http, "admin-crud", new { name = "Crud", hostname = "h1", description = "d", is_active = true, labels = new { a = "b" } });
        Assert.NotNull(token);
        string[] fields = ["id", "slug", "name", "hostname", "description", "is_active", "labels", "last_seen_at", "last_agent_version", "snapshot_count", "latest_snapshot_at"];
        Assert.Equal(fields, created.EnumerateObject().Select(p => p.Name));
        Assert.Equal(JsonValueKind.Null, created.GetProperty("last_seen_at").ValueKind);

        var (updated, noToken) = await PutServerAsync(Http, "admin-crud", new { hostname = "h2" });
        Assert.Null(noToken);
        Assert.Equal(created.GetProperty("id").GetInt64(), updated.GetProperty("id").GetInt64());
        Assert.Equal("h2", updated.GetProperty("hostname").GetString());
        Assert.Equal("Crud", updated.GetProperty("name").GetString());

        using (var bad = await Http.PutAsync("/api/admin/servers/bad slug!", new StringContent("{}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }

        using (var shortToken = await Http.PutAsync("/api/admin/servers/admin-crud", new StringContent("{\"token\":\"short\"}"), Cancel))
        {
            Assert.Equal(HttpStatusCode.BadRequest, shortToken.StatusCode);
        }

        using (var deleted = await Http.DeleteAsync("/api/admin/servers/admin-crud", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
            Assert.True((await JsonAsync(deleted)).GetProperty("ok").GetBoolean());
        }

        using (var again = await Http.DeleteAsync("/api/admin/servers/admin-crud", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, again.StatusCode);
        }

        using var gone = await IngestAsync(Http, "admin-crud", token, Wrapped(Sample(Now)).ToJsonString());
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);

        // A new server of the same slug gets a new id: the old one's snapshots never show under it.
        var (recreated, _) = await PutServerAsync(Http, "admin-crud", new { name = "Crud again" });
        Assert.True(recreated.GetProperty("id").GetInt64() > created.GetProperty("id").GetInt64());
    }
}
