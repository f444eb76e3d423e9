using Aperture.Agent.Collectors.Profiling;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>A real agent (API and sidecar over HTTP on loopback) with its configuration file and spool in a temporary directory.</summary>
public sealed class AgentUnderTest : IAsyncDisposable
{
    private readonly TemporaryDirectory _dir = new("aperture-agent");

    private AgentUnderTest()
    {
    }

    public AgentHost Host { get; private set; } = null!;

    public HttpClient Api { get; private set; } = null!;

    public HttpClient Sidecar { get; private set; } = null!;

    public int ApiPort { get; private set; }

    public int SidecarPort { get; private set; }

    public string ConfigPath => Path.Combine(_dir.Path, "agent.yaml");

    public string SpoolDir => Path.Combine(_dir.Path, "spool");

    /// <summary>
    /// Writes the configuration file. The listen addresses and the spool directory come from
    /// APERTURE_AGENT_* environment overrides, so a test's file holds only what the test is about.
    /// </summary>
    public void WriteConfig(string yaml) => File.WriteAllText(ConfigPath, yaml);

    public static async Task<AgentUnderTest> StartAsync(string yaml = "", IReadOnlyDictionary<string, string?>? environment = null, ICpuProfileSource? profiler = null)
    {
        var agent = new AgentUnderTest { ApiPort = FreePort.Next(), SidecarPort = FreePort.Next() };
        agent.WriteConfig(yaml);
        var env = new Dictionary<string, string?>(environment ?? new Dictionary<string, string?>(), StringComparer.Ordinal)
        {
            ["APERTURE_AGENT_SELF_TELEMETRY_LISTEN"] = $"127.0.0.1:{agent.ApiPort}",
            ["APERTURE_AGENT_SIDECAR_LISTEN"] = $"127.0.0.1:{agent.SidecarPort}",
            ["APERTURE_AGENT_SPOOL_DIR"] = agent.SpoolDir,
        };
        agent.Host = AgentHost.Create(agent.ConfigPath, env, profiler);
        await agent.Host.StartAsync();
        agent.Api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{agent.ApiPort}/"), Timeout = TimeSpan.FromSeconds(60) };
        agent.Sidecar = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{agent.SidecarPort}/"), Timeout = TimeSpan.FromSeconds(60) };
        return agent;
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        Sidecar?.Dispose();
        if (Host is not null)
        {
            await Host.DisposeAsync();
        }

        _dir.Dispose();
    }
}
