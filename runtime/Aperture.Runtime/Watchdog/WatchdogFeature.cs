using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;

namespace Aperture.Runtime.Watchdog;

/// <summary>
/// The AIOps watchdog's routes (aiops-api.md: status, anomalies, RCA, the Alertmanager and resolution webhooks).
/// Not built yet (the watchdog issue): each answers 501 <c>not_implemented</c>, behind the access it will need, so
/// clients and the route table see the contract already.
/// </summary>
public static class WatchdogFeature
{
    public static void MapWatchdog(this WebApplication app)
    {
        app.MapGet("/api/v1/status", NotBuilt).Requires(Permission.Read);
        app.MapGet("/api/v1/anomalies", NotBuilt).Requires(Permission.Read);
        app.MapGet("/api/v1/rca/correlations", NotBuilt).Requires(Permission.Read);
        app.MapPost("/api/v1/resolutions/webhook", NotBuilt).Requires(Permission.Write);
        // Alertmanager sends no credential; aiops-api.md restricts this port at the network instead.
        app.MapPost("/api/v1/alerts/webhook", NotBuilt).WithMetadata(ListenerMetadata.Webhook).Public("the Alertmanager webhook (port 9093, network-restricted)");
    }

    private static IResult NotBuilt(HttpContext context) => Results.Json(
        new ErrorResponse(ErrorCodes.NotImplemented, $"{context.Request.Method} {context.Request.Path} is part of the AIOps watchdog, which is not built yet."),
        statusCode: StatusCodes.Status501NotImplemented);
}
