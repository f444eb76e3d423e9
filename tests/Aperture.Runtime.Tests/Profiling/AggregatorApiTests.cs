using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Aperture.Testing;
using Google.Protobuf;
using Grpc.Core;
using static Aperture.Runtime.Tests.Profiling.Pushes;

namespace Aperture.Runtime.Tests.Profiling;

public sealed partial class AggregatorApiTests(AggregatorFixture fixture) : IClassFixture<AggregatorFixture>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Http => fixture.Runtime.Http;

    private async Task PushAllAsync(params PushRequest[] batches)
    {
        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        foreach (var batch in batches)
        {
            var response = await client.PushAsync(batch, cancellationToken: Cancel);
            Assert.True(response.Accepted, response.Error);
            Assert.False(response.Duplicate);
        }
    }

    [Fact]
    public async Task Aggregation_totals_equal_what_was_pushed()
    {
        var agent = Agent("totals");
        await PushAllAsync(
            Batch(agent, 1, Cpu(T0, 10, "main", "work"), Cpu(T0 + 1, 5, "main", "idle"), Lock(T0 + 2, 3, 3000, 0xdead, "main", "take")),
            Batch(agent, 2, Cpu(T0 + 10, 7, "main", "work"), Syscall(T0 + 11, 4, 800, "read", "main", "io")),
            Batch(agent, 3, Lock(T0 + 20, 1, 500, 0xdead, "main", "take")));

        var result = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = agent }, Cancel);

        var cpu = result.GetProperty("cpu");
        Assert.Equal(22UL, cpu.GetProperty("total_samples").GetUInt64());
        Assert.Equal(10_101_010L, cpu.GetProperty("sample_period_ns").GetInt64());
        Assert.Equal(T0, cpu.GetProperty("start_time").GetInt64());
        Assert.Equal(T0 + 10, cpu.GetProperty("end_time").GetInt64());
        var top = cpu.GetProperty("stacks")[0];
        Assert.Equal(17UL, top.GetProperty("count").GetUInt64());
        Assert.Equal(["main", "work"], top.GetProperty("stack").GetProperty("frames").EnumerateArray().Select(f => f.GetProperty("function").GetString()));
        Assert.Equal(4UL, result.GetProperty("lock").GetProperty("total_samples").GetUInt64());
        Assert.Equal(3500UL, result.GetProperty("lock").GetProperty("stacks")[0].GetProperty("value").GetUInt64());
        Assert.Equal(4UL, result.GetProperty("syscall").GetProperty("total_samples").GetUInt64());
        Assert.Equal(30UL, result.GetProperty("total_events").GetUInt64());
        Assert.Equal(0, result.GetProperty("skipped_batches").GetInt32());

        var cpuOnly = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = agent, event_type = "cpu" }, Cancel);
        Assert.Equal(22UL, cpuOnly.GetProperty("total_events").GetUInt64());
        var limited = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = agent, limit = 1 }, Cancel);
        Assert.Equal(1UL, limited.GetProperty("total_events").GetUInt64());
        Assert.Equal(2, limited.GetProperty("skipped_batches").GetInt32());
    }

    [Fact]
    public async Task The_same_query_from_the_buffer_and_from_ClickHouse_agrees_over_http_and_grpc()
    {
        var agent = Agent("agree");
        var batches = Enumerable.Range(1, 6).Select(i => Batch(agent, (ulong)i,
            Cpu(T0 + (i * 1000), (ulong)i, "main", i % 2 == 0 ? "even" : "odd"),
            Lock(T0 + (i * 1000) + 1, 1, (ulong)i * 100, 0xbeef, "main", "mutex"),
            Syscall(T0 + (i * 1000) + 2, 2, 50, "write", "main", "flush"))).ToArray();
        await PushAllAsync(batches);
        await WaitForStorageAsync(Http, agent, 6 * 7 / 2 + 6 + 12, Cancel);

        object[] queries =
        [
            new { agent_id = agent },
            new { agent_id = agent, event_type = "cpu", limit = 2 },
            new { agent_id = agent, time_start_ns = T0 + 2000, time_end_ns = T0 + 4002 },
            new { agent_id = agent, event_type = "lock", time_start_ns = T0 + 3000 },
        ];
        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        foreach (var query in queries)
        {
            var fields = JsonSerializer.SerializeToElement(query);
            var fromBuffer = await PostJsonAsync(Http, "/api/aggregate", With(fields, "buffer"), Cancel);
            var fromStorage = await PostJsonAsync(Http, "/api/aggregate", With(fields, "storage"), Cancel);
            Assert.Equal("buffer", fromBuffer.GetProperty("source").GetString());
            Assert.Equal("storage", fromStorage.GetProperty("source").GetString());
            Assert.Equal(WithoutSource(fromBuffer), WithoutSource(fromStorage));

            var grpc = await client.AggregateAsync(new AggregateRequest
            {
                AgentId = agent,
                Source = "storage",
                EventType = fields.TryGetProperty("event_type", out var kind) ? Enum.Parse<EventType>(kind.GetString()!, ignoreCase: true) : EventType.Unspecified,
                Limit = fields.TryGetProperty("limit", out var limit) ? limit.GetUInt32() : 0,
                TimeStartNs = fields.TryGetProperty("time_start_ns", out var start) ? start.GetUInt64() : 0,
                TimeEndNs = fields.TryGetProperty("time_end_ns", out var end) ? end.GetUInt64() : 0,
            }, cancellationToken: Cancel);
            Assert.Equal(fromStorage.GetProperty("total_events").GetUInt64(), grpc.TotalEvents);
            Assert.Equal(fromStorage.GetProperty("skipped_batches").GetUInt32(), grpc.SkippedBatches);
            Assert.Equal(fromStorage.GetProperty("cpu").GetProperty("stacks").GetArrayLength(), grpc.Cpu.Stacks.Count);
        }

        var buffered = await client.QueryAsync(new QueryRequest { AgentId = agent }, cancellationToken: Cancel);
        var stored = await client.QueryStorageAsync(new QueryStorageRequest { AgentId = agent }, cancellationToken: Cancel);
        Assert.Equal(6, buffered.Batches.Count);
        Assert.Equal(buffered.Batches.Select(b => b.Sequence), stored.Batches.Select(b => b.Sequence));
        Assert.Equal(buffered.Batches.Select(b => b.Events.Count), stored.Batches.Select(b => b.Events.Count));
        Assert.Equal(
            buffered.Batches.SelectMany(b => b.Events).Select(e => (e.Type, e.Count, e.WaitNs, e.LockAddress, e.Syscall)).Order(),
            stored.Batches.SelectMany(b => b.Events).Select(e => (e.Type, e.Count, e.WaitNs, e.LockAddress, e.Syscall)).Order());
    }

    private static Dictionary<string, object?> With(JsonElement fields, string source)
    {
        var body = fields.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
        body["source"] = source;
        return body;
    }

    private static string WithoutSource(JsonElement result)
    {
        var copy = result.EnumerateObject().Where(p => p.Name != "source").ToDictionary(p => p.Name, p => p.Value);
        return JsonSerializer.Serialize(copy);
    }

    [Fact]
    public async Task A_replayed_batch_is_acknowledged_and_not_counted_twice()
    {
        var agent = Agent("replay");
        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var batch = Batch(agent, 42, Cpu(T0, 9, "main", "once"));

        var first = await client.PushAsync(batch, cancellationToken: Cancel);
        var second = await client.PushAsync(batch, cancellationToken: Cancel);

        Assert.True(first.Accepted);
        Assert.False(first.Duplicate);
        Assert.True(second.Accepted);
        Assert.True(second.Duplicate);
        var result = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = agent }, Cancel);
        Assert.Equal(9UL, result.GetProperty("total_events").GetUInt64());
        await WaitForStorageAsync(Http, agent, 9, Cancel);
        var listed = await Http.GetFromJsonAsync<JsonElement>($"/api/batches?agent_id={agent}", Cancel);
        var only = Assert.Single(listed.GetProperty("batches").EnumerateArray());
        Assert.Equal(42UL, only.GetProperty("sequence").GetUInt64());
        Assert.Equal(1U, only.GetProperty("event_count").GetUInt32());
    }

    [Fact]
    public async Task The_collapsed_export_is_exactly_the_known_text()
    {
        var agent = Agent("collapsed");
        await PushAllAsync(
            Batch(agent, 1, Cpu(T0, 3, "main", "a", "b"), Cpu(T0 + 1, 7, "main", "c")),
            Batch(agent, 2, Cpu(T0 + 2, 2, "main", "a", "b"), Cpu(T0 + 3, 5, "main", "a"), Lock(T0 + 4, 99, 1, 1, "main", "lock")));

        using var response = await Http.GetAsync($"/api/export/collapsed?agent_id={agent}", Cancel);
        var bytes = await response.Content.ReadAsByteArrayAsync(Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.Equal(Encoding.UTF8.GetBytes("main;c 7\nmain;a 5\nmain;a;b 5\n"), bytes);
    }

    [Fact]
    public async Task The_json_export_is_an_attachment_with_the_aggregate()
    {
        var agent = Agent("jsonexport");
        await PushAllAsync(Batch(agent, 1, Cpu(T0, 4, "main", "x")));

        using var response = await Http.GetAsync($"/api/export/json?agent_id={agent}&event_type=cpu", Cancel);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal("attachment", response.Content.Headers.ContentDisposition?.DispositionType);
        Assert.EndsWith(".json", response.Content.Headers.ContentDisposition?.FileName?.Trim('"'), StringComparison.Ordinal);
        Assert.Equal(4UL, body.GetProperty("cpu").GetProperty("total_samples").GetUInt64());
    }

    [Fact]
    public async Task The_pprof_export_is_read_by_an_independent_decoder()
    {
        var agent = Agent("pprof");
        await PushAllAsync(Batch(agent, 1, Cpu(T0, 6, "main", "parse", "lex"), Cpu(T0 + 5, 4, "main", "eval")));

        using var response = await Http.GetAsync($"/api/export/pprof?agent_id={agent}", Cancel);
        var bytes = await response.Content.ReadAsByteArrayAsync(Cancel);
        using var file = new TemporaryDirectory("aperture-pprof");
        var path = Path.Combine(file.Path, "cpu.pb.gz");
        await File.WriteAllBytesAsync(path, bytes, Cancel);

        var decoded = await DecodeWithPprofFormatAsync(path);

        Assert.Equal(["samples/count", "cpu/nanoseconds"], decoded.GetProperty("types").EnumerateArray().Select(t => t.GetString()));
        var samples = decoded.GetProperty("samples").EnumerateArray()
            .Select(s => (Stack: string.Join(';', s.GetProperty("stack").EnumerateArray().Select(f => f.GetString())), Count: s.GetProperty("values")[0].GetInt64(), Nanos: s.GetProperty("values")[1].GetInt64()))
            .OrderBy(s => s.Stack, StringComparer.Ordinal)
            .ToList();
        // pprof lists locations leaf first; the decoder's view must be the pushed stacks reversed.
        Assert.Equal([("eval;main", 4L, 4L * 10_101_010), ("lex;parse;main", 6L, 6L * 10_101_010)], samples);
    }

    private static async Task<JsonElement> DecodeWithPprofFormatAsync(string path)
    {
        const string script = """
            const fs = require('fs'), zlib = require('zlib');
            const { Profile } = require('pprof-format');
            const p = Profile.decode(zlib.gunzipSync(fs.readFileSync(process.argv[1])));
            const s = i => p.stringTable.strings[Number(i)];
            const fn = new Map(p.function.map(f => [Number(f.id), s(f.name)]));
            const loc = new Map(p.location.map(l => [Number(l.id), fn.get(Number(l.line[0].functionId))]));
            console.log(JSON.stringify({
              types: p.sampleType.map(t => s(t.type) + '/' + s(t.unit)),
              samples: p.sample.map(x => ({ stack: x.locationId.map(id => loc.get(Number(id))), values: x.value.map(Number) })),
            }));
            """;
        var info = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-e");
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(path);
        info.Environment["NODE_PATH"] = RepositoryLayout.NodeModules;
        using var process = Process.Start(info)!;
        var output = await process.StandardOutput.ReadToEndAsync(Cancel);
        var error = await process.StandardError.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);
        Assert.True(process.ExitCode == 0, $"pprof-format could not decode the export: {error}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    [Fact]
    public async Task A_diff_of_two_windows_has_exact_per_stack_arithmetic()
    {
        var agent = Agent("diff");
        const long mid = T0 + 1_000_000;
        const long end = T0 + 2_000_000;
        await PushAllAsync(
            Batch(agent, 1, Cpu(T0 + 10, 30, "main", "old"), Cpu(T0 + 20, 20, "main", "both")),
            Batch(agent, 2, Cpu(mid + 10, 45, "main", "both"), Cpu(mid + 20, 5, "main", "new")));
        await WaitForStorageAsync(Http, agent, 100, Cancel);

        var response = await PostJsonAsync(Http, "/api/diff", new
        {
            baseline_agent_id = agent,
            baseline_start_ns = T0,
            baseline_end_ns = mid,
            comparison_agent_id = agent,
            comparison_start_ns = mid,
            comparison_end_ns = end,
            event_type = "cpu",
        }, Cancel);

        Assert.Equal(string.Empty, response.GetProperty("error").GetString());
        var result = JsonDocument.Parse(response.GetProperty("result_json").GetString()!).RootElement;
        Assert.Equal(50UL, result.GetProperty("baseline_total").GetUInt64());
        Assert.Equal(50UL, result.GetProperty("comparison_total").GetUInt64());
        var stacks = result.GetProperty("stacks").EnumerateArray()
            .Select(s => (s.GetProperty("stack").GetString(), s.GetProperty("baseline").GetUInt64(), s.GetProperty("comparison").GetUInt64(), s.GetProperty("delta").GetInt64()))
            .ToList();
        Assert.Equal([("main;old", 30UL, 0UL, -30L), ("main;both", 20UL, 45UL, 25L), ("main;new", 0UL, 5UL, 5L)], stacks);
    }

    [Theory]
    [InlineData("{\"agent_id\": ", "agent_id")]
    [InlineData("{\"event_type\": \"memory\"}", "event_type")]
    [InlineData("{\"time_start_ns\": 20, \"time_end_ns\": 10}", "time_end_ns")]
    [InlineData("{\"limit\": \"many\"}", "limit")]
    public async Task A_bad_aggregate_request_is_a_400_in_the_spec_error_format(string body, string field)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync("/api/aggregate", content, Cancel);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", error.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        Assert.Equal(field, error.GetProperty("details").GetProperty("field").GetString());
        Assert.DoesNotContain("   at ", error.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_over_the_limit_is_a_400_not_a_crash()
    {
        // Expect: 100-continue, as curl and most clients send for a large body: the runtime refuses it before
        // the body is sent. Without it the client may still be writing when the runtime answers and closes the
        // connection, and the unread bytes make the kernel reset it, so the client sees a broken pipe instead of
        // the 400 (seen once in CI).
        using var content = new StringContent("{\"agent_id\":\"" + new string('x', 2 * 1024 * 1024) + "\"}", Encoding.UTF8, "application/json");
        // The client waits for the answer as long as it takes, so a slow machine does not bring the race back.
        using var client = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromSeconds(30) })
        {
            BaseAddress = Http.BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/aggregate") { Content = content };
        request.Headers.ExpectContinue = true;
        using var response = await client.SendAsync(request, Cancel);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", error.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Malformed_protobuf_on_the_http_push_is_a_400()
    {
        using var content = new ByteArrayContent([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x01]);
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await Http.PostAsync("/api/push", content, Cancel);
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("body", error.GetProperty("details").GetProperty("field").GetString());
    }

    [Fact]
    public async Task The_http_push_takes_protobuf_like_the_rpc()
    {
        var agent = Agent("httppush");
        using var content = new ByteArrayContent(Batch(agent, 1, Cpu(T0, 3, "main", "http")).ToByteArray());
        content.Headers.ContentType = new("application/x-protobuf");
        using var response = await Http.PostAsync("/api/push", content, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var result = await PostJsonAsync(Http, "/api/aggregate", new { agent_id = agent }, Cancel);
        Assert.Equal(3UL, result.GetProperty("total_events").GetUInt64());
    }

    [Fact]
    public async Task An_unknown_event_type_over_grpc_is_invalid_argument()
    {
        using var channel = fixture.Runtime.GrpcChannel();
        var client = new Aggregator.AggregatorClient(channel);
        var batch = Batch(Agent("badtype"), 1, Cpu(T0, 1, "main"));
        batch.Events[0].Type = (EventType)9;

        var error = await Assert.ThrowsAsync<RpcException>(() => client.PushAsync(batch, cancellationToken: Cancel).ResponseAsync);

        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("unknown event type", error.Status.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_reports_every_field_of_the_spec()
    {
        var health = await Http.GetFromJsonAsync<JsonElement>("/api/health", Cancel);

        string[] fields = ["status", "buffer_batches", "buffer_utilization", "storage_enabled", "push_total_ok", "push_total_error",
            "push_events_total", "clickhouse_flush_ok", "clickhouse_flush_error", "clickhouse_pending_rows"];
        Assert.Equal(fields.Order(), health.EnumerateObject().Select(p => p.Name).Order());
        Assert.True(health.GetProperty("storage_enabled").GetBoolean());
    }

    [Fact]
    public async Task Every_metric_of_the_spec_is_exported_with_its_type()
    {
        await PushAllAsync(Batch(Agent("metrics"), 1, Cpu(T0, 1, "main")));
        var text = await Http.GetStringAsync("/metrics", Cancel);

        (string Name, string Type)[] metrics =
        [
            ("aperture_push_total", "counter"), ("aperture_push_events_total", "counter"), ("aperture_push_duration_seconds", "histogram"),
            ("aperture_buffer_batches", "gauge"), ("aperture_buffer_drops_total", "counter"), ("aperture_clickhouse_flush_total", "counter"),
            ("aperture_clickhouse_flush_rows_total", "counter"), ("aperture_clickhouse_flush_duration_seconds", "histogram"),
            ("aperture_clickhouse_pending_rows", "gauge"),
        ];
        foreach (var (name, type) in metrics)
        {
            Assert.Contains($"# TYPE {name} {type}", text, StringComparison.Ordinal);
        }

        Assert.Contains("aperture_push_total{status=\"ok\"}", text, StringComparison.Ordinal);
    }
}
