using Aperture.Contracts;
using Microsoft.AspNetCore.Diagnostics;

namespace Aperture.Runtime.Platform;

public static partial class ErrorHandling
{
    /// <summary>
    /// Every failure leaves in the spec's error format: an unhandled exception as 500
    /// <c>internal_error</c> (logged, never echoed with its stack), an unknown route as 404.
    /// </summary>
    public static WebApplication UseApertureErrors(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(async context =>
        {
            var error = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, body) = error switch
            {
                InvalidRequestException invalid => (StatusCodes.Status400BadRequest, new ErrorResponse(
                    ErrorCodes.InvalidRequest, invalid.Message, invalid.Field.Length > 0 ? new Dictionary<string, string> { ["field"] = invalid.Field } : null)),
                Watchdog.Memory.VectorizerUnavailableException unavailable => (StatusCodes.Status503ServiceUnavailable, new ErrorResponse(ErrorCodes.ServiceUnavailable, unavailable.Message)),
                ServiceBusyException busy => (StatusCodes.Status503ServiceUnavailable, new ErrorResponse(ErrorCodes.ServiceUnavailable, busy.Message)),
                ForbiddenException forbidden => (StatusCodes.Status403Forbidden, new ErrorResponse(ErrorCodes.Forbidden, forbidden.Message)),
                // A body over the size limit, or one that is not what its headers say.
                BadHttpRequestException bad => (StatusCodes.Status400BadRequest, new ErrorResponse(ErrorCodes.InvalidRequest, bad.Message)),
                StackExchange.Redis.RedisException or HttpRequestException or ClickHouse.Driver.ClickHouseServerException or TimeoutException =>
                    (StatusCodes.Status503ServiceUnavailable, new ErrorResponse(ErrorCodes.ServiceUnavailable, "A storage dependency did not answer; try again shortly.")),
                _ => (StatusCodes.Status500InternalServerError, new ErrorResponse(ErrorCodes.InternalError, "The server failed to handle the request; the error is in its log.")),
            };
            if (status >= StatusCodes.Status500InternalServerError && error is not null)
            {
                var logger = context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Aperture.Runtime.Errors");
                LogRequestFailed(logger, context.Request.Method, context.Request.Path, error);
            }

            context.Response.StatusCode = status;
            if (error is ServiceBusyException)
            {
                context.Response.Headers.RetryAfter = "1";
            }

            await context.Response.WriteAsJsonAsync(body);
        }));
        return app;
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    private static partial void LogRequestFailed(ILogger logger, string method, string path, Exception exception);

    public static IEndpointConventionBuilder MapNotFoundFallback(this IEndpointRouteBuilder routes)
    {
        return routes.MapFallback((HttpContext context) => Results.Json(
            new ErrorResponse(ErrorCodes.NotFound, $"No route for {context.Request.Method} {context.Request.Path}"),
            statusCode: StatusCodes.Status404NotFound));
    }
}
