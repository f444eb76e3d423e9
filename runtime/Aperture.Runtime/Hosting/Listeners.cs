using Aperture.Contracts;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Aperture.Runtime.Hosting;

/// <summary>
/// Marks an endpoint as served by one of the runtime's extra listeners (the jobs APIs on 18000/19000, the
/// Alertmanager webhook on 9093) rather than the role's main HTTP port (9090/8080).
/// </summary>
public sealed record ListenerMetadata(string Listener)
{
    public static readonly ListenerMetadata Jobs = new("jobs");

    public static readonly ListenerMetadata Webhook = new("webhook");
}

/// <summary>
/// Keeps each listener's routes on that listener: its connections carry a mark, and a request is served only by
/// the routes of the listener it came in on (<c>/metrics</c> is on all). The mark is the listener, not the Host
/// header, which a client chooses.
/// </summary>
public static class Listeners
{
    private const string ConnectionMark = "aperture.listener";

    public static void MarkConnections(ListenOptions listen, ListenerMetadata listener) =>
        listen.Use(next => connection =>
        {
            connection.Items[ConnectionMark] = listener.Listener;
            return next(connection);
        });

    public static WebApplication UseListenerRoutes(this WebApplication app)
    {
        app.Use(async (context, next) =>
        {
            var onListener = context.Features.Get<IConnectionItemsFeature>()?.Items.TryGetValue(ConnectionMark, out var mark) == true ? mark as string : null;
            var routeListener = context.GetEndpoint()?.Metadata.GetMetadata<ListenerMetadata>()?.Listener;
            if (onListener == routeListener || context.Request.Path.Equals("/metrics", StringComparison.Ordinal))
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
