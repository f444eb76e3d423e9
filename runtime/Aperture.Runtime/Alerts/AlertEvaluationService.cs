using Aperture.Runtime.Profiling;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Alerts;

/// <summary>
/// Evaluates the rules on an interval; a rule that starts firing goes to the history once, not at
/// every evaluation while it keeps firing.
/// </summary>
public sealed partial class AlertEvaluationService(
    AlertEvaluator evaluator,
    AlertRuleStore rules,
    IOptions<ProfilingOptions> options,
    TimeProvider time,
    ILogger<AlertEvaluationService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.AlertEvaluationInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                foreach (var tenant in await rules.TenantsAsync())
                {
                    var evaluation = await evaluator.EvaluateAsync(tenant);
                    var started = await rules.TransitionsAsync(tenant, evaluation.Fired);
                    await rules.RecordAsync(tenant, started);
                    foreach (var alert in started)
                    {
                        LogFired(tenant, alert.RuleId, alert.Severity, alert.Message);
                    }
                }
            }
            catch (StackExchange.Redis.RedisException e)
            {
                LogEvaluationFailed(e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Warning, Message = "Alert {RuleId} of tenant {Tenant} ({Severity}) fired: {Message}")]
    private partial void LogFired(string tenant, string ruleId, string severity, string message);

    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Alert evaluation skipped, Redis did not answer: {Reason}")]
    private partial void LogEvaluationFailed(string reason);
}
