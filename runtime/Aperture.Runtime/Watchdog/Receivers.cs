using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Ingest;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>The receivers other systems send to: Prometheus remote write (8080) and the Alertmanager webhook (9093).</summary>
public static class Receivers
{
    public static IEndpointRouteBuilder MapWatchdogReceivers(this IEndpointRouteBuilder routes)
    {
        // The protocol Prometheus, Grafana Alloy and vmagent send (remote write 1.0); 204 once stored and watched.
        routes.MapPost("/api/v1/write", async (HttpContext context, MetricIngest ingest, IOptions<WatchdogOptions> options, CancellationToken cancellationToken) =>
        {
            var request = context.Request;
            RemoteWriteDecoder.ValidateHeaders(request.ContentType, request.Headers.ContentEncoding, request.Headers[RemoteWriteDecoder.VersionHeader]);
            var body = await RequestBody.ReadBytesAsync(context, Math.Min(options.Value.MaxRemoteWriteBytes, RemoteWriteDecoder.MaxCompressedBytes), cancellationToken);
            var incoming = new List<IncomingSeries>();
            foreach (var series in RemoteWriteDecoder.Decode(body.Span))
            {
                // Stale markers and other non-finite values say "no value": nothing for the detector or the minutes.
                var points = series.Samples.Where(s => double.IsFinite(s.Value)).Select(s => (s.UnixMs, s.Value)).ToList();
                if (points.Count > 0 && RemoteWriteSeriesMapping.Map(series.Labels, options.Value.ServiceLabels) is { } metric)
                {
                    incoming.Add(new IncomingSeries(null, metric.ServiceId, metric.MetricName, metric.Labels, points));
                }
            }

            await ingest.AcceptAsync(context.Principal(), incoming, cancellationToken);
            return Results.NoContent();
        }).Requires(Permission.Ingest);

        // Alertmanager sends no credential; aiops-api.md restricts this port at the network instead. The tenant is the
        // alert's tenant label, else the receiver's path (…/webhook/{tenant}), else default.
        routes.MapPost("/api/v1/alerts/webhook", (HttpContext context, AlertIntake intake, CancellationToken cancellationToken) =>
                AcceptAlertsAsync(context, null, intake, cancellationToken))
            .WithMetadata(ListenerMetadata.Webhook).Public("the Alertmanager webhook (port 9093, network-restricted)");
        routes.MapPost("/api/v1/alerts/webhook/{tenant}", (string tenant, HttpContext context, AlertIntake intake, CancellationToken cancellationToken) =>
                AcceptAlertsAsync(context, tenant, intake, cancellationToken))
            .WithMetadata(ListenerMetadata.Webhook).Public("the Alertmanager webhook for one tenant (port 9093, network-restricted)");
        return routes;
    }

    private static async Task<IResult> AcceptAlertsAsync(HttpContext context, string? tenant, AlertIntake intake, CancellationToken cancellationToken)
    {
        if (tenant is not null && !TenantIds.IsValid(tenant))
        {
            throw new InvalidRequestException("tenant", $"'{tenant}' is not a tenant id");
        }

        var body = await RequestBody.ReadBytesAsync(context, AlertmanagerPayload.MaxBodyBytes, cancellationToken);
        var notification = AlertmanagerPayload.Parse(body.Span);
        var alerts = notification.Alerts.Select(a => new AlertInput(!a.IsResolved, a.Labels, a.Annotations, a.StartsAt, a.EndsAt, a.Fingerprint)).ToList();
        return Results.Json(await intake.AcceptAsync(tenant, notification.GroupKey, alerts, cancellationToken));
    }
}
