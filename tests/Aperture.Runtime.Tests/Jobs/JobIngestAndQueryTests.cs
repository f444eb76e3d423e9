using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>Idempotency, validation and every query filter of the site-local API, over real HTTP.</summary>
public sealed class JobIngestAndQueryTests(JobsFixture fixture) : IClassFixture<JobsFixture>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private HttpClient Http => fixture.Runtime.JobsHttp;

    private async Task<ulong> StoredEventsAsync(string entityId)
    {
        using var clickhouse = new ClickHouseClient(fixture.Runtime.ClickHouse.ConnectionString);
        return (ulong)(await clickhouse.ExecuteScalarAsync(
            $"SELECT count() FROM {fixture.Runtime.Database}.job_events WHERE entity_id = '{entityId}'", cancellationToken: Cancel))!;
    }

    [Fact]
    public async Task A_repeated_idempotency_key_is_accepted_and_stored_once()
    {
        const string app = "idem-single";
        var first = await PostOkAsync(Http, Event(app, "j", "started", T0, key: "k-1"));
        var again = await PostOkAsync(Http, Event(app, "j", "started", T0, key: "k-1"));
        // The same key on another site is another event.
        await PostOkAsync(Http, Event(app, "j", "progress", T0.AddSeconds(1), key: "k-1", site: "fab2"));

        Assert.Equal(1, first.GetProperty("accepted").GetInt32());
        Assert.Equal(0, first.GetProperty("duplicates").GetInt32());
        Assert.Equal(0, again.GetProperty("accepted").GetInt32());
        Assert.Equal(1, again.GetProperty("duplicates").GetInt32());
        Assert.Equal(["fab1", "fab2"], (await ItemsAsync(Http, $"/v1/jobs?app_name={app}")).Select(j => j.Str("site_id")).Order());
        Assert.Equal(2UL, await StoredEventsAsync(Id(app, "j")));
    }

    [Fact]
    public async Task Repeated_idempotency_keys_in_a_batch_and_across_batches_are_stored_once()
    {
        const string app = "idem-batch";
        var batch = new JsonArray(
            Event(app, "j", "started", T0, key: "b-1"),
            Event(app, "j", "progress", T0.AddSeconds(1), key: "b-2", metrics: new { cpu_user_s = 1.0 }),
            Event(app, "j", "progress", T0.AddSeconds(1), key: "b-2", metrics: new { cpu_user_s = 1.0 }),
            Event(app, "j", "metric", T0.AddSeconds(2), metrics: new { cpu_user_s = 2.0 }));
        var first = await PostOkAsync(Http, batch);
        // The agent's spool replays the batch, plus one new event.
        var replay = (JsonArray)batch.DeepClone();
        replay.RemoveAt(3);
        replay.Add(Event(app, "j", "finished", T0.AddSeconds(3), key: "b-3"));
        var second = await PostOkAsync(Http, replay);

        Assert.Equal(3, first.GetProperty("accepted").GetInt32());
        Assert.Equal(1, first.GetProperty("duplicates").GetInt32());
        Assert.Equal(1, second.GetProperty("accepted").GetInt32());
        Assert.Equal(3, second.GetProperty("duplicates").GetInt32());
        var job = await JobAsync(Http, app, "j");
        Assert.Equal("succeeded", job.Str("status"));
        Assert.Equal(2.0, job.Num("cpu_user_s"));
        Assert.Equal(4UL, await StoredEventsAsync(Id(app, "j")));
    }

    [Fact]
    public async Task Every_filter_of_jobs_selects_what_it_names()
    {
        const string app = "filters-Alpha";
        const string other = "filters-beta";
        await PostOkAsync(Http, new JsonArray(
            Event(app, "run", "started", T0.AddHours(1)),
            Event(app, "ok", "started", T0.AddHours(2)),
            Event(app, "ok", "finished", T0.AddHours(2).AddMinutes(1)),
            Event(app, "bad", "started", T0.AddHours(3)),
            Event(app, "bad", "error", T0.AddHours(3).AddMinutes(1)),
            Event(app, "stop", "started", T0.AddHours(4)),
            Event(app, "stop", "canceled", T0.AddHours(4).AddMinutes(1)),
            Event(other, "x", "started", T0.AddHours(2))));

        async Task<string[]> Ids(string query) =>
            (await ItemsAsync(Http, "/v1/jobs?" + query)).Select(i => i.Str("job_id")!).Where(id => id.StartsWith("filters-", StringComparison.Ordinal)).ToArray();

        // app_name: contains, case-insensitively; newest start first.
        Assert.Equal([Id(app, "stop"), Id(app, "bad"), Id(app, "ok"), Id(app, "run")], await Ids("app_name=ers-alp"));
        Assert.Equal([Id(other, "x")], await Ids("app_name=filters-beta"));
        // status: one value, or several comma-separated.
        Assert.Equal([Id(app, "ok")], await Ids("app_name=filters-alpha&status=succeeded"));
        Assert.Equal([Id(app, "stop"), Id(app, "bad")], await Ids("app_name=filters-alpha&status=failed,canceled"));
        Assert.Equal([Id(app, "run")], await Ids("app_name=filters-alpha&status=running"));
        // from and to: started_at in [from, to).
        Assert.Equal([Id(app, "bad"), Id(app, "ok")], await Ids("app_name=filters-alpha&from=2025-10-19T14:00:00Z&to=2025-10-19T16:00:00Z"));
        Assert.Equal([Id(app, "stop"), Id(app, "bad")], await Ids("app_name=filters-alpha&from=2025-10-19T15:00:00Z"));
        Assert.Equal([Id(app, "run")], await Ids("app_name=filters-alpha&to=2025-10-19T14:00:00Z"));
        Assert.Equal([Id(app, "bad")], await Ids("app_name=filters&from=2025-10-19T14:30:00%2B00:00&to=2025-10-19T16:00:00Z&status=failed,succeeded"));
        // limit: the newest n.
        Assert.Equal([Id(app, "stop"), Id(app, "bad")], await Ids("app_name=filters-alpha&limit=2"));
    }

    [Fact]
    public async Task Subjobs_take_the_same_filters()
    {
        const string app = "subfilters";
        await PostOkAsync(Http, new JsonArray(
            Event(app, "p", "started", T0),
            Event(app, "s1", "started", T0.AddMinutes(1), type: "subjob", parent: "p"),
            Event(app, "s1", "finished", T0.AddMinutes(2), type: "subjob", parent: "p", status: "failed"),
            Event(app, "s2", "started", T0.AddMinutes(3), type: "subjob", parent: "p"),
            Event(app, "s3", "started", T0.AddMinutes(5), type: "subjob", parent: "p")));

        async Task<string[]> Ids(string query) =>
            (await ItemsAsync(Http, "/v1/subjobs?app_name=subfilters&" + query)).Select(i => i.Str("subjob_id")!).ToArray();

        Assert.Equal([Id(app, "s3"), Id(app, "s2"), Id(app, "s1")], await Ids(string.Empty));
        Assert.Equal([Id(app, "s1")], await Ids("status=failed"));
        Assert.Equal([Id(app, "s3"), Id(app, "s2")], await Ids("status=running"));
        Assert.Equal([Id(app, "s2")], await Ids("from=2025-10-19T12:02:00Z&to=2025-10-19T12:04:00Z"));
        Assert.Equal([Id(app, "s3")], await Ids("limit=1"));
        Assert.Empty(await Ids("status=canceled"));
    }

    [Fact]
    public async Task Limit_defaults_to_1000_and_is_capped()
    {
        const string app = "limits";
        for (var b = 0; b < 22; b++)
        {
            var batch = new JsonArray();
            for (var i = 0; i < 50; i++)
            {
                batch.Add(Event(app, $"j{(b * 50) + i}", "started", T0.AddSeconds((b * 50) + i)));
            }

            await PostOkAsync(Http, batch);
        }

        Assert.Equal(1000, (await ItemsAsync(Http, $"/v1/jobs?app_name={app}")).Count);
        Assert.Equal(1100, (await ItemsAsync(Http, $"/v1/jobs?app_name={app}&limit=5000")).Count);
        Assert.Equal(7, (await ItemsAsync(Http, $"/v1/jobs?app_name={app}&limit=7")).Count);
    }

    [Fact]
    public async Task The_limit_cap_is_a_setting()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:MaxLimit=3");
        var batch = new JsonArray();
        for (var i = 0; i < 5; i++)
        {
            batch.Add(Event("cap", $"j{i}", "started", T0.AddSeconds(i)));
        }

        await PostOkAsync(runtime.JobsHttp, batch);
        Assert.Equal(3, (await ItemsAsync(runtime.JobsHttp, "/v1/jobs?limit=100")).Count);
    }

    public static TheoryData<string, string> InvalidEvents => new()
    {
        { """{"app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "site_id" },
        { """{"site_id":"s","entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "app" },
        { """{"site_id":"s","app":{"app_id":"x"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "app.name" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"task","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "entity.type" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "entity.id" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"subjob","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "entity.parent_id" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"}}""", "event" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"paused","at":"2025-10-19T12:00:00Z"}}""", "event.kind" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started"}}""", "event.at" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"yesterday"}}""", "event.at" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"finished","at":"2025-10-19T12:00:00Z","status":"done"}}""", "event.status" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"finished","at":"2025-10-19T12:00:00Z","status":"running"}}""", "event.status" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z","metrics":{"cpu_user_s":"lots"}}}""", "event.metrics.cpu_user_s" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z","metrics":{"mem_max_mb":-1}}}""", "event.metrics.mem_max_mb" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z","metadata":[1]}}""", "event.metadata" },
        { """{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":1},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}}""", "entity.id" },
        { """[{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"started","at":"2025-10-19T12:00:00Z"}},{"site_id":"s","app":{"name":"a"},"entity":{"type":"job","id":"1"},"event":{"kind":"begun","at":"2025-10-19T12:00:00Z"}}]""", "[1].event.kind" },
        { "[]", "body" },
        { "", "body" },
        { "{not json", "body" },
    };

    [Theory]
    [MemberData(nameof(InvalidEvents))]
    public async Task An_invalid_event_is_a_400_naming_the_field(string body, string field)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await Http.PostAsync("/v1/ingest/events", content, Cancel);
        var answer = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("invalid_request", answer.GetProperty("error").GetString());
        Assert.False(string.IsNullOrEmpty(answer.GetProperty("message").GetString()));
        Assert.Equal(field, answer.GetProperty("details").GetProperty("field").GetString());
    }

    [Fact]
    public async Task Overlong_fields_and_oversized_batches_are_400s_and_nothing_of_a_refused_batch_is_stored()
    {
        var longId = Event("sizes", new string('x', 300), "started", T0);
        var (status, body) = await PostAsync(Http, longId);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("entity.id", body.GetProperty("details").GetProperty("field").GetString());

        var tooMany = new JsonArray();
        for (var i = 0; i < 51; i++)
        {
            tooMany.Add(Event("sizes", $"many{i}", "started", T0));
        }

        (status, body) = await PostAsync(Http, tooMany);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("at most 50", body.GetProperty("message").GetString(), StringComparison.Ordinal);

        var halfBad = new JsonArray(Event("sizes", "good", "started", T0), Event("sizes", "bad", "started", T0, type: "subjob"));
        (status, _) = await PostAsync(Http, halfBad);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Empty(await ItemsAsync(Http, "/v1/jobs?app_name=sizes"));
    }

    [Theory]
    [InlineData("/v1/jobs?limit=0", "limit")]
    [InlineData("/v1/jobs?limit=many", "limit")]
    [InlineData("/v1/jobs?status=done", "status")]
    [InlineData("/v1/jobs?status=running,lost", "status")]
    [InlineData("/v1/jobs?from=noon", "from")]
    [InlineData("/v1/subjobs?to=later", "to")]
    [InlineData("/v1/jobs?from=2025-10-20T00:00:00Z&to=2025-10-19T00:00:00Z", "to")]
    public async Task An_invalid_query_is_a_400_naming_the_parameter(string pathAndQuery, string field)
    {
        var (status, body) = await GetAsync(Http, pathAndQuery);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("invalid_request", body.GetProperty("error").GetString());
        Assert.Equal(field, body.GetProperty("details").GetProperty("field").GetString());
    }

    [Fact]
    public async Task A_runtime_that_has_accepted_nothing_answers_reads_at_once_with_nothing_pending()
    {
        // Its own runtime: the shared one may have accepted events already, which hides the case.
        await using var fresh = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:ReadTimeout=00:00:05");

        var (status, jobs) = await GetAsync(fresh.JobsHttp, "/v1/jobs?limit=1");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, jobs.GetProperty("items").GetArrayLength());
        var (_, health) = await GetAsync(fresh.JobsHttp, "/v1/healthz");
        Assert.Equal(0, health.GetProperty("pending_events").GetInt64());
    }

    [Fact]
    public async Task The_jobs_routes_answer_only_on_the_jobs_port_and_the_main_routes_only_on_theirs()
    {
        var runtime = fixture.Runtime;
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(runtime.Http, "/v1/jobs")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(runtime.Http, "/v1/healthz")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(runtime.JobsHttp, "/api/alerts")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(runtime.JobsHttp, "/readyz")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(runtime.Http, "/api/alerts")).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(runtime.JobsHttp, "/v1/jobs?limit=1")).Status);

        var (status, health) = await GetAsync(runtime.JobsHttp, "/v1/healthz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("ok", health.GetProperty("status").GetString());
        Assert.Equal("local-api", health.GetProperty("service").GetString());
        Assert.Equal("ok", health.GetProperty("storage").GetProperty("clickhouse").GetString());
        Assert.Equal("ok", health.GetProperty("storage").GetProperty("redis").GetString());

        await PostOkAsync(runtime.JobsHttp, Event("metrics", "j", "started", T0));
        await PostOkAsync(runtime.JobsHttp, Event("metrics", "j", "started", T0, key: "m-1"));
        await PostOkAsync(runtime.JobsHttp, Event("metrics", "j", "started", T0, key: "m-1"));
        var metrics = await runtime.JobsHttp.GetStringAsync("/metrics", Cancel);
        Assert.Contains("aperture_jobs_events_ingested_total{kind=\"started\"}", metrics, StringComparison.Ordinal);
        Assert.Contains("aperture_jobs_events_duplicate_total", metrics, StringComparison.Ordinal);
        Assert.Contains("aperture_jobs_stream_subscribers", metrics, StringComparison.Ordinal);
        Assert.Contains("aperture_jobs_write_duration_seconds_bucket", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_bearer_token_guards_the_jobs_routes_but_not_healthz_and_metrics()
    {
        Environment.SetEnvironmentVariable("APERTURE_AUTH_TOKEN", null);
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:AuthToken=s3cret");
        var http = runtime.JobsHttp;

        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync(http, "/v1/jobs")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await PostAsync(http, Event("auth", "j", "started", T0))).Status);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(http, "/v1/healthz")).Status);
        using (var metrics = await http.GetAsync("/metrics", Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        }

        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "s3cret");
        await PostOkAsync(http, Event("auth", "j", "started", T0));
        Assert.Single(await ItemsAsync(http, "/v1/jobs?app_name=auth"));
    }
}
