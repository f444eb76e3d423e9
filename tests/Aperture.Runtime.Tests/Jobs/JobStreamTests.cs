using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using static Aperture.Runtime.Tests.Jobs.JobEvents;

namespace Aperture.Runtime.Tests.Jobs;

/// <summary>A Server-Sent Events client over a real HTTP response: events with their ids, and comment lines.</summary>
public sealed class StreamClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private StreamClient(HttpResponseMessage response, StreamReader reader)
    {
        _response = response;
        _reader = reader;
    }

    public int Comments { get; private set; }

    public static async Task<StreamClient> ConnectAsync(HttpClient http, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/stream");
        if (lastEventId is not null)
        {
            request.Headers.Add("Last-Event-ID", lastEventId);
        }

        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var reader = new StreamReader(await response.Content.ReadAsStreamAsync(TestContext.Current.CancellationToken));
        return new StreamClient(response, reader);
    }

    /// <summary>The next event (id and data), counting the comment lines before it.</summary>
    public async Task<(string Id, JsonElement Data)> NextAsync(TimeSpan? timeout = null)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout ?? TimeSpan.FromSeconds(10));
        string? id = null;
        string? data = null;
        while (true)
        {
            var line = await _reader.ReadLineAsync(deadline.Token) ?? throw new EndOfStreamException("the stream ended");
            if (line.StartsWith(':'))
            {
                Comments++;
            }
            else if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                id = line[4..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line[6..];
            }
            else if (line.Length == 0 && data is not null)
            {
                Assert.NotNull(id);
                return (id, JsonDocument.Parse(data).RootElement.Clone());
            }
        }
    }

    /// <summary>Reads lines until <paramref name="count"/> comment lines were seen, failing if an event comes first.</summary>
    public async Task WaitCommentsAsync(int count, TimeSpan timeout)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(timeout);
        while (Comments < count)
        {
            var line = await _reader.ReadLineAsync(deadline.Token) ?? throw new EndOfStreamException("the stream ended");
            Assert.False(line.StartsWith("data:", StringComparison.Ordinal), $"an event came while the stream should be idle: {line}");
            if (line.StartsWith(':'))
            {
                Comments++;
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>/v1/stream: live events, heartbeats, and resumption by Last-Event-ID without gaps or repeats.</summary>
public sealed class JobStreamTests
{
    private static async Task<List<(string Id, JsonElement Data)>> ReadAsync(StreamClient client, int count)
    {
        var events = new List<(string, JsonElement)>();
        for (var i = 0; i < count; i++)
        {
            events.Add(await client.NextAsync());
        }

        return events;
    }

    private static JsonArray Events(string app, int from, int count)
    {
        var batch = new JsonArray();
        for (var i = from; i < from + count; i++)
        {
            batch.Add(Event(app, $"j{i}", "started", T0.AddSeconds(i), metadata: new { n = i }));
        }

        return batch;
    }

    [Fact]
    public async Task A_client_gets_events_live_and_after_reconnecting_with_Last_Event_ID_exactly_the_ones_it_missed()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:HeartbeatInterval=00:00:00.200", "--Aperture:Jobs:FlushInterval=00:00:00.100");
        var http = runtime.JobsHttp;
        await using var other = await StreamClient.ConnectAsync(http);
        var first = await StreamClient.ConnectAsync(http);

        await PostOkAsync(http, Event("live", "j0", "started", T0, metrics: new { cpu_user_s = 1.5 }));
        var (id0, live) = await first.NextAsync();
        Assert.Equal("job", live.GetProperty("entity_type").GetString());
        Assert.Equal(Id("live", "j0"), live.GetProperty("entity_id").GetString());
        Assert.Equal("started", live.GetProperty("kind").GetString());
        Assert.Equal("running", live.GetProperty("status").GetString());
        Assert.Equal("2025-10-19T12:00:00Z", live.GetProperty("at").GetString());
        Assert.Equal(1.5, live.GetProperty("metrics").GetProperty("cpu_user_s").GetDouble());
        Assert.Equal(id0, live.GetProperty("id").GetString());
        Assert.Equal(id0, (await other.NextAsync()).Id); // every subscriber gets it

        await PostOkAsync(http, Events("live", 1, 4));
        var received = await ReadAsync(first, 4);
        var lastSeen = received[^1].Id;
        await first.DisposeAsync();

        // While it is away: single events and a batch.
        await PostOkAsync(http, Event("live", "j5", "started", T0.AddSeconds(5), metadata: new { n = 5 }));
        await PostOkAsync(http, Events("live", 6, 10));

        await using var resumed = await StreamClient.ConnectAsync(http, lastSeen);
        await PostOkAsync(http, Event("live", "j16", "started", T0.AddSeconds(16), metadata: new { n = 16 }));
        var after = await ReadAsync(resumed, 12);

        var all = received.Concat(after).Select(e => e.Data.GetProperty("metadata").GetProperty("n").GetInt32()).ToList();
        Assert.Equal(Enumerable.Range(1, 16), all);
        var ids = new[] { id0 }.Concat(received.Concat(after).Select(e => e.Id)).Select(ulong.Parse).ToList();
        Assert.Equal(ids.Order(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        // Nothing more than what was sent: the next thing on the stream is a heartbeat, not a repeat.
        await resumed.WaitCommentsAsync(resumed.Comments + 2, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Heartbeats_keep_an_idle_stream_open()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:HeartbeatInterval=00:00:00.200");
        await using var client = await StreamClient.ConnectAsync(runtime.JobsHttp);

        await client.WaitCommentsAsync(5, TimeSpan.FromSeconds(10));

        await PostOkAsync(runtime.JobsHttp, Event("beat", "j", "started", T0));
        Assert.Equal(Id("beat", "j"), (await client.NextAsync()).Data.GetProperty("entity_id").GetString());
    }

    [Fact]
    public async Task A_client_that_missed_more_than_the_buffer_holds_resumes_from_storage_without_gaps()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:StreamBuffer=16", "--Aperture:Jobs:FlushInterval=00:00:00.100");
        var http = runtime.JobsHttp;
        await using (var first = await StreamClient.ConnectAsync(http))
        {
            await PostOkAsync(http, Events("deep", 0, 1));
            var (lastSeen, _) = await first.NextAsync();
            await first.DisposeAsync();

            for (var b = 0; b < 4; b++)
            {
                await PostOkAsync(http, Events("deep", 1 + (b * 25), 25));
            }

            await using var resumed = await StreamClient.ConnectAsync(http, lastSeen);
            var missed = await ReadAsync(resumed, 100);
            Assert.Equal(Enumerable.Range(1, 100), missed.Select(e => e.Data.GetProperty("metadata").GetProperty("n").GetInt32()));
            var ids = missed.Select(e => ulong.Parse(e.Id)).ToList();
            Assert.Equal(ids.Order(), ids);
            Assert.Equal(100, ids.Distinct().Count());
        }
    }

    [Fact]
    public async Task A_subscriber_that_falls_behind_is_disconnected_and_the_ingest_goes_on()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync(Hosting.RuntimeOptions.AggregatorRole, "--Aperture:Jobs:SubscriberQueue=4");
        var http = runtime.JobsHttp;
        // A client that never reads: its socket buffers fill, then its queue of 4.
        await using var stalled = await StreamClient.ConnectAsync(http);
        var metadata = new string('x', 8000);
        for (var b = 0; b < 40; b++)
        {
            var batch = new JsonArray();
            for (var i = 0; i < 50; i++)
            {
                batch.Add(Event("slow", $"j{b}-{i}", "started", T0, metadata: new { pad = metadata }));
            }

            await PostOkAsync(http, batch);
        }

        Assert.Equal(2000, (await ItemsAsync(http, "/v1/jobs?app_name=slow&limit=5000")).Count);
        var metrics = await http.GetStringAsync("/metrics", TestContext.Current.CancellationToken);
        var dropped = metrics.Split('\n').Single(l => l.StartsWith("aperture_jobs_stream_dropped_total ", StringComparison.Ordinal));
        Assert.True(double.Parse(dropped.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture) >= 1, dropped);
    }
}
