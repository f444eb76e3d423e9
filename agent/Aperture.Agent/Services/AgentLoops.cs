using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Services;

/// <summary>Collects a host sample every <c>collectors.interval_seconds</c>, the first one at start.</summary>
public sealed class HostSampleLoop(AgentRuntime agent) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await agent.CollectHostSampleAsync(stoppingToken);
            await Task.Delay(TimeSpan.FromSeconds(agent.Config.Current.Collectors.IntervalSeconds), agent.Time, stoppingToken);
        }
    }
}

/// <summary>Drains the CPU profiler into a Push batch every <c>profiling.interval_seconds</c>.</summary>
public sealed class ProfilingLoop(AgentRuntime agent) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            await Task.Delay(TimeSpan.FromSeconds(agent.Config.Current.Profiling.IntervalSeconds), agent.Time, stoppingToken);
            await agent.CollectProfileAsync(stoppingToken);
        }
    }
}

/// <summary>Replays each channel's spool once its backoff has passed; the last profile is pushed on the way out.</summary>
public sealed partial class DeliveryLoop(AgentRuntime agent, ILogger<DeliveryLoop> logger) : BackgroundService
{
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await agent.ReplayDueAsync(stoppingToken);
            }
            catch (IOException error)
            {
                LogSpoolFailed(logger, error.Message);
            }

            await Task.Delay(Tick, agent.Time, stoppingToken);
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // What the profiler holds goes out (or into the spool) rather than being lost with the process.
        await agent.CollectProfileAsync(cancellationToken);
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "Spool replay failed: {Error}")]
    private static partial void LogSpoolFailed(ILogger logger, string error);
}
