using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Alerts;

/// <summary>The alert routes of aggregator-api.md.</summary>
public static class AlertsApi
{
    private const int DefaultHistory = 100;
    private const int MaxHistory = 1000;

    public static IEndpointRouteBuilder MapAlertsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/api/alerts", async (HttpContext context, AlertRuleStore rules) => Results.Json(new { rules = await rules.ListAsync(context.Principal().Tenant) }))
            .Requires(Permission.Read);

        routes.MapPost("/api/alerts", async (HttpRequest request, AlertRuleStore rules, CancellationToken cancellationToken) =>
        {
            var body = await RequestBody.ReadJsonAsync(request, new CreateAlertJson(null, null, null, null, null), cancellationToken);
            body.Validate();
            var rule = await rules.CreateAsync(request.HttpContext.Principal().Tenant, body);
            return Results.Json(new { id = rule.Id }, statusCode: StatusCodes.Status201Created);
        }).Requires(Permission.Write);

        routes.MapGet("/api/alerts/history", async (HttpRequest request, AlertRuleStore rules) =>
        {
            var limit = RequestBody.OptionalInt(request, "limit") ?? DefaultHistory;
            if (limit < 1)
            {
                throw new InvalidRequestException("limit", "limit must be at least 1");
            }

            return Results.Json(new { history = await rules.HistoryAsync(request.HttpContext.Principal().Tenant, Math.Min(limit, MaxHistory)) });
        }).Requires(Permission.Read);

        routes.MapPost("/api/alerts/evaluate", async (HttpContext context, AlertEvaluator evaluator, AlertRuleStore rules) =>
        {
            var tenant = context.Principal().Tenant;
            var evaluation = await evaluator.EvaluateAsync(tenant);
            await rules.RecordAsync(tenant, evaluation.Fired);
            return Results.Json(evaluation);
        }).Requires(Permission.Write);

        routes.MapDelete("/api/alerts/{id}", async (string id, HttpContext context, AlertRuleStore rules) =>
            await rules.DeleteAsync(context.Principal().Tenant, id)
                ? Results.Json(new { id, deleted = true })
                : NotFound(id))
            .Requires(Permission.Write);

        routes.MapPost("/api/alerts/{id}/toggle", async (string id, HttpContext context, AlertRuleStore rules) =>
            await rules.ToggleAsync(context.Principal().Tenant, id) is { } rule
                ? Results.Json(new { id = rule.Id, enabled = rule.Enabled })
                : NotFound(id))
            .Requires(Permission.Write);

        return routes;
    }

    private static IResult NotFound(string id) =>
        Results.Json(new ErrorResponse(ErrorCodes.NotFound, $"No alert rule '{id}'", new Dictionary<string, string> { ["id"] = id }),
            statusCode: StatusCodes.Status404NotFound);
}
