using Aperture.Runtime.Platform;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Aperture.Runtime.Profiling.Grpc;

/// <summary>Maps the runtime's failures to gRPC status codes, never leaking a stack trace.</summary>
public sealed partial class GrpcErrorInterceptor(ILogger<GrpcErrorInterceptor> logger) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (InvalidRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (ForbiddenException e)
        {
            throw new RpcException(new Status(StatusCode.PermissionDenied, e.Message));
        }
        catch (Exception e) when (e is StackExchange.Redis.RedisException or HttpRequestException or ClickHouse.Driver.ClickHouseServerException or TimeoutException)
        {
            LogDependencyFailed(context.Method, e.Message);
            throw new RpcException(new Status(StatusCode.Unavailable, "a storage dependency did not answer; try again shortly"));
        }
        catch (Exception e) when (e is not RpcException and not OperationCanceledException)
        {
            LogFailed(context.Method, e);
            throw new RpcException(new Status(StatusCode.Internal, "the server failed to handle the call; the error is in its log"));
        }
    }

    [LoggerMessage(EventId = 500, Level = LogLevel.Warning, Message = "gRPC {Method}: a dependency failed: {Reason}")]
    private partial void LogDependencyFailed(string method, string reason);

    [LoggerMessage(EventId = 501, Level = LogLevel.Error, Message = "gRPC {Method} failed")]
    private partial void LogFailed(string method, Exception exception);
}
