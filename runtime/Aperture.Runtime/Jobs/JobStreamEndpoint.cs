using System.Globalization;
using System.Text;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>
/// GET /v1/stream: Server-Sent Events, one per accepted job event of the caller's tenant (<c>id:</c>
/// the stream id, <c>data:</c> the event), a comment line every heartbeat interval. A client that
/// sends <c>Last-Event-ID</c> first gets what it missed: from the recent-events buffer, or from
/// ClickHouse when it missed more than the buffer holds. Stream ids are shared by all tenants, so
/// a tenant's ids have gaps.
/// </summary>
public static class JobStreamEndpoint
{
    private const int StoragePage = 5000;

    public static async Task StreamAsync(
        HttpContext context, JobStream stream, JobIngest ingest, JobStateWriter writer, JobStore store, IOptions<JobsOptions> options, TimeProvider time,
        IHostApplicationLifetime lifetime)
    {
        // Ends with the client or with the host, whose shutdown would otherwise wait for open streams.
        using var ended = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var cancellationToken = ended.Token;
        var lastId = LastEventId(context.Request);
        var tenant = context.Principal().Tenant;
        if (stream.Subscribe(tenant, lastId) is not { } subscribed)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            await context.Response.WriteAsJsonAsync(
                new ErrorResponse(ErrorCodes.ServiceUnavailable, $"the stream has its {options.Value.MaxSubscribers} subscribers; try again later"), cancellationToken);
            return;
        }

        var (subscription, replay, oldestBuffered) = subscribed;
        try
        {
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            context.Response.Headers["X-Accel-Buffering"] = "no";
            await WriteAsync(context, "retry: 1000\n: connected\n\n", cancellationToken);

            var sent = lastId ?? 0;
            if (lastId is { } last && (oldestBuffered is null || last + 1 < oldestBuffered))
            {
                // Missed more than the buffer holds: the older part comes from storage.
                var upTo = oldestBuffered is { } oldest ? oldest - 1 : ingest.LastAccepted;
                await writer.WaitStoredAsync(upTo, cancellationToken);
                while (sent < upTo)
                {
                    var page = await store.EventsAfterAsync(tenant, sent, upTo, StoragePage, cancellationToken);
                    foreach (var (id, payload) in page)
                    {
                        await WriteEventAsync(context, id, payload, cancellationToken);
                        sent = id;
                    }

                    if (page.Count < StoragePage)
                    {
                        break;
                    }
                }
            }

            foreach (var e in replay)
            {
                if (e.Id > sent)
                {
                    await WriteEventAsync(context, e.Id, e.Payload, cancellationToken);
                    sent = e.Id;
                }
            }

            await context.Response.Body.FlushAsync(cancellationToken);
            var heartbeat = options.Value.HeartbeatInterval;
            var reader = subscription.Reader;
            Task<bool>? waiting = null;
            while (!cancellationToken.IsCancellationRequested)
            {
                waiting ??= reader.WaitToReadAsync(cancellationToken).AsTask();
                bool more;
                try
                {
                    more = await waiting.WaitAsync(heartbeat, time, cancellationToken);
                }
                catch (TimeoutException)
                {
                    await WriteAsync(context, ": heartbeat\n\n", cancellationToken);
                    continue;
                }

                waiting = null;
                if (!more)
                {
                    // Dropped for falling behind: ending the response makes the client reconnect with Last-Event-ID.
                    return;
                }

                var wrote = false;
                while (reader.TryRead(out var e))
                {
                    if (e.Id > sent)
                    {
                        await WriteEventAsync(context, e.Id, e.Payload, CancellationToken.None, flush: false);
                        sent = e.Id;
                        wrote = true;
                    }
                }

                if (wrote)
                {
                    await context.Response.Body.FlushAsync(cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            stream.Unsubscribe(subscription);
        }
    }

    private static ulong? LastEventId(HttpRequest request)
    {
        var text = request.Headers["Last-Event-ID"].ToString();
        if (text.Length == 0)
        {
            text = request.Query["last_event_id"].ToString();
        }

        if (text.Length == 0)
        {
            return null;
        }

        return ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id
            : throw new InvalidRequestException("Last-Event-ID", $"Last-Event-ID must be an event id from this stream, not '{text}'");
    }

    private static Task WriteEventAsync(HttpContext context, ulong id, string payload, CancellationToken cancellationToken, bool flush = true)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"id: {id}\ndata: {payload}\n\n");
        return flush ? WriteAsync(context, text, cancellationToken) : context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken).AsTask();
    }

    private static async Task WriteAsync(HttpContext context, string text, CancellationToken cancellationToken)
    {
        await context.Response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), cancellationToken);
        await context.Response.Body.FlushAsync(cancellationToken);
    }
}
