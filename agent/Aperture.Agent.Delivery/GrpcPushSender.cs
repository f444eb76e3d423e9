using Aperture.Contracts.Grpc;
using Grpc.Core;
using Grpc.Net.Client;

namespace Aperture.Agent.Delivery;

/// <summary>Where the aggregator's gRPC Push listens, and the bearer token it wants (null: none).</summary>
public sealed record AggregatorTarget(string Endpoint, string? Token, TimeSpan Timeout);

/// <summary>
/// Sends serialised <see cref="PushRequest"/> batches to the aggregator's Push. The (agent id, sequence)
/// inside each payload was fixed when the batch was made, so a retry or a replay from the spool is the same
/// batch to the aggregator, which acknowledges a repeat as a duplicate and stores it once.
/// </summary>
public sealed class GrpcPushSender(Func<AggregatorTarget?> target) : IPayloadSender, IDisposable
{
    private readonly Lock _gate = new();
    private GrpcChannel? _channel;
    private string? _channelEndpoint;

    public string Destination => target()?.Endpoint ?? "(not configured)";

    public bool Configured => target() is not null;

    public int MaxBatch => 1;

    public async Task<SendResult> SendAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken)
    {
        var current = target();
        if (current is null)
        {
            return new SendResult(SendOutcome.RetryLater, "no aggregator endpoint configured");
        }

        var client = new Aggregator.AggregatorClient(Channel(current.Endpoint));
        var headers = new Metadata();
        if (!string.IsNullOrEmpty(current.Token))
        {
            headers.Add("authorization", $"Bearer {current.Token}");
        }

        foreach (var payload in payloads)
        {
            PushRequest request;
            try
            {
                request = PushRequest.Parser.ParseFrom(payload);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException error)
            {
                return new SendResult(SendOutcome.Rejected, $"a spooled batch is not a PushRequest: {error.Message}");
            }

            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(current.Timeout);
                var response = await client.PushAsync(request, headers, cancellationToken: timeout.Token);
                if (!response.Accepted)
                {
                    return new SendResult(SendOutcome.RetryLater, $"aggregator did not accept the batch: {response.Error}",
                        response.RetryAfterMs > 0 ? TimeSpan.FromMilliseconds(response.RetryAfterMs) : null);
                }
            }
            catch (RpcException error) when (error.StatusCode is StatusCode.InvalidArgument)
            {
                return new SendResult(SendOutcome.Rejected, $"aggregator refused the batch: {error.Status.Detail}");
            }
            catch (RpcException error) when (error.StatusCode == StatusCode.Cancelled && !cancellationToken.IsCancellationRequested)
            {
                return new SendResult(SendOutcome.RetryLater, $"no answer within {current.Timeout.TotalSeconds} s");
            }
            catch (RpcException error)
            {
                return new SendResult(SendOutcome.RetryLater, $"{error.StatusCode}: {error.Status.Detail}");
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return new SendResult(SendOutcome.RetryLater, $"no answer within {current.Timeout.TotalSeconds} s");
            }
        }

        return SendResult.Delivered;
    }

    private GrpcChannel Channel(string endpoint)
    {
        lock (_gate)
        {
            if (_channel is null || _channelEndpoint != endpoint)
            {
                _channel?.Dispose();
                _channel = GrpcChannel.ForAddress(endpoint, new GrpcChannelOptions { MaxReceiveMessageSize = 4 * 1024 * 1024 });
                _channelEndpoint = endpoint;
            }

            return _channel;
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _channel?.Dispose();
            _channel = null;
        }
    }
}
