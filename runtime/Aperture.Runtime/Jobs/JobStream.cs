using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>One event as the stream sends it: its id, its tenant, and the JSON after <c>data:</c>.</summary>
public readonly record struct StreamedEvent(ulong Id, string Tenant, string Payload);

/// <summary>
/// Fans accepted events out to /v1/stream subscribers, each of whom sees only its tenant's events.
/// Keeps the most recent events (of every tenant, in one order) for clients resuming with
/// Last-Event-ID; each subscriber has a bounded queue and is disconnected (not waited for) when it
/// falls behind, so a slow client never slows the ingest.
/// </summary>
public sealed class JobStream(IOptions<JobsOptions> options)
{
    private readonly Lock _lock = new();
    private readonly Queue<StreamedEvent> _recent = new();
    private readonly List<Subscription> _subscribers = [];

    public sealed class Subscription
    {
        internal Subscription(string tenant, int capacity)
        {
            Tenant = tenant;
            Queue = Channel.CreateBounded<StreamedEvent>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        }

        internal Channel<StreamedEvent> Queue { get; }

        /// <summary>The tenant whose events it gets.</summary>
        public string Tenant { get; }

        public ChannelReader<StreamedEvent> Reader => Queue.Reader;

        /// <summary>True when it was disconnected for falling behind.</summary>
        public bool Dropped { get; internal set; }
    }

    public int SubscriberCount
    {
        get
        {
            lock (_lock)
            {
                return _subscribers.Count;
            }
        }
    }

    /// <summary>Called in stream-id order (the ingest holds its order lock).</summary>
    public void Publish(ulong id, string tenant, string payload)
    {
        var e = new StreamedEvent(id, tenant, payload);
        lock (_lock)
        {
            _recent.Enqueue(e);
            while (_recent.Count > options.Value.StreamBuffer)
            {
                _recent.Dequeue();
            }

            for (var i = _subscribers.Count - 1; i >= 0; i--)
            {
                var subscriber = _subscribers[i];
                if (!string.Equals(subscriber.Tenant, tenant, StringComparison.Ordinal))
                {
                    continue;
                }

                if (!subscriber.Queue.Writer.TryWrite(e))
                {
                    subscriber.Dropped = true;
                    subscriber.Queue.Writer.TryComplete();
                    _subscribers.RemoveAt(i);
                    JobsMetrics.SubscribersDropped.Inc();
                    JobsMetrics.Subscribers.Dec();
                }
            }
        }
    }

    /// <summary>
    /// Subscribes to <paramref name="tenant"/>'s events and, in the same step, takes its buffered events
    /// after <paramref name="lastId"/>, so nothing falls between the replay and the live events.
    /// <c>OldestBuffered</c> is the oldest id the buffer holds of any tenant: what is older is read from storage.
    /// </summary>
    /// <returns>Null when the subscriber limit is reached.</returns>
    public (Subscription Subscription, List<StreamedEvent> Replay, ulong? OldestBuffered)? Subscribe(string tenant, ulong? lastId)
    {
        lock (_lock)
        {
            if (_subscribers.Count >= options.Value.MaxSubscribers)
            {
                return null;
            }

            var subscription = new Subscription(tenant, options.Value.SubscriberQueue);
            _subscribers.Add(subscription);
            JobsMetrics.Subscribers.Inc();
            var replay = lastId is { } last ? _recent.Where(e => e.Id > last && string.Equals(e.Tenant, tenant, StringComparison.Ordinal)).ToList() : [];
            return (subscription, replay, _recent.Count > 0 ? _recent.Peek().Id : null);
        }
    }

    public void Unsubscribe(Subscription subscription)
    {
        lock (_lock)
        {
            if (_subscribers.Remove(subscription))
            {
                JobsMetrics.Subscribers.Dec();
            }
        }
    }
}
