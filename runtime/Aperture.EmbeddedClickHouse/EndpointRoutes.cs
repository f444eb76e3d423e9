namespace Aperture.EmbeddedClickHouse;

public static class EndpointRoutes
{
    /// <summary>Maps the paths a ClickHouse server answers over HTTP that clients of this stack use.</summary>
    public static IEndpointRouteBuilder MapClickHouseHttpInterface(this IEndpointRouteBuilder routes)
    {
        routes.MapGet("/ping", () => Results.Text("Ok.\n"));
        routes.MapGet("/replicas_status", () => Results.Text("Ok.\n"));
        routes.MapMethods("/", ["GET", "POST", "HEAD"], (HttpContext context, ClickHouseHttpInterface handler) => handler.HandleAsync(context));
        return routes;
    }
}
