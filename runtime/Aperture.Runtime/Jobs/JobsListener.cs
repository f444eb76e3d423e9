using Aperture.Contracts;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Aperture.Runtime.Jobs;

/// <summary>Marks an endpoint as one of the jobs APIs, served only on the jobs listener.</summary>
public sealed class JobsEndpointMetadata
{
    public static readonly JobsEndpointMetadata Instance = new();
}

/// <summary>
/// Keeps the jobs APIs (port 18000 or 19000) and the role's main HTTP APIs (9090 or 8080) apart:
/// connections accepted by the jobs listener carry a mark, and a request is served only by the
/// routes of the listener it came in on (<c>/metrics</c> is on both). The mark is the listener, not
/// the Host header, which a client chooses.
/// </summary>
public static class JobsListener
{
    private const string ConnectionMark = "aperture.jobs-listener";

    public static void MarkConnections(ListenOptions listen) =>
        listen.Use(next => connection =>
        {
            connection.Items[ConnectionMark] = true;
            return next(connection);
        });

    public static bool IsJobsConnection(HttpContext context) =>
        context.Features.Get<IConnectionItemsFeature>()?.Items.ContainsKey(ConnectionMark) == true;

    public static WebApplication UseJobsListenerRoutes(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var onJobsListener = IsJobsConnection(context);
            var jobsRoute = context.GetEndpoint()?.Metadata.GetMetadata<JobsEndpointMetadata>() is not null;
            if (onJobsListener == jobsRoute || context.Request.Path.Equals("/metrics", StringComparison.Ordinal))
            {
                await next(context);
                return;
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            await context.Response.WriteAsJsonAsync(new ErrorResponse(ErrorCodes.NotFound, $"No route for {context.Request.Method} {context.Request.Path} on this port"));
        });
        return app;
    }
}
