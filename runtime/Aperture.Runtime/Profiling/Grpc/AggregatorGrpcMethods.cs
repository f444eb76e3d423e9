using System.Buffers;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;

namespace Aperture.Runtime.Profiling.Grpc;

/// <summary>
/// Binds the <c>aperture.v1.Aggregator</c> methods to <see cref="AggregatorGrpcService"/>. Written out
/// rather than generated so that Push can take its request as raw bytes (<see cref="PushPayload"/>)
/// for <see cref="Profiling.PushRequestReader"/>; the other methods use the generated messages.
/// </summary>
public sealed class AggregatorGrpcMethods : IServiceMethodProvider<AggregatorGrpcService>
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<AggregatorGrpcService> context)
    {
        context.AddUnaryMethod(
            new Method<PushPayload, PushResponse>(MethodType.Unary, Aggregator.Descriptor.FullName, "Push", PushPayload.Marshaller, MessageMarshaller(PushResponse.Parser)),
            [new RequiredPermission(Permission.Ingest)],
            (service, request, call) => service.Push(request, call));
        Add(context, "Query", QueryRequest.Parser, QueryResponse.Parser, (service, request, call) => service.Query(request, call));
        Add(context, "QueryStorage", QueryStorageRequest.Parser, QueryResponse.Parser, (service, request, call) => service.QueryStorage(request, call));
        Add(context, "Aggregate", AggregateRequest.Parser, AggregateResponse.Parser, (service, request, call) => service.Aggregate(request, call));
        Add(context, "Diff", DiffRequest.Parser, DiffResponse.Parser, (service, request, call) => service.Diff(request, call));
    }

    private static void Add<TRequest, TResponse>(
        ServiceMethodProviderContext<AggregatorGrpcService> context,
        string name,
        MessageParser<TRequest> requestParser,
        MessageParser<TResponse> responseParser,
        UnaryServerMethod<AggregatorGrpcService, TRequest, TResponse> invoker)
        where TRequest : class, IMessage<TRequest>
        where TResponse : class, IMessage<TResponse> =>
        context.AddUnaryMethod(
            new Method<TRequest, TResponse>(MethodType.Unary, Aggregator.Descriptor.FullName, name, MessageMarshaller(requestParser), MessageMarshaller(responseParser)),
            [new RequiredPermission(Permission.Read)],
            invoker);

    private static Marshaller<T> MessageMarshaller<T>(MessageParser<T> parser)
        where T : class, IMessage<T> =>
        Marshallers.Create(
            (message, context) =>
            {
                context.SetPayloadLength(message.CalculateSize());
                message.WriteTo(context.GetBufferWriter());
                context.Complete();
            },
            context => parser.ParseFrom(context.PayloadAsReadOnlySequence()));
}

/// <summary>A Push request's protobuf bytes, in a pooled buffer the call returns when done.</summary>
public sealed class PushPayload(byte[] buffer, int length) : IDisposable
{
    private byte[]? _buffer = buffer;

    public static Marshaller<PushPayload> Marshaller { get; } = Marshallers.Create(
        (payload, context) => context.Complete(payload.Memory.ToArray()),
        context =>
        {
            var bytes = context.PayloadAsReadOnlySequence();
            var buffer = ArrayPool<byte>.Shared.Rent((int)bytes.Length);
            bytes.CopyTo(buffer);
            return new PushPayload(buffer, (int)bytes.Length);
        });

    public ReadOnlyMemory<byte> Memory => (_buffer ?? throw new ObjectDisposedException(nameof(PushPayload))).AsMemory(0, length);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _buffer, null) is { } buffer)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
