using System.Diagnostics;
using System.Globalization;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Memory;
using Aperture.Storage;
using Aperture.Testing;
using ClickHouse.Driver;
using ClickHouse.Driver.Utility;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SentenceTransformers;

namespace Aperture.Runtime.Tests.Watchdog.Memory;

/// <summary>One ClickHouse with the incident memory's table, and the real model loaded once, for the test class.</summary>
public sealed class IncidentMemoryFixture : IAsyncLifetime
{
    public const string Database = "incident_memory";

    private readonly TemporaryDirectory _data = new("aperture-incident-memory");
    private ClickHouseEndpointServer _server = null!;

    public ClickHouseClient Client { get; private set; } = null!;

    public IncidentVectorizer Vectorizer { get; } = new(NullLogger<IncidentVectorizer>.Instance);

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 30, 9, 0, 0, TimeSpan.Zero));

    public IncidentMemoryStore Store => new(Client, Database, Time);

    public async ValueTask InitializeAsync()
    {
        Vectorizer.Start();
        _server = await ClickHouseEndpointServer.StartAsync(_data.Path);
        Client = new ClickHouseClient(_server.ConnectionString);
        await new SchemaMigrator(Client, Database, NullLogger<SchemaMigrator>.Instance).ApplyAsync(IncidentMemorySchema.Migrations, TestContext.Current.CancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        Vectorizer.Dispose();
        Client.Dispose();
        await _server.DisposeAsync();
        _data.Dispose();
    }

    public IncidentMemory Memory(IncidentMemoryOptions? options = null) =>
        new(Vectorizer, Store, new StaticOptionsMonitor(options ?? new IncidentMemoryOptions()));

    private sealed class StaticOptionsMonitor(IncidentMemoryOptions value) : IOptionsMonitor<IncidentMemoryOptions>
    {
        public IncidentMemoryOptions CurrentValue => value;

        public IncidentMemoryOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<IncidentMemoryOptions, string?> listener) => null;
    }
}

public sealed class IncidentMemoryTests(IncidentMemoryFixture fixture) : IClassFixture<IncidentMemoryFixture>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private const string MemoryLeak =
        "Scaled payment-api from 3 to 5 pods. Root cause was memory leak in the DB connection pool: connections were checked out " +
        "and never returned, so memory grew until the pods were OOM-killed. Fixed pool disposal in v2.3.1.";

    private const string TlsExpired =
        "Renewed the expired TLS certificate on the payment-api ingress; clients were failing the TLS handshake with certificate has expired errors.";

    private const string BadDeploy =
        "Rolled back the deploy of payment-api 2.4.0: a bad config flag (enable_new_router=true) sent requests to a missing backend and returned 502s.";

    private const string RewordedLeak = "payment-api pods OOM-killed, connections to the database piling up and never released";

    private static readonly string[] Unrelated =
    [
        "The quarterly sales report is due on Friday",
        "checkout-web CPU usage 95% after a traffic spike from a marketing campaign",
        "disk full on the logging node: /var/log filled by verbose debug logs",
    ];

    private static ResolutionRecord Record(string incident, string resolution, params string[] tags) =>
        new ResolutionWebhookJson(incident, "payment-api", resolution, "alice@mycompany.com", 18, tags).ToRecord();

    private static void Log(string line) => TestContext.Current.TestOutputHelper?.WriteLine(line);

    private static double Cosine(float[] a, float[] b) => a.Zip(b).Sum(p => (double)p.First * p.Second);

    [Fact]
    public async Task The_vectorizer_embeds_in_384_unit_dimensions_and_a_paraphrase_scores_above_unrelated_text()
    {
        var leak = await fixture.Vectorizer.EmbedAsync(MemoryLeak, Cancel);
        var reworded = await fixture.Vectorizer.EmbedAsync(RewordedLeak, Cancel);

        Assert.Equal("running", fixture.Vectorizer.State);
        Assert.Equal(IncidentVectorizer.Dimensions, leak.Length);
        Assert.Equal(1.0, Math.Sqrt(leak.Sum(x => (double)x * x)), 5);
        var paraphrase = Cosine(leak, reworded);
        Log($"paraphrase {paraphrase:0.000}");
        foreach (var text in Unrelated)
        {
            var unrelated = Cosine(leak, await fixture.Vectorizer.EmbedAsync(text, Cancel));
            Log($"unrelated {unrelated:0.000}: {text}");
            Assert.True(paraphrase > unrelated + 0.3, $"paraphrase {paraphrase} vs unrelated {unrelated}");
        }
    }

    [Fact]
    public async Task Embedding_takes_milliseconds_and_a_long_text_is_cut_at_the_cap()
    {
        var text = "Anomaly on payment-api: memory_used_bytes rose from 2.1 GiB to 7.8 GiB in 20 minutes (z-score 6.2). " +
            "Probable cause: database connections leaking, pods restarted by the OOM killer.";
        await fixture.Vectorizer.EmbedAsync(text, Cancel);
        var started = Stopwatch.GetTimestamp();
        for (var i = 0; i < 20; i++)
        {
            await fixture.Vectorizer.EmbedAsync(text, Cancel);
        }

        var perText = Stopwatch.GetElapsedTime(started).TotalMilliseconds / 20;
        Log(string.Create(CultureInfo.InvariantCulture, $"{perText:0.0} ms per {text.Length}-character text"));
        // Generous: CI runs test projects side by side on two cores.
        Assert.True(perText < 500, $"{perText} ms per text");

        var longText = string.Concat(Enumerable.Repeat(text + " ", 60));
        started = Stopwatch.GetTimestamp();
        var cut = await fixture.Vectorizer.EmbedAsync(longText, Cancel);
        Log(string.Create(CultureInfo.InvariantCulture, $"{Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.0} ms for a {longText.Length}-character text"));
        Assert.Equal(await fixture.Vectorizer.EmbedAsync(longText[..IncidentVectorizer.MaxTextLength], Cancel), cut);
    }

    [Fact]
    public async Task Concurrent_callers_get_the_same_embedding_as_one_at_a_time()
    {
        var alone = await fixture.Vectorizer.EmbedAsync(TlsExpired, Cancel);

        var together = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => fixture.Vectorizer.EmbedAsync(TlsExpired, Cancel), Cancel)));

        Assert.All(together, e => Assert.Equal(alone, e));
    }

    [Fact]
    public async Task A_model_that_fails_to_load_reports_failed_and_embedding_answers_unavailable()
    {
        using var vectorizer = new IncidentVectorizer(() => throw new DllNotFoundException("onnxruntime"), NullLogger<IncidentVectorizer>.Instance);
        Assert.Equal("loading", vectorizer.State);

        var e = await Assert.ThrowsAsync<VectorizerUnavailableException>(() => vectorizer.EmbedAsync("x", Cancel));

        Assert.Equal("failed: DllNotFoundException: onnxruntime", vectorizer.State);
        Assert.Contains("failed: DllNotFoundException", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Embedding_waits_for_a_model_still_loading()
    {
        var release = new TaskCompletionSource();
        using var vectorizer = new IncidentVectorizer(
            () =>
            {
                release.Task.WaitAsync(TimeSpan.FromSeconds(30)).GetAwaiter().GetResult();
                return new FixedEncoder();
            },
            NullLogger<IncidentVectorizer>.Instance);
        vectorizer.Start();

        var embedding = vectorizer.EmbedAsync("x", Cancel);
        await Task.Delay(100, Cancel);
        Assert.False(embedding.IsCompleted);
        Assert.Equal("loading", vectorizer.State);
        release.SetResult();

        Assert.Equal(1f, (await embedding)[0]);
        Assert.Equal("running", vectorizer.State);
    }

    [Fact]
    public async Task A_stored_resolution_is_recalled_first_for_a_reworded_cause_on_the_same_service()
    {
        var tenant = NewTenant();
        var memory = fixture.Memory();
        var leakId = await memory.RememberAsync(tenant, Record("anom-7f3d", MemoryLeak, "memory-leak", "db-pool"), Cancel);
        await memory.RememberAsync(tenant, Record("anom-1a2b", TlsExpired, "tls", "certificate"), Cancel);
        await memory.RememberAsync(tenant, Record("anom-9c8d", BadDeploy, "bad-deploy", "config"), Cancel);

        var recalled = await memory.RecallAsync(tenant, "payment-api", RewordedLeak, null, Cancel);

        Log(string.Join("; ", recalled.Select(r => $"{r.IncidentId} {r.Score:0.000}")));
        Assert.Matches("^kb-[0-9a-f]{16}$", leakId);
        var first = Assert.Single(recalled);
        Assert.Equal(leakId, first.KnowledgeBaseId);
        Assert.Equal("anom-7f3d", first.IncidentId);
        Assert.Equal("payment-api", first.ServiceId);
        Assert.Equal(MemoryLeak, first.Resolution);
        Assert.Equal(["memory-leak", "db-pool"], first.Tags);
        Assert.True(first.Score >= new IncidentMemoryOptions().MinScore, $"score {first.Score}");

        // Below the threshold, all three are listed by score: the leak first, the others well under it.
        var all = await fixture.Store.FindSimilarAsync(tenant, "payment-api", await fixture.Vectorizer.EmbedAsync(RewordedLeak, Cancel), 10, -1, 0, Cancel);
        Log(string.Join("; ", all.Select(r => $"{r.IncidentId} {r.Score:0.000}")));
        Assert.Equal("anom-7f3d", all[0].IncidentId);
        Assert.Equal(["anom-1a2b", "anom-9c8d"], all.Skip(1).Select(r => r.IncidentId).Order(StringComparer.Ordinal));
        Assert.All(all.Skip(1), r => Assert.True(r.Score < new IncidentMemoryOptions().MinScore - 0.05, $"{r.IncidentId} {r.Score}"));
        Assert.Equal(all.OrderByDescending(r => r.Score).Select(r => r.KnowledgeBaseId), all.Select(r => r.KnowledgeBaseId));
    }

    [Fact]
    public async Task Unrelated_text_recalls_nothing_and_another_tenant_sees_nothing()
    {
        var tenant = NewTenant();
        var memory = fixture.Memory();
        await memory.RememberAsync(tenant, Record("anom-7f3d", MemoryLeak, "memory-leak", "db-pool"), Cancel);
        await memory.RememberAsync(tenant, Record("anom-1a2b", TlsExpired, "tls", "certificate"), Cancel);
        await memory.RememberAsync(tenant, Record("anom-9c8d", BadDeploy, "bad-deploy", "config"), Cancel);

        foreach (var text in Unrelated.Append("payment-api latency p99 went from 120 ms to 900 ms"))
        {
            Assert.Empty(await memory.RecallAsync(tenant, "payment-api", text, null, Cancel));
        }

        Assert.Empty(await memory.RecallAsync(NewTenant(), "payment-api", RewordedLeak, null, Cancel));
        Assert.Empty(await memory.RecallAsync(NewTenant(), "payment-api", MemoryLeak, null, Cancel));
        Assert.Single(await memory.RecallAsync(tenant, "payment-api", MemoryLeak, null, Cancel));
    }

    [Fact]
    public async Task The_same_service_is_preferred_between_equals_and_a_retried_webhook_is_stored_once()
    {
        var tenant = NewTenant();
        var memory = fixture.Memory(new IncidentMemoryOptions { MaxResults = 10 });
        var here = Record("anom-0001", MemoryLeak, "memory-leak");
        var hereId = await memory.RememberAsync(tenant, here, Cancel);
        fixture.Time.Advance(TimeSpan.FromMinutes(1));
        // The same text on another service, stored later: it scores the same, and only the service tells them apart.
        var elsewhereId = await memory.RememberAsync(tenant, here with { IncidentId = "anom-0002", ServiceId = "billing-api" }, Cancel);

        Assert.Equal(hereId, await memory.RememberAsync(tenant, here, Cancel));
        var count = await fixture.Client.ExecuteScalarAsync(
            $"SELECT count() FROM {IncidentMemoryFixture.Database}.incident_resolutions WHERE tenant = '{tenant}'", cancellationToken: Cancel);
        Assert.Equal(2UL, Convert.ToUInt64(count, CultureInfo.InvariantCulture));

        var forPayment = await memory.RecallAsync(tenant, "payment-api", RewordedLeak, null, Cancel);
        Assert.Equal([hereId, elsewhereId], forPayment.Select(r => r.KnowledgeBaseId));
        Assert.Equal(forPayment[0].Score, forPayment[1].Score, 6);
        Assert.Equal([elsewhereId, hereId], (await memory.RecallAsync(tenant, "billing-api", RewordedLeak, null, Cancel)).Select(r => r.KnowledgeBaseId));
        // No service: the later one first.
        Assert.Equal([elsewhereId, hereId], (await memory.RecallAsync(tenant, null, RewordedLeak, null, Cancel)).Select(r => r.KnowledgeBaseId));
        Assert.Equal([hereId], (await memory.RecallAsync(tenant, "payment-api", RewordedLeak, 1, Cancel)).Select(r => r.KnowledgeBaseId));
    }

    [Fact]
    public async Task An_incident_resolved_twice_lists_once()
    {
        var tenant = NewTenant();
        var memory = fixture.Memory(new IncidentMemoryOptions { MaxResults = 10 });
        await memory.RememberAsync(tenant, Record("anom-7f3d", MemoryLeak, "memory-leak"), Cancel);
        await memory.RememberAsync(tenant, Record("anom-7f3d", "Database connections were leaking from the pool and the pods ran out of memory; fixed the pool.", "memory-leak"), Cancel);

        var recalled = await memory.RecallAsync(tenant, "payment-api", RewordedLeak, null, Cancel);

        Assert.Equal("anom-7f3d", Assert.Single(recalled).IncidentId);
    }

    [Fact]
    public async Task The_recovery_time_is_stored_and_null_when_not_given()
    {
        var tenant = NewTenant();
        await fixture.Memory().RememberAsync(tenant, new ResolutionWebhookJson(null, "payment-api", TlsExpired, null, null, null).ToRecord(), Cancel);
        await fixture.Memory().RememberAsync(tenant, Record("anom-1", BadDeploy), Cancel);

        var stored = await fixture.Client.ExecuteScalarAsync(
            $"SELECT arrayStringConcat(groupArray(ifNull(toString(time_to_recovery_minutes), 'null')), ',') FROM " +
            $"(SELECT time_to_recovery_minutes FROM {IncidentMemoryFixture.Database}.incident_resolutions WHERE tenant = '{tenant}' ORDER BY incident_id)",
            cancellationToken: Cancel);
        Assert.Equal("null,18", stored);
    }

    [Fact]
    public void The_webhook_body_is_validated_field_by_field()
    {
        var valid = new ResolutionWebhookJson(" anom-7f3d ", "payment-api", "Scaled payment-api from 3 to 5 pods.", "alice@mycompany.com", 18, ["memory-leak", "db-pool", "memory-leak"]);
        var record = valid.ToRecord();
        Assert.Equal(new ResolutionRecord("anom-7f3d", "payment-api", "Scaled payment-api from 3 to 5 pods.", "alice@mycompany.com", 18, record.Tags), record);
        Assert.Equal(["memory-leak", "db-pool"], record.Tags);
        Assert.Equal("Scaled payment-api from 3 to 5 pods. Tags: memory-leak, db-pool.", record.EmbeddingText);
        Assert.Equal(new string('s', 253), (valid with { ServiceId = new string('s', 253) }).ToRecord().ServiceId);
        Assert.Equal(8192, (valid with { Resolution = new string('r', 8192) }).ToRecord().Resolution.Length);
        Assert.Equal(0, (valid with { TimeToRecoveryMinutes = 0 }).ToRecord().TimeToRecoveryMinutes);

        Invalid("service_id", valid with { ServiceId = null });
        Invalid("service_id", valid with { ServiceId = "  " });
        Invalid("service_id", valid with { ServiceId = new string('s', 254) });
        Invalid("service_id", valid with { ServiceId = "pay\nment" });
        Invalid("resolution", valid with { Resolution = null });
        Invalid("resolution", valid with { Resolution = "" });
        Invalid("resolution", valid with { Resolution = new string('r', 8193) });
        // Counted in bytes: 4,097 two-byte characters are 8,194 bytes.
        Invalid("resolution", valid with { Resolution = new string('\u00e9', 4097) });
        Invalid("time_to_recovery_minutes", valid with { TimeToRecoveryMinutes = -1 });
        Invalid("time_to_recovery_minutes", valid with { TimeToRecoveryMinutes = double.NaN });
        Invalid("tags", valid with { Tags = [.. Enumerable.Range(0, 33).Select(i => $"t{i}")] });
        Invalid("tags", valid with { Tags = [new string('t', 65)] });
        Invalid("tags", valid with { Tags = [""] });
        Invalid("tags", valid with { Tags = [null] });
        Invalid("incident_id", valid with { IncidentId = new string('i', 254) });
        Invalid("resolved_by", valid with { ResolvedBy = new string('a', 321) });
    }

    [Fact]
    public void The_spec_example_body_reads_into_a_record()
    {
        const string body = """
            {"incident_id":"anom-7f3d","service_id":"payment-api","resolution":"Scaled payment-api from 3 to 5 pods. Root cause was memory leak ...",
             "resolved_by":"alice@mycompany.com","time_to_recovery_minutes":18,"tags":["memory-leak","db-pool"]}
            """;

        var record = System.Text.Json.JsonSerializer.Deserialize<ResolutionWebhookJson>(body, System.Text.Json.JsonSerializerOptions.Web)!.ToRecord();

        Assert.Equal(("anom-7f3d", "payment-api", "alice@mycompany.com", 18d), (record.IncidentId, record.ServiceId, record.ResolvedBy, record.TimeToRecoveryMinutes!.Value));
        Assert.Equal(["memory-leak", "db-pool"], record.Tags);
    }

    [Fact]
    public async Task The_feature_registers_the_memory_starts_the_model_and_refuses_a_threshold_above_1()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSingleton(fixture.Client);
        builder.Services.AddSingleton(Options.Create(new ClickHouseOptions { Database = IncidentMemoryFixture.Database }));
        builder.Services.AddSingleton<TimeProvider>(fixture.Time);
        builder.AddIncidentMemory();
        await using var app = builder.Build();

        foreach (var hosted in app.Services.GetServices<IHostedService>())
        {
            await hosted.StartAsync(Cancel);
        }

        var vectorizer = app.Services.GetRequiredService<IncidentVectorizer>();
        Assert.NotEqual("failed", vectorizer.State.Split(':')[0]);
        var tenant = NewTenant();
        var memory = app.Services.GetRequiredService<IncidentMemory>();
        var id = await memory.RememberAsync(tenant, Record("anom-7f3d", MemoryLeak, "memory-leak"), Cancel);
        Assert.Equal("running", vectorizer.State);
        Assert.Equal(id, Assert.Single(await memory.RecallAsync(tenant, "payment-api", RewordedLeak, null, Cancel)).KnowledgeBaseId);

        var refused = WebApplication.CreateSlimBuilder();
        refused.Configuration["Aperture:Watchdog:Memory:MinScore"] = "1.5";
        var e = Assert.Throws<OptionsValidationException>(refused.AddIncidentMemory);
        Assert.Contains("MinScore", e.Message, StringComparison.Ordinal);
    }

    private static void Invalid(string field, ResolutionWebhookJson body)
    {
        var e = Assert.Throws<InvalidRequestException>(() => body.ToRecord());
        Assert.Equal(field, e.Field);
        Assert.StartsWith(field == "tags" && !e.Message.StartsWith("tags", StringComparison.Ordinal) ? "each tag" : field, e.Message, StringComparison.Ordinal);
    }

    private static string NewTenant() => $"t{Guid.NewGuid():N}"[..12];

    private sealed class FixedEncoder : ISentenceEncoder
    {
        public float[][] Encode(string[] sentences, CancellationToken cancellationToken = default) =>
            [.. sentences.Select(_ => Enumerable.Range(0, IncidentVectorizer.Dimensions).Select(i => i == 0 ? 1f : 0f).ToArray())];

        public EncodedChunk[] ChunkAndEncode(string text, int chunkLength, int chunkOverlap, bool sequentially, int maxChunks, bool keepResultsOnlyIfPossible, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public TaggedEncodedChunk[] ChunkAndEncodeTagged(string text, Func<string, TaggedChunk> stripTags, int chunkLength, int chunkOverlap, bool sequentially, int maxChunks, bool keepResultsOnlyIfPossible, CancellationToken cancellationToken) =>
            throw new NotSupportedException();

        public List<string> ChunkText(string text, char separator, int chunkLength, int chunkOverlap, int maxChunks) =>
            throw new NotSupportedException();
    }
}
