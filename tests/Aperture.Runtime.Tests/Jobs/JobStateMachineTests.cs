using System.Text.Json.Nodes;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>The job state machine over real HTTP, stored in the real ClickHouse engine and read back through /v1/jobs.</summary>
public sealed class JobStateMachineTests(JobsFixture fixture) : IClassFixture<JobsFixture>
{
    private HttpClient Http => fixture.Runtime.JobsHttp;

    [Fact]
    public async Task Started_is_running_and_progress_and_metric_update_metrics_and_metadata_but_keep_it_running()
    {
        const string app = "sm-running";
        await PostOkAsync(Http, Event(app, "j1", "started", T0, metadata: new { host = "n1" }));
        var started = await JobAsync(Http, app, "j1");
        Assert.Equal("running", started.Str("status"));
        Assert.Equal("2025-10-19T12:00:00Z", started.Str("started_at"));
        Assert.Null(started.Str("ended_at"));
        Assert.Null(started.Num("duration_s"));

        await PostOkAsync(Http, Event(app, "j1", "progress", T0.AddSeconds(10), metrics: new { cpu_user_s = 5.5, mem_max_mb = 512.0 }, metadata: new { step = 1 }));
        await PostOkAsync(Http, Event(app, "j1", "metric", T0.AddSeconds(20), metrics: new { cpu_user_s = 9.25, cpu_system_s = 1.5, mem_max_mb = 256.0 }, metadata: new { step = 2 }));
        var job = await JobAsync(Http, app, "j1");

        Assert.Equal("running", job.Str("status"));
        Assert.Equal(9.25, job.Num("cpu_user_s"));
        Assert.Equal(1.5, job.Num("cpu_system_s"));
        Assert.Equal(512.0, job.Num("mem_max_mb")); // the peak, not the last value
        Assert.Equal("n1", job.GetProperty("metadata").GetProperty("host").GetString());
        Assert.Equal(2, job.GetProperty("metadata").GetProperty("step").GetInt32());
        Assert.Equal("sm-running-id", job.Str("app_id"));
        Assert.Equal("1.0.0", job.Str("app_version"));
        Assert.Equal("fab1", job.Str("site_id"));
        Assert.Equal("batch-j1", job.Str("job_key"));
        Assert.NotNull(job.Str("inserted_at"));
    }

    [Fact]
    public async Task Items_have_exactly_the_fields_of_the_spec()
    {
        const string app = "sm-fields";
        await PostOkAsync(Http, Event(app, "j1", "started", T0));
        var job = await JobAsync(Http, app, "j1");
        Assert.Equal(
            ["job_id", "app_id", "app_name", "app_version", "site_id", "job_key", "status", "started_at", "ended_at", "duration_s",
                "cpu_user_s", "cpu_system_s", "mem_max_mb", "metadata", "inserted_at"],
            job.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task Finished_gives_its_status_or_succeeded_and_the_duration_from_start_to_end_when_not_reported()
    {
        const string app = "sm-finished";
        await PostOkAsync(Http, new JsonArray(
            Event(app, "ok", "started", T0),
            Event(app, "ok", "finished", T0.AddSeconds(300.5), metrics: new { cpu_user_s = 120.3 }),
            Event(app, "bad", "started", T0),
            Event(app, "bad", "finished", T0.AddSeconds(60), status: "failed", metrics: new { duration_s = 59.0 })));

        var ok = await JobAsync(Http, app, "ok");
        var bad = await JobAsync(Http, app, "bad");

        Assert.Equal("succeeded", ok.Str("status"));
        Assert.Equal("2025-10-19T12:05:00.5Z", ok.Str("ended_at"));
        Assert.Equal(300.5, ok.Num("duration_s"));
        Assert.Equal(120.3, ok.Num("cpu_user_s"));
        Assert.Equal("failed", bad.Str("status"));
        Assert.Equal(59.0, bad.Num("duration_s")); // reported duration wins
    }

    [Fact]
    public async Task Error_fails_the_job_unless_it_says_the_job_keeps_running()
    {
        const string app = "sm-error";
        await PostOkAsync(Http, new JsonArray(
            Event(app, "fatal", "started", T0),
            Event(app, "fatal", "error", T0.AddSeconds(5), metadata: new { error = "disk full" }),
            Event(app, "survived", "started", T0),
            Event(app, "survived", "error", T0.AddSeconds(5), status: "running", metadata: new { error = "retrying" })));

        var fatal = await JobAsync(Http, app, "fatal");
        var survived = await JobAsync(Http, app, "survived");

        Assert.Equal("failed", fatal.Str("status"));
        Assert.Equal(5.0, fatal.Num("duration_s"));
        Assert.Equal("disk full", fatal.GetProperty("metadata").GetProperty("error").GetString());
        Assert.Equal("running", survived.Str("status"));
        Assert.Null(survived.Str("ended_at"));
        Assert.Equal("retrying", survived.GetProperty("metadata").GetProperty("error").GetString());
    }

    [Fact]
    public async Task Canceled_cancels_the_job()
    {
        const string app = "sm-canceled";
        await PostOkAsync(Http, Event(app, "j", "started", T0));
        await PostOkAsync(Http, Event(app, "j", "canceled", T0.AddSeconds(2)));
        var job = await JobAsync(Http, app, "j");
        Assert.Equal("canceled", job.Str("status"));
        Assert.Equal(2.0, job.Num("duration_s"));
    }

    [Fact]
    public async Task A_terminal_job_is_not_reopened_by_events_timestamped_after_its_end()
    {
        const string app = "sm-late";
        await PostOkAsync(Http, Event(app, "j", "started", T0));
        await PostOkAsync(Http, Event(app, "j", "finished", T0.AddSeconds(10), metrics: new { cpu_user_s = 3.0 }));
        // After the end: a restart, an error, a cancel and more metrics must all leave it as it ended.
        await PostOkAsync(Http, Event(app, "j", "started", T0.AddSeconds(20)));
        await PostOkAsync(Http, Event(app, "j", "error", T0.AddSeconds(21)));
        await PostOkAsync(Http, Event(app, "j", "canceled", T0.AddSeconds(22)));
        await PostOkAsync(Http, Event(app, "j", "progress", T0.AddSeconds(23), metrics: new { cpu_user_s = 99.0 }));

        var job = await JobAsync(Http, app, "j");
        Assert.Equal("succeeded", job.Str("status"));
        Assert.Equal("2025-10-19T12:00:00Z", job.Str("started_at"));
        Assert.Equal("2025-10-19T12:00:10Z", job.Str("ended_at"));
        Assert.Equal(10.0, job.Num("duration_s"));
        Assert.Equal(3.0, job.Num("cpu_user_s"));
    }

    [Fact]
    public async Task Out_of_order_events_give_the_same_state_as_in_order_ones()
    {
        const string app = "sm-order";
        var inOrder = new[]
        {
            Event(app, "a", "started", T0),
            Event(app, "a", "progress", T0.AddSeconds(30), metrics: new { cpu_user_s = 1.0, mem_max_mb = 100.0 }, metadata: new { phase = "load" }),
            Event(app, "a", "metric", T0.AddSeconds(60), metrics: new { cpu_user_s = 2.0, mem_max_mb = 300.0 }, metadata: new { phase = "compute" }),
            Event(app, "a", "finished", T0.AddSeconds(90)),
        };
        foreach (var e in inOrder)
        {
            await PostOkAsync(Http, e);
        }

        // The same events for job b, each in its own request in reverse: the finish first, the start last.
        foreach (var e in inOrder.Reverse())
        {
            var copy = e.DeepClone();
            copy["entity"]!["id"] = Id(app, "b");
            copy["entity"]!["business_key"] = "batch-a";
            await PostOkAsync(Http, copy);
        }

        var a = await JobAsync(Http, app, "a");
        var b = await JobAsync(Http, app, "b");
        foreach (var field in new[] { "status", "started_at", "ended_at", "duration_s", "cpu_user_s", "mem_max_mb", "metadata" })
        {
            Assert.Equal(a.GetProperty(field).GetRawText(), b.GetProperty(field).GetRawText());
        }

        Assert.Equal("succeeded", b.Str("status"));
        Assert.Equal(90.0, b.Num("duration_s"));
        Assert.Equal(2.0, b.Num("cpu_user_s"));
        Assert.Equal(300.0, b.Num("mem_max_mb"));
        Assert.Equal("compute", b.GetProperty("metadata").GetProperty("phase").GetString());
    }

    [Fact]
    public async Task A_late_start_completes_a_job_whose_finish_came_first_and_the_earliest_terminal_event_decides()
    {
        const string app = "sm-early-end";
        await PostOkAsync(Http, Event(app, "j", "finished", T0.AddSeconds(50), status: "failed"));
        var ended = await JobAsync(Http, app, "j");
        Assert.Equal("failed", ended.Str("status"));

        await PostOkAsync(Http, Event(app, "j", "started", T0.AddSeconds(10)));
        // A cancel timestamped before the failure arrives later: the job ended at the cancel.
        await PostOkAsync(Http, Event(app, "j", "canceled", T0.AddSeconds(40)));

        var job = await JobAsync(Http, app, "j");
        Assert.Equal("canceled", job.Str("status"));
        Assert.Equal("2025-10-19T12:00:10Z", job.Str("started_at"));
        Assert.Equal("2025-10-19T12:00:40Z", job.Str("ended_at"));
        Assert.Equal(30.0, job.Num("duration_s"));
    }

    [Fact]
    public async Task Subjobs_carry_their_parent_and_are_listed_apart_from_jobs()
    {
        const string app = "sm-subjobs";
        await PostOkAsync(Http, new JsonArray(
            Event(app, "parent", "started", T0),
            Event(app, "child-1", "started", T0.AddSeconds(1), type: "subjob", parent: "parent"),
            Event(app, "child-1", "finished", T0.AddSeconds(3), type: "subjob", parent: "parent")));

        var jobs = await ItemsAsync(Http, $"/v1/jobs?app_name={app}");
        var subjobs = await ItemsAsync(Http, $"/v1/subjobs?app_name={app}");

        Assert.Equal([Id(app, "parent")], jobs.Select(j => j.Str("job_id")));
        var child = Assert.Single(subjobs);
        Assert.Equal(Id(app, "child-1"), child.Str("subjob_id"));
        Assert.Equal(Id(app, "parent"), child.Str("parent_job_id"));
        Assert.Equal("part-child-1", child.Str("sub_key"));
        Assert.Equal("succeeded", child.Str("status"));
        Assert.Equal(2.0, child.Num("duration_s"));
        Assert.False(child.TryGetProperty("job_id", out _));
    }

    [Fact]
    public async Task Events_are_stored_once_each_in_the_events_table()
    {
        const string app = "sm-stored";
        await PostOkAsync(Http, new JsonArray(Event(app, "j", "started", T0), Event(app, "j", "finished", T0.AddSeconds(1))));
        await JobAsync(Http, app, "j");
        using var clickhouse = new ClickHouseClient(fixture.Runtime.ClickHouse.ConnectionString);
        var kinds = await clickhouse.ExecuteScalarAsync(
            $"SELECT arrayStringConcat(groupArray(toString(kind)), ',') FROM (SELECT kind FROM {fixture.Runtime.Database}.job_events " +
            $"WHERE entity_id = '{Id(app, "j")}' ORDER BY stream_id)",
            cancellationToken: TestContext.Current.CancellationToken);

        Assert.Equal("started,finished", kinds);
    }
}
