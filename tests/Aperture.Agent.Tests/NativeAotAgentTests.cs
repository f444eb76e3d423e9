using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Agent.Profiling;
using Aperture.Agent.Profiling.Tests;
using Aperture.Runtime.Tests;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>
/// The Native AOT agent, the build that ships (scripts/publish-agent-aot.sh, which 'make test' runs first): reflection
/// and dynamic code are gone there, so what the JIT build's tests show is checked again on the binary itself.
/// </summary>
public sealed class NativeAotAgentTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Binary => Path.Combine(RepositoryLayout.Root, ".artifacts", "agent-aot", "aperture-agent");

    [Fact]
    public async Task The_aot_agent_profiles_a_program_and_the_aggregator_shows_its_hot_function_on_top()
    {
        SkipWithoutBinary();
        if (PerfCpuProfiler.Probe() is { Available: false } refused)
        {
            Assert.Skip($"the kernel refuses perf_event_open here: {refused.Reason}");
        }

        using var work = new TemporaryDirectory("aperture-aot-agent");
        using var program = HotProgram.Run(HotProgram.Compile(work.Path), seconds: 60);
        await using var runtime = await RuntimeEnvironment.StartAsync();
        var agentId = $"aot-{Guid.NewGuid():N}";
        var port = FreePort.Next();
        var config = Path.Combine(work.Path, "agent.yaml");
        await File.WriteAllTextAsync(config, $$$"""
            agent: {id: "{{{agentId}}}", labels: {build: "${APERTURE_TEST_BUILD}"}}
            self_telemetry: {listen: "127.0.0.1:{{{port}}}"}
            profiling: {interval_seconds: 0.5, sample_rate: 199, pids: [{{{program.Pid}}}]}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{{runtime.GrpcPort}}}", timeout_seconds: 5}
            spool: {dir: "{{{Path.Combine(work.Path, "spool")}}}"}
            sidecar: {enabled: false}
            """, Cancel);
        using var agent = Start(config, ("APERTURE_TEST_BUILD", "aot"));
        using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(30) };
        try
        {
            await Eventually.HoldsAsync(async () => await AnswersAsync(api), TimeSpan.FromSeconds(30), "the AOT agent answering /healthz", Cancel);

            var status = await api.GetFromJsonAsync<JsonElement>("/status", Cancel);
            Assert.Equal(agentId, status.GetProperty("agent_id").GetString());
            var settings = await api.GetFromJsonAsync<JsonElement>("/config", Cancel);
            Assert.Equal("aot", settings.GetProperty("agent").GetProperty("labels").GetProperty("build").GetString());
            Assert.Contains("aperture_agent", await api.GetStringAsync("/metrics", Cancel), StringComparison.Ordinal);

            var frames = await AggregatorStacks.TopCpuStackAsync(runtime.Http, agentId, 50, "samples of the hot program from the AOT agent at the aggregator", Cancel);
            Assert.Equal("aperture_hot_loop", frames[^1]);
            Assert.Contains("main", frames);
        }
        finally
        {
            agent.Kill();
            await agent.WaitForExitAsync(Cancel);
        }
    }

    [Fact]
    public async Task The_aot_agent_refuses_an_unknown_key_naming_it_and_exits_2()
    {
        SkipWithoutBinary();
        using var work = new TemporaryDirectory("aperture-aot-agent");
        var config = Path.Combine(work.Path, "agent.yaml");
        await File.WriteAllTextAsync(config, "profiling:\n  sample_rates: 99\n", Cancel);

        using var agent = Start(config);
        var errors = await agent.StandardError.ReadToEndAsync(Cancel) + await agent.StandardOutput.ReadToEndAsync(Cancel);
        await agent.WaitForExitAsync(Cancel);

        Assert.Equal(2, agent.ExitCode);
        Assert.Contains("sample_rates", errors, StringComparison.Ordinal);
    }

    private static void SkipWithoutBinary()
    {
        if (!File.Exists(Binary))
        {
            Assert.Skip($"no Native AOT agent at {Binary}: 'make test' publishes it (scripts/publish-agent-aot.sh)");
        }
    }

    private static Process Start(string config, params (string Name, string Value)[] environment)
    {
        var start = new ProcessStartInfo(Binary, ["--config", config]) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var (name, value) in environment)
        {
            start.Environment[name] = value;
        }

        return Process.Start(start) ?? throw new InvalidOperationException($"could not start {Binary}");
    }

    private static async Task<bool> AnswersAsync(HttpClient api)
    {
        try
        {
            using var response = await api.GetAsync("/healthz", Cancel);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }
}
