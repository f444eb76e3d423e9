using Aperture.Agent;
using Aperture.Agent.Configuration;

// aperture-agent [--config FILE]: collects this host, serves the agent API and the job sidecar, and
// delivers profiles, host samples and job events upstream (see README.md, "Node agent").
string? configPath = null;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--config" when i + 1 < args.Length:
            configPath = args[++i];
            break;
        case "-h" or "--help":
            Console.WriteLine("usage: aperture-agent [--config FILE]");
            return 0;
        default:
            await Console.Error.WriteLineAsync($"aperture-agent: unknown argument '{args[i]}' (usage: aperture-agent [--config FILE])");
            return 2;
    }
}

configPath ??= Environment.GetEnvironmentVariable("APERTURE_AGENT_CONFIG") is { Length: > 0 } fromEnvironment ? fromEnvironment : null;
AgentHost host;
using var profiler = new Aperture.Agent.Profiling.PerfCpuProfileSource();
try
{
    host = AgentHost.Create(configPath, profiler: profiler);
}
catch (AgentConfigException error)
{
    foreach (var problem in error.Errors)
    {
        await Console.Error.WriteLineAsync($"aperture-agent: {configPath ?? "(defaults)"}: {problem}");
    }

    return 2;
}

await using (host)
{
    using var stop = new CancellationTokenSource();
    using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, context =>
    {
        context.Cancel = true;
        stop.Cancel();
    });
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        stop.Cancel();
    };
    try
    {
        await host.StartAsync(stop.Token);
    }
    catch (IOException error)
    {
        await Console.Error.WriteLineAsync($"aperture-agent: cannot listen: {error.Message}");
        return 1;
    }

    var config = host.Agent.Config.Current;
    Console.WriteLine($"aperture-agent {Aperture.Agent.Services.AgentRuntime.Version}: API on {config.SelfTelemetry.Listen}, sidecar on {(config.Sidecar.Enabled ? config.Sidecar.Listen : "(off)")}, agent id {host.Agent.AgentId}");
    try
    {
        await Task.Delay(Timeout.Infinite, stop.Token);
    }
    catch (OperationCanceledException)
    {
        // SIGTERM or Ctrl-C: stop below, pushing what the profiler holds.
    }
}

return 0;
