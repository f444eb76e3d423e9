using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Services;

/// <summary>
/// The agent's periodic work. A failed round is logged and the loop goes on: one bad read or a full
/// disk must not stop the host (an unhandled exception in a BackgroundService would).
/// </summary>
public abstract partial class AgentLoop(ILogger logger) : BackgroundService
{
    protected abstract string Name { get; }

    protected abstract TimeSpan Interval { get; }

    protected abstract TimeProvider Time { get; }

    /// <summary>Whether to wait one interval before the first round.</summary>
    protected virtual bool DelayFirst => false;

    protected abstract Task RoundAsync(CancellationToken cancellationToken);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (DelayFirst)
        {
            await Task.Delay(Interval, Time, stoppingToken);
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RoundAsync(stoppingToken);
            }
            catch (Exception error) when (error is not OperationCanceledException)
            {
                LogRoundFailed(logger, Name, error);
            }

            await Task.Delay(Interval, Time, stoppingToken);
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Error, Message = "A round of {Loop} failed; the loop goes on")]
    private static partial void LogRoundFailed(ILogger logger, string loop, Exception error);
}

/// <summary>Collects a host sample every <c>collectors.interval_seconds</c>, the first one at start.</summary>
public sealed class HostSampleLoop(AgentRuntime agent, ILogger<HostSampleLoop> logger) : AgentLoop(logger)
{
    protected override string Name => "host sampling";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(agent.Config.Current.Collectors.IntervalSeconds);

    protected override TimeProvider Time => agent.Time;

    protected override Task RoundAsync(CancellationToken cancellationToken) => agent.CollectHostSampleAsync(cancellationToken);
}

/// <summary>Drains the CPU profiler into a Push batch every <c>profiling.interval_seconds</c>, then follows the targets' processes.</summary>
public sealed class ProfilingLoop(AgentRuntime agent, ILogger<ProfilingLoop> logger) : AgentLoop(logger)
{
    protected override string Name => "profiling";

    protected override TimeSpan Interval => TimeSpan.FromSeconds(agent.Config.Current.Profiling.IntervalSeconds);

    protected override TimeProvider Time => agent.Time;

    protected override bool DelayFirst => true;

    protected override Task RoundAsync(CancellationToken cancellationToken) => agent.ProfileRoundAsync(cancellationToken);
}

/// <summary>Replays each channel's spool once its backoff has passed; the last profile is pushed on the way out.</summary>
public sealed class DeliveryLoop(AgentRuntime agent, ILogger<DeliveryLoop> logger) : AgentLoop(logger)
{
    protected override string Name => "spool replay";

    // Once a second: a replay waits on upstream's backoff (half a second at the least) anyway, and each wake-up
    // of an idle agent costs more than the check it makes.
    protected override TimeSpan Interval => TimeSpan.FromSeconds(1);

    protected override TimeProvider Time => agent.Time;

    protected override Task RoundAsync(CancellationToken cancellationToken) => agent.ReplayDueAsync(cancellationToken);

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        // What the profiler holds goes out (or into the spool) rather than being lost with the process.
        await agent.CollectProfileAsync(cancellationToken);
    }
}
