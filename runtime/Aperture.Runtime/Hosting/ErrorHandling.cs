using Aperture.Contracts;
using Microsoft.AspNetCore.Diagnostics;

namespace Aperture.Runtime.Hosting;

public static class ErrorHandling
{
    /// <summary>
    /// Every failure leaves in the spec's error format: an unhandled exception as 500
    /// <c>internal_error</c> (logged, never echoed with its stack), an unknown route as 404.
    /// </summary>
    public static WebApplication UseApertureErrors(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(async context =>
        {
            var feature = context.Features.Get<IExceptionHandlerFeature>();
            var badRequest = feature?.Error is BadHttpRequestException;
            context.Response.StatusCode = badRequest ? StatusCodes.Status400BadRequest : StatusCodes.Status500InternalServerError;
            await context.Response.WriteAsJsonAsync(badRequest
                ? new ErrorResponse(ErrorCodes.InvalidRequest, feature!.Error.Message)
                : new ErrorResponse(ErrorCodes.InternalError, "The server failed to handle the request; the error is in its log."));
        }));
        return app;
    }

    public static IEndpointRouteBuilder MapNotFoundFallback(this IEndpointRouteBuilder routes)
    {
        routes.MapFallback((HttpContext context) => Results.Json(
            new ErrorResponse(ErrorCodes.NotFound, $"No route for {context.Request.Method} {context.Request.Path}"),
            statusCode: StatusCodes.Status404NotFound));
        return routes;
    }
}
