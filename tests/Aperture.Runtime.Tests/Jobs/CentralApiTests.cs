using System.Net;
using System.Net.Sockets;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>The central API over two real site runtimes (aggregator role) and a central runtime.</summary>
public sealed class CentralApiTests
{
    [Fact]
    public async Task Central_reports_a_stopped_site_degraded_and_still_answers_for_the_live_one()
    {
        await using var fab1 = await RuntimeEnvironment.StartAsync();
        await using var fab2 = await RuntimeEnvironment.StartAsync();
        // A site that takes connections and never answers.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var silentPort = ((IPEndPoint)silent.LocalEndpoint).Port;
        await using var central = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.CentralRole,
            $"--Aperture:Central:Sites:fab1=http://127.0.0.1:{fab1.JobsPort}",
            $"--Aperture:Central:Sites:fab2=http://127.0.0.1:{fab2.JobsPort}/",
            $"--Aperture:Central:Sites:fab3=http://127.0.0.1:{silentPort}",
            "--Aperture:Central:SiteTimeout=00:00:01");

        await PostOkAsync(fab1.JobsHttp, Event("central-app", "one", "started", T0, site: "fab1"));
        await PostOkAsync(fab1.JobsHttp, Event("central-app", "one", "finished", T0.AddSeconds(30), site: "fab1"));
        await PostOkAsync(fab1.JobsHttp, Event("central-app", "sub", "started", T0.AddSeconds(1), site: "fab1", type: "subjob", parent: "one"));
        await PostOkAsync(fab2.JobsHttp, Event("central-app", "two", "started", T0, site: "fab2"));

        var (status, sites) = await GetAsync(central.JobsHttp, "/v1/sites");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(3, sites.GetProperty("count").GetInt32());
        Assert.Equal(["fab1", "fab2", "fab3"], sites.GetProperty("sites").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal($"http://127.0.0.1:{fab1.JobsPort}", sites.GetProperty("sites")[0].GetProperty("endpoint").GetString());

        var (_, healthy) = await GetAsync(central.JobsHttp, "/v1/healthz");
        Assert.Equal("ok", healthy.GetProperty("sites").GetProperty("fab1").GetProperty("status").GetString());
        Assert.Equal("ok", healthy.GetProperty("sites").GetProperty("fab2").GetProperty("status").GetString());
        Assert.Equal("degraded", healthy.GetProperty("sites").GetProperty("fab3").GetProperty("status").GetString());
        Assert.StartsWith("Connection timeout", healthy.GetProperty("sites").GetProperty("fab3").GetProperty("error").GetString(), StringComparison.Ordinal);

        await fab2.StopRuntimeAsync();

        (status, var health) = await GetAsync(central.JobsHttp, "/v1/healthz");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("degraded", health.GetProperty("status").GetString());
        Assert.Equal("central-api", health.GetProperty("service").GetString());
        Assert.False(string.IsNullOrEmpty(health.GetProperty("version").GetString()));
        var one = health.GetProperty("sites").GetProperty("fab1");
        var two = health.GetProperty("sites").GetProperty("fab2");
        Assert.Equal("ok", one.GetProperty("status").GetString());
        Assert.False(one.TryGetProperty("error", out _));
        Assert.Equal("degraded", two.GetProperty("status").GetString());
        Assert.Equal($"http://127.0.0.1:{fab2.JobsPort}/", two.GetProperty("endpoint").GetString());
        Assert.False(string.IsNullOrEmpty(two.GetProperty("error").GetString()));

        var jobs = await ItemsAsync(central.JobsHttp, "/v1/jobs?site=fab1&app_name=central-app&status=succeeded");
        var job = Assert.Single(jobs);
        Assert.Equal(Id("central-app", "one"), job.Str("job_id"));
        Assert.Equal("fab1", job.Str("site_id"));
        Assert.Equal(30.0, job.Num("duration_s"));
        var subjob = Assert.Single(await ItemsAsync(central.JobsHttp, "/v1/subjobs?site=fab1&app_name=central-app"));
        Assert.Equal(Id("central-app", "one"), subjob.Str("parent_job_id"));
        Assert.Empty(await ItemsAsync(central.JobsHttp, "/v1/jobs?site=fab1&app_name=central-app&status=running"));

        (status, var down) = await GetAsync(central.JobsHttp, "/v1/jobs?site=fab2");
        Assert.Equal(HttpStatusCode.BadGateway, status);
        Assert.Equal("bad_gateway", down.GetProperty("error").GetString());
        Assert.Equal("fab2", down.GetProperty("details").GetProperty("site").GetString());

        (status, var slow) = await GetAsync(central.JobsHttp, "/v1/subjobs?site=fab3");
        Assert.Equal(HttpStatusCode.GatewayTimeout, status);
        Assert.Equal("gateway_timeout", slow.GetProperty("error").GetString());

        (status, var missing) = await GetAsync(central.JobsHttp, "/v1/jobs");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("site", missing.GetProperty("details").GetProperty("field").GetString());

        (status, var unknown) = await GetAsync(central.JobsHttp, "/v1/jobs?site=fab9");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal("not_found", unknown.GetProperty("error").GetString());

        // The site's own 400 passes through.
        (status, var invalid) = await GetAsync(central.JobsHttp, "/v1/jobs?site=fab1&status=lost");
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("status", invalid.GetProperty("details").GetProperty("field").GetString());

        // The central API is on its jobs port only.
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync(central.Http, "/v1/sites")).Status);
    }

    [Fact]
    public async Task A_site_endpoint_that_is_not_a_url_stops_the_start_naming_the_setting()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            await using var central = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.CentralRole, "--Aperture:Central:Sites:fab1=site1:18000");
        });
        Assert.Contains("Aperture:Central:Sites:fab1", error.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_site_list_follows_the_config_file_the_operator_publishes_without_a_restart()
    {
        using var directory = new Aperture.Testing.TemporaryDirectory("aperture-central-config");
        var file = Path.Combine(directory.Path, "sites.json");
        // What the operator's aperture-central-sites ConfigMap holds.
        await File.WriteAllTextAsync(file, """{"Aperture":{"Central":{"Sites":{"eu-west":"http://eu-west-aggregator.obs.svc:18000"}}}}""", TestContext.Current.CancellationToken);
        await using var central = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.CentralRole, "--config", file);

        var (_, first) = await GetAsync(central.JobsHttp, "/v1/sites");
        Assert.Equal(["eu-west"], first.GetProperty("sites").EnumerateArray().Select(s => s.GetProperty("id").GetString()));

        await File.WriteAllTextAsync(file, """{"Aperture":{"Central":{"Sites":{"eu-west":"http://eu-west-aggregator.obs.svc:18000","us-east":"http://us-east-aggregator.obs.svc:18000"}}}}""", TestContext.Current.CancellationToken);
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, sites) = await GetAsync(central.JobsHttp, "/v1/sites");
            return sites.GetProperty("count").GetInt32() == 2;
        }, TimeSpan.FromSeconds(20), "the second site from the rewritten file");
    }

    [Fact]
    public void A_missing_config_file_stops_the_start_naming_it()
    {
        var error = Assert.ThrowsAny<Exception>(() => Hosting.RuntimeApplication.Build(["--role", "central", "--config", "/nonexistent/aperture/sites.json"]));
        Assert.Contains("sites.json", error.Message, StringComparison.Ordinal);
    }
}
