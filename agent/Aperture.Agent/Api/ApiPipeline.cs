using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Threading.RateLimiting;
using Aperture.Agent.Configuration;
using Aperture.Agent.Services;
using Aperture.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Api;

/// <summary>A request the agent refuses as malformed: 400 <c>invalid_request</c>, naming the field.</summary>
public sealed class InvalidRequestException(string field, string message) : Exception(message)
{
    public string Field { get; } = field;
}

/// <summary>
/// The middleware both HTTP surfaces share, in the order a request meets it: errors in the spec's format,
/// CORS (a preflight is answered before anything asks for a token), rate limiting (429 with Retry-After),
/// and bearer authentication (the probes and /metrics stay open). All of it reads the configuration in
/// force on each request, so a reload changes it without a restart.
/// </summary>
public static partial class ApiPipeline
{
    /// <summary>Kubelet probes and Prometheus scrapes: never behind the token or the rate limit.</summary>
    private static readonly HashSet<string> OpenPaths = new(StringComparer.OrdinalIgnoreCase) { "/healthz", "/ready", "/metrics" };

    public static WebApplication UseAgentErrors(this WebApplication app)
    {
        app.UseExceptionHandler(error => error.Run(async context =>
        {
            var failure = context.Features.Get<IExceptionHandlerFeature>()?.Error;
            var (status, body) = failure switch
            {
                InvalidRequestException invalid => (StatusCodes.Status400BadRequest, new ErrorResponse(ErrorCodes.InvalidRequest, invalid.Message, new Dictionary<string, string> { ["field"] = invalid.Field })),
                BadHttpRequestException bad => (bad.StatusCode, new ErrorResponse(ErrorCodes.InvalidRequest, bad.Message)),
                System.Text.Json.JsonException json => (StatusCodes.Status400BadRequest, new ErrorResponse(ErrorCodes.InvalidRequest, $"The body is not valid JSON: {json.Message}")),
                _ => (StatusCodes.Status500InternalServerError, new ErrorResponse(ErrorCodes.InternalError, "The agent failed to handle the request; the error is in its log.")),
            };
            if (status >= StatusCodes.Status500InternalServerError && failure is not null)
            {
                LogRequestFailed(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger("Aperture.Agent.Api"), context.Request.Method, context.Request.Path, failure);
            }

            context.Response.StatusCode = status;
            await context.Response.WriteErrorAsync(body);
        }));

        // 404 and 405 produced by routing carry no body; give them the spec's.
        app.UseStatusCodePages(async status =>
        {
            var response = status.HttpContext.Response;
            if (response.StatusCode is StatusCodes.Status404NotFound or StatusCodes.Status405MethodNotAllowed && !response.HasStarted && response.ContentLength is null or 0)
            {
                var request = status.HttpContext.Request;
                await response.WriteErrorAsync(response.StatusCode == StatusCodes.Status404NotFound
                    ? new ErrorResponse(ErrorCodes.NotFound, $"No route for {request.Method} {request.Path}")
                    : new ErrorResponse(ErrorCodes.InvalidRequest, $"{request.Method} is not allowed on {request.Path}"));
            }
        });
        return app;
    }

    [LoggerMessage(EventId = 900, Level = LogLevel.Error, Message = "{Method} {Path} failed")]
    private static partial void LogRequestFailed(ILogger logger, string method, string path, Exception exception);

    public static WebApplication UseAgentCors(this WebApplication app, AgentRuntime agent)
    {
        app.Use(async (context, next) =>
        {
            var cors = agent.Config.Current.SelfTelemetry.Cors;
            var origin = context.Request.Headers.Origin.ToString();
            var allowed = cors.Enabled && origin.Length > 0 &&
                cors.AllowedOrigins.Any(o => o == "*" || string.Equals(o.TrimEnd('/'), origin, StringComparison.OrdinalIgnoreCase));
            var preflight = HttpMethods.IsOptions(context.Request.Method) && context.Request.Headers.ContainsKey("Access-Control-Request-Method");
            if (allowed)
            {
                context.Response.Headers.AccessControlAllowOrigin = origin;
                context.Response.Headers.Vary = "Origin";
            }

            if (preflight)
            {
                if (allowed)
                {
                    context.Response.Headers.AccessControlAllowMethods = "GET, POST, OPTIONS";
                    context.Response.Headers.AccessControlAllowHeaders = "Authorization, Content-Type";
                    context.Response.Headers.AccessControlMaxAge = "600";
                }

                // An origin that is not allowed gets no allow headers, so the browser refuses the real request.
                context.Response.StatusCode = StatusCodes.Status204NoContent;
                return;
            }

            await next(context);
        });
        return app;
    }

    public static WebApplication UseAgentRateLimit(this WebApplication app, AgentRuntime agent)
    {
        var limiters = new AgentRateLimiter();
        app.Lifetime.ApplicationStopped.Register(limiters.Dispose);
        app.Use(async (context, next) =>
        {
            var limit = agent.Config.Current.SelfTelemetry.RateLimit;
            if (!limit.Enabled || OpenPaths.Contains(context.Request.Path.Value ?? string.Empty))
            {
                await next(context);
                return;
            }

            using var lease = limiters.For(limit).AttemptAcquire();
            if (lease.IsAcquired)
            {
                await next(context);
                return;
            }

            agent.Metrics.RequestRateLimited();
            var retryAfter = lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
            context.Response.StatusCode = StatusCodes.Status429TooManyRequests;
            context.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            await context.Response.WriteErrorAsync(new ErrorResponse(ErrorCodes.ServiceUnavailable,
                $"Rate limit of {limit.RequestsPerSecond} requests per second exceeded; retry after the Retry-After seconds.",
                new Dictionary<string, string> { ["reason"] = "rate_limited" }));
        });
        return app;
    }

    public static WebApplication UseAgentAuthentication(this WebApplication app, AgentRuntime agent)
    {
        app.Use(async (context, next) =>
        {
            var auth = agent.Config.Current.SelfTelemetry.Auth;
            if (!auth.Enabled || OpenPaths.Contains(context.Request.Path.Value ?? string.Empty) || Accepts(auth.BearerToken, context.Request.Headers.Authorization))
            {
                await next(context);
                return;
            }

            agent.Metrics.RequestUnauthorized();
            context.Response.StatusCode = StatusCodes.Status401Unauthorized;
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await context.Response.WriteErrorAsync(new ErrorResponse(ErrorCodes.Unauthorized, "Missing or wrong bearer token (Authorization: Bearer <token>)."));
        });
        return app;
    }

    /// <summary>Constant-time comparison of an Authorization header with the configured token.</summary>
    public static bool Accepts(string token, string? authorization)
    {
        const string scheme = "Bearer ";
        if (token.Length == 0 || authorization is null || !authorization.StartsWith(scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        return CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(authorization[scheme.Length..].Trim()), Encoding.UTF8.GetBytes(token));
    }

    /// <summary>One token bucket for the whole API, replaced when a reload changes the rate.</summary>
    private sealed class AgentRateLimiter : IDisposable
    {
        private readonly Lock _gate = new();
        private TokenBucketRateLimiter? _limiter;
        private (int Rate, int Burst) _key;

        public TokenBucketRateLimiter For(RateLimitConfig config)
        {
            lock (_gate)
            {
                if (_limiter is null || _key != (config.RequestsPerSecond, config.Burst))
                {
                    _limiter?.Dispose();
                    _key = (config.RequestsPerSecond, config.Burst);
                    _limiter = new TokenBucketRateLimiter(new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = config.Burst > 0 ? config.Burst : config.RequestsPerSecond,
                        TokensPerPeriod = config.RequestsPerSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    });
                }

                return _limiter;
            }
        }

        public void Dispose()
        {
            lock (_gate)
            {
                _limiter?.Dispose();
            }
        }
    }
}
