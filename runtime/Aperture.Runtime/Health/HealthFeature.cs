using Aperture.Runtime.Access;
using Prometheus;

namespace Aperture.Runtime.Health;

/// <summary>Liveness, readiness (every registered <see cref="IReadinessCheck"/>) and the Prometheus metrics, on every role.</summary>
public static class HealthFeature
{
    public static void AddHealth(this WebApplicationBuilder builder) => builder.Services.AddSingleton<ReadinessProbe>();

    public static void MapHealth(this WebApplication app)
    {
        app.MapHealthApi();
        app.MapMetrics("/metrics").Public("Prometheus scrape");
    }
}
