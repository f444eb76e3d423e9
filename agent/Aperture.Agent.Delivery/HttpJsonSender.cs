using System.Net;
using System.Net.Http.Headers;

namespace Aperture.Agent.Delivery;

/// <summary>An HTTP upstream: the URL payloads are POSTed to and the headers that authenticate them.</summary>
public sealed record HttpTarget(Uri Url, IReadOnlyDictionary<string, string> Headers, TimeSpan Timeout);

/// <summary>
/// POSTs JSON payloads: one per request (<see cref="MaxBatch"/> 1, the server-monitoring ingest API), or
/// several as one JSON array (the jobs API takes one event or an array).
/// 2xx is delivered; 400, 413 and 422 say the payload itself is wrong; anything else is retried later.
/// </summary>
public sealed class HttpJsonSender(HttpClient http, Func<HttpTarget?> target, int maxBatch) : IPayloadSender
{
    public string Destination => target()?.Url.GetLeftPart(UriPartial.Path) ?? "(not configured)";

    public bool Configured => target() is not null;

    public int MaxBatch { get; } = maxBatch;

    public async Task<SendResult> SendAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken)
    {
        var current = target();
        if (current is null)
        {
            return new SendResult(SendOutcome.RetryLater, "no endpoint configured");
        }

        using var request = new HttpRequestMessage(HttpMethod.Post, current.Url) { Content = new ByteArrayContent(Body(payloads)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        foreach (var (name, value) in current.Headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(current.Timeout);
        try
        {
            using var response = await http.SendAsync(request, timeout.Token);
            if (response.IsSuccessStatusCode)
            {
                return SendResult.Delivered;
            }

            var detail = await ReadDetailAsync(response, timeout.Token);
            var error = $"{(int)response.StatusCode} from {current.Url.GetLeftPart(UriPartial.Path)}: {detail}";
            return response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge or HttpStatusCode.UnprocessableEntity
                ? new SendResult(SendOutcome.Rejected, error)
                : new SendResult(SendOutcome.RetryLater, error, response.Headers.RetryAfter?.Delta);
        }
        catch (HttpRequestException error)
        {
            return new SendResult(SendOutcome.RetryLater, $"{current.Url.GetLeftPart(UriPartial.Authority)} unreachable: {error.Message}");
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new SendResult(SendOutcome.RetryLater, $"{current.Url.GetLeftPart(UriPartial.Authority)} did not answer within {current.Timeout.TotalSeconds} s");
        }
    }

    private byte[] Body(IReadOnlyList<byte[]> payloads)
    {
        if (MaxBatch == 1)
        {
            return payloads[0];
        }

        using var body = new MemoryStream();
        body.WriteByte((byte)'[');
        for (var i = 0; i < payloads.Count; i++)
        {
            if (i > 0)
            {
                body.WriteByte((byte)',');
            }

            body.Write(payloads[i]);
        }

        body.WriteByte((byte)']');
        return body.ToArray();
    }

    private static async Task<string> ReadDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var text = await response.Content.ReadAsStringAsync(cancellationToken);
        return text.Length > 300 ? text[..300] : text;
    }
}
