using System.Net;
using System.Text.Json.Nodes;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>What happens to acknowledged events when ClickHouse goes away, and to job state across a restart.</summary>
public sealed class JobStorageFaultTests
{
    [Fact]
    public async Task Events_acknowledged_while_ClickHouse_is_down_are_stored_when_it_returns()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:FlushInterval=00:00:00.100", "--Aperture:Jobs:ReadTimeout=00:00:01",
            "--Aperture:Jobs:MaxRetryDelay=00:00:00.500");
        var http = runtime.JobsHttp;
        await PostOkAsync(http, Event("hiccup", "before", "started", T0));
        Assert.Single(await ItemsAsync(http, "/v1/jobs?app_name=hiccup"));

        await runtime.ClickHouse.StopAsync();
        var batch = new JsonArray();
        for (var i = 0; i < 20; i++)
        {
            batch.Add(Event("hiccup", $"during{i}", "started", T0.AddSeconds(i)));
        }

        await PostOkAsync(http, batch);
        await PostOkAsync(http, Event("hiccup", "before", "finished", T0.AddSeconds(60)));
        // A read cannot see them yet and says so, rather than answering without them.
        var (status, body) = await GetAsync(http, "/v1/jobs?app_name=hiccup");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("service_unavailable", body.GetProperty("error").GetString());
        var (healthStatus, health) = await GetAsync(http, "/v1/healthz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, healthStatus);
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal(21, health.GetProperty("pending_events").GetInt32());

        await runtime.ClickHouse.StartAsync();
        await RuntimeEnvironment.WaitUntilAsync(
            async () => (await GetAsync(http, "/v1/jobs?app_name=hiccup")).Status == HttpStatusCode.OK, TimeSpan.FromSeconds(30), "jobs readable again");

        var jobs = await ItemsAsync(http, "/v1/jobs?app_name=hiccup");
        Assert.Equal(21, jobs.Count);
        Assert.Equal("succeeded", jobs.Single(j => j.Str("job_id") == Id("hiccup", "before")).Str("status"));
    }

    [Fact]
    public async Task A_restarted_runtime_continues_a_job_from_its_stored_state()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:FlushInterval=00:00:00.100");
        await PostOkAsync(runtime.JobsHttp, Event("restart", "j", "started", T0, metrics: new { mem_max_mb = 700.0 }, metadata: new { host = "n1" }, key: "r-1"));
        await PostOkAsync(runtime.JobsHttp, Event("restart", "j", "finished", T0.AddSeconds(40)));
        Assert.Single(await ItemsAsync(runtime.JobsHttp, "/v1/jobs?app_name=restart"));

        await runtime.RestartRuntimeAsync();
        // The replayed start is still known as a replay; a late event after the end still changes nothing.
        var replay = await PostOkAsync(runtime.JobsHttp, Event("restart", "j", "started", T0, key: "r-1"));
        Assert.Equal(1, replay.GetProperty("duplicates").GetInt32());
        await PostOkAsync(runtime.JobsHttp, Event("restart", "j", "error", T0.AddSeconds(50)));
        await PostOkAsync(runtime.JobsHttp, Event("restart", "j", "metric", T0.AddSeconds(20), metrics: new { mem_max_mb = 300.0 }, metadata: new { step = 3 }));

        var job = await JobAsync(runtime.JobsHttp, "restart", "j");
        Assert.Equal("succeeded", job.Str("status"));
        Assert.Equal(40.0, job.Num("duration_s"));
        Assert.Equal(700.0, job.Num("mem_max_mb"));
        Assert.Equal("n1", job.GetProperty("metadata").GetProperty("host").GetString());
        Assert.Equal(3, job.GetProperty("metadata").GetProperty("step").GetInt32());
    }
}
