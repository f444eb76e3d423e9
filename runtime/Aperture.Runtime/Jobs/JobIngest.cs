using System.Buffers;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Aperture.Runtime.Jobs;

/// <summary>An accepted event on its way to the state writer.</summary>
public sealed record QueuedEvent(JobEvent Event, ulong StreamId, long ReceivedAtMs, string Payload);

/// <summary>What one ingest request came to.</summary>
public readonly record struct IngestOutcome(int Accepted, int Duplicates);

/// <summary>The ingest queue is full and stayed full for the read timeout.</summary>
public sealed class IngestBackpressureException(string message) : Exception(message);

/// <summary>
/// Accepts validated events: drops replays of an idempotency key (Redis SET NX with a TTL, one
/// pipeline per request), gives each remaining event the next stream id, publishes it to the
/// stream and queues it for the state writer, all in one order. An idempotency key is the
/// tenant's own (<c>aperture:{tenant}:jobs:idempotency:{site}:{key}</c>): two tenants may send the same one.
/// </summary>
public sealed class JobIngest : IDisposable
{
    private const string KeyInfix = ":jobs:idempotency:";

    /// <summary>The keys written before they carried a tenant; they are the default tenant's until they expire.</summary>
    private const string LegacyKeyPrefix = "aperture:jobs:idempotency:";

    /// <summary>
    /// KEYS are pairs: the key to take and the key an earlier version wrote for the same event (the same key
    /// where there is none). SET NX PX for each, in order, unless the earlier key is there; 1 where the key
    /// was taken now, 0 where the event was seen before.
    /// </summary>
    private const string TakeKeysScript = """
        local taken = {}
        for i = 1, #KEYS, 2 do
            local key, legacy = KEYS[i], KEYS[i + 1]
            if legacy ~= key and redis.call('EXISTS', legacy) == 1 then
                taken[#taken + 1] = 0
            elseif redis.call('SET', key, '1', 'NX', 'PX', ARGV[1]) then
                taken[#taken + 1] = 1
            else
                taken[#taken + 1] = 0
            end
        end
        return taken
        """;

    private readonly Channel<QueuedEvent> _queue;
    private readonly JobStream _stream;
    private readonly IConnectionMultiplexer _redis;
    private readonly IOptions<JobsOptions> _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _order = new(1, 1);
    private readonly ulong _streamBase;
    private ulong _sequence;
    private ulong _lastAccepted;

    public JobIngest(Channel<QueuedEvent> queue, JobStream stream, IConnectionMultiplexer redis, IOptions<JobsOptions> options, TimeProvider time)
    {
        _queue = queue;
        _stream = stream;
        _redis = redis;
        _options = options;
        _time = time;
        // Stream ids keep growing across restarts (start time in ms, a thousand ids per ms), so a
        // client's Last-Event-ID from before a restart still orders against the new ones.
        _streamBase = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        _lastAccepted = _streamBase;
    }

    /// <summary>
    /// Where this process's stream ids begin: every id up to it was accepted by an earlier process, which stored it
    /// or lost it, so nothing up to it is waited for.
    /// </summary>
    public ulong StreamBase => _streamBase;

    /// <summary>The stream id of the newest accepted event (the start base before the first).</summary>
    public ulong LastAccepted => Volatile.Read(ref _lastAccepted);

    public async Task<IngestOutcome> AcceptAsync(IReadOnlyList<JobEvent> events, CancellationToken cancellationToken)
    {
        var fresh = await FilterReplaysAsync(events);
        var received = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var accepted = 0;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.Value.ReadTimeout);
        try
        {
            await _order.WaitAsync(timeout.Token);
            try
            {
                foreach (var e in fresh)
                {
                    var id = _sequence + 1 + _streamBase;
                    var queued = new QueuedEvent(e, id, received, Payload(e, id, received));
                    while (!_queue.Writer.TryWrite(queued))
                    {
                        await _queue.Writer.WaitToWriteAsync(timeout.Token);
                    }

                    _sequence++;
                    Volatile.Write(ref _lastAccepted, id);
                    _stream.Publish(id, e.Tenant, queued.Payload);
                    JobsMetrics.EventsIngested.WithLabels(e.Kind).Inc();
                    accepted++;
                }
            }
            finally
            {
                _order.Release();
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // The events not queued must be sendable again: their keys are given back.
            await ReleaseKeysAsync(fresh.Skip(accepted));
            JobsMetrics.Rejected.WithLabels("queue_full").Inc();
            throw new IngestBackpressureException(
                $"the ingest queue stayed full for {_options.Value.ReadTimeout.TotalSeconds:0.#} s; {accepted} of {fresh.Count} events were accepted, send the rest again");
        }

        JobsMetrics.PendingEvents.Set(_queue.Reader.Count);
        return new IngestOutcome(accepted, events.Count - fresh.Count);
    }

    private async Task<List<JobEvent>> FilterReplaysAsync(IReadOnlyList<JobEvent> events)
    {
        var keyed = events.Where(e => e.IdempotencyKey is not null).ToList();
        if (keyed.Count == 0)
        {
            return [.. events];
        }

        var database = _redis.GetDatabase();
        var window = _options.Value.IdempotencyWindow;
        bool[] taken;
        if (keyed.Count == 1 && keyed[0].Tenant != Platform.Tenants.Default)
        {
            taken = [await database.StringSetAsync(Key(keyed[0]), "1", window, When.NotExists)];
        }
        else
        {
            // One script call per request: a hundred SET NX commands cost the client and Redis far more.
            var result = await database.ScriptEvaluateAsync(
                TakeKeysScript,
                keyed.SelectMany(e => (RedisKey[])[Key(e), LegacyKey(e)]).ToArray(),
                [(long)window.TotalMilliseconds]);
            taken = ((long[])result!).Select(t => t == 1).ToArray();
        }

        var replays = new HashSet<JobEvent>(ReferenceEqualityComparer.Instance);
        for (var i = 0; i < keyed.Count; i++)
        {
            if (!taken[i])
            {
                replays.Add(keyed[i]);
            }
        }

        if (replays.Count > 0)
        {
            JobsMetrics.Duplicates.Inc(replays.Count);
        }

        return events.Where(e => !replays.Contains(e)).ToList();
    }

    private async Task ReleaseKeysAsync(IEnumerable<JobEvent> events)
    {
        var keys = events.Where(e => e.IdempotencyKey is not null).Select(e => (RedisKey)Key(e)).ToArray();
        if (keys.Length == 0)
        {
            return;
        }

        try
        {
            await _redis.GetDatabase().KeyDeleteAsync(keys);
        }
        catch (RedisException)
        {
            // A key left set makes a resend count as a replay until it expires; nothing else to do here.
        }
    }

    public void Dispose() => _order.Dispose();

    private static string Key(JobEvent e) => string.Concat("aperture:", e.Tenant, KeyInfix, e.SiteId, ":", e.IdempotencyKey);

    /// <summary>The key this event had before keys carried a tenant: only the default tenant's events had one.</summary>
    private static string LegacyKey(JobEvent e) =>
        e.Tenant == Platform.Tenants.Default ? string.Concat(LegacyKeyPrefix, e.SiteId, ":", e.IdempotencyKey) : Key(e);

    /// <summary>The event as /v1/stream sends it and job_events stores it.</summary>
    public static string Payload(JobEvent e, ulong id, long receivedAtMs)
    {
        var buffer = new ArrayBufferWriter<byte>(512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", id.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("at", JobsJson.Timestamp(e.At.ToUnixTimeMilliseconds()));
            json.WriteString("entity_type", e.EntityType);
            json.WriteString("entity_id", e.EntityId);
            WriteOptional(json, "parent_id", e.ParentId);
            WriteOptional(json, "business_key", e.BusinessKey);
            WriteOptional(json, "sub_key", e.SubKey);
            json.WriteString("site_id", e.SiteId);
            json.WriteString("app_id", e.AppId);
            json.WriteString("app_name", e.AppName);
            json.WriteString("app_version", e.AppVersion);
            json.WriteString("kind", e.Kind);
            WriteOptional(json, "status", e.Status ?? JobState.ResultingStatus(e));
            WriteOptional(json, "idempotency_key", e.IdempotencyKey);
            json.WriteStartObject("metrics");
            foreach (var (name, value) in e.Metrics)
            {
                json.WriteNumber(name, value);
            }

            json.WriteEndObject();
            json.WritePropertyName("metadata");
            json.WriteRawValue(e.MetadataJson, skipInputValidation: true);
            json.WriteString("received_at", JobsJson.Timestamp(receivedAtMs));
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteOptional(Utf8JsonWriter json, string name, string? value)
    {
        if (value is null)
        {
            json.WriteNull(name);
        }
        else
        {
            json.WriteString(name, value);
        }
    }
}
