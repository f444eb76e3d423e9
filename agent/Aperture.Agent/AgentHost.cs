using Aperture.Agent.Api;
using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Configuration;
using Aperture.Agent.Services;
using Aperture.Agent.Sidecar;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent;

/// <summary>
/// The agent process: its core (<see cref="AgentRuntime"/>), the agent API on <c>self_telemetry.listen</c>
/// (which also runs the collection and delivery loops) and the job sidecar on <c>sidecar.listen</c>.
/// </summary>
public sealed class AgentHost : IAsyncDisposable
{
    private readonly ILoggerFactory _loggers;

    private AgentHost(AgentRuntime agent, WebApplication api, WebApplication? sidecar, ILoggerFactory loggers)
    {
        Agent = agent;
        Api = api;
        Sidecar = sidecar;
        _loggers = loggers;
    }

    public AgentRuntime Agent { get; }

    public WebApplication Api { get; }

    public WebApplication? Sidecar { get; }

    /// <exception cref="AgentConfigException">The configuration is invalid.</exception>
    public static AgentHost Create(string? configPath, IReadOnlyDictionary<string, string?>? environment = null, ICpuProfileSource? profiler = null, TimeProvider? time = null)
    {
        var env = environment ?? AgentConfigLoader.ProcessEnvironment();
        var clock = time ?? TimeProvider.System;
        var loggers = LoggerFactory.Create(logging => logging
            .AddSimpleConsole(console => { console.SingleLine = true; console.TimestampFormat = "HH:mm:ss "; })
            .AddFilter("Microsoft", LogLevel.Warning)
            .AddFilter("System.Net.Http", LogLevel.Warning));
        var store = new AgentConfigStore(configPath, () => env, clock, loggers.CreateLogger("Aperture.Agent.Configuration"));
        var agent = new AgentRuntime(store, profiler ?? new UnlinkedCpuProfileSource(), clock, loggers);
        var config = store.Current;

        var api = NewApplication(config.SelfTelemetry.Listen, maxBodyBytes: 64 * 1024, agent, loggers);
        api.UseAgentErrors();
        api.UseAgentCors(agent);
        api.UseAgentRateLimit(agent);
        api.UseAgentAuthentication(agent);
        api.MapAgentApi(agent);
        api.MapDebugApi(agent);

        WebApplication? sidecar = null;
        if (config.Sidecar.Enabled)
        {
            sidecar = NewApplication(config.Sidecar.Listen, config.Sidecar.MaxBodyBytes, agent, loggers, hostLoops: false);
            sidecar.UseAgentErrors();
            sidecar.MapSidecarApi(agent);
        }

        store.Watch();
        return new AgentHost(agent, api, sidecar, loggers);
    }

    private static WebApplication NewApplication(string listen, long maxBodyBytes, AgentRuntime agent, ILoggerFactory loggers, bool hostLoops = true)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggers);
        builder.Services.AddSingleton(agent);
        builder.Services.ConfigureHttpJsonOptions(json =>
        {
            json.SerializerOptions.PropertyNamingPolicy = null;
            json.SerializerOptions.TypeInfoResolverChain.Insert(0, AgentJsonContext.Default);
        });
        if (hostLoops)
        {
            builder.Services.AddHostedService<HostSampleLoop>();
            builder.Services.AddHostedService<ProfilingLoop>();
            builder.Services.AddHostedService<DeliveryLoop>();
        }

        if (!AgentConfigLoader.TryParseListen(listen, out var address, out var port))
        {
            throw new AgentConfigException([$"'{listen}' is not host:port"]); // validation said so already; this keeps the compiler honest
        }

        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = maxBodyBytes;
            kestrel.Limits.RequestHeadersTimeout = TimeSpan.FromSeconds(10);
            kestrel.Listen(address, port, options => options.Protocols = HttpProtocols.Http1);
        });
        return builder.Build();
    }

    public async Task StartAsync(CancellationToken cancellationToken = default)
    {
        await Api.StartAsync(cancellationToken);
        if (Sidecar is not null)
        {
            await Sidecar.StartAsync(cancellationToken);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        if (Sidecar is not null)
        {
            await Sidecar.StopAsync(cancellationToken);
        }

        await Api.StopAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (Sidecar is not null)
        {
            await Sidecar.DisposeAsync();
        }

        await Api.DisposeAsync();
        await Agent.StopDiscoveryAsync();
        Agent.Config.Dispose();
        Agent.Dispose();
        _loggers.Dispose();
    }
}
