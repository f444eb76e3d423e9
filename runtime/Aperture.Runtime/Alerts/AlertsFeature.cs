namespace Aperture.Runtime.Alerts;

/// <summary>Alert rules on the aggregator's own metrics (aggregator-api.md), kept in Redis and evaluated in the background.</summary>
public static class AlertsFeature
{
    public static void AddAlerts(this WebApplicationBuilder builder)
    {
        builder.Services.AddSingleton<AlertRuleStore>();
        builder.Services.AddSingleton<AlertEvaluator>();
        builder.Services.AddHostedService<AlertEvaluationService>();
    }

    public static void MapAlerts(this WebApplication app) => app.MapAlertsApi();
}
