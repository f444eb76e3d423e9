using Aperture.Contracts;
using Aperture.Runtime.Access;

namespace Aperture.Runtime.Health;

public static class HealthApi
{
    /// <summary>
    /// <c>/healthz</c> (the process is alive: <c>ok</c>) and <c>/readyz</c> (every dependency
    /// answers: 200, else 503 naming each failed check). Both stay open without auth for probes.
    /// </summary>
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/healthz", () => Results.Text("ok")).Public("liveness probe");
        routes.MapGet("/readyz", async (ReadinessProbe probe, CancellationToken cancellationToken) =>
        {
            var report = await probe.RunAsync(cancellationToken);
            return Results.Json(report, statusCode: report.IsReady ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable);
        }).Public("readiness probe");
        return routes;
    }
}
