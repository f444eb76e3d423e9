using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Access;
using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Identity;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 11's figures: what the access layer adds to one request (a runtime JWT; an API key at a Site, answered
/// from its cache of the central runtime's answer), and profiling ingest with an ingestion key against the admin token.
/// </summary>
public static class AuthenticationBenchmark
{
    private const string AdminToken = "bench-admin-token";
    private const int Calls = 200_000;
    private const int Rounds = 5;
    private const int BatchesPerRound = 1000;
    private const int EventsPerBatch = 1000;
    private const int Pushers = 4;

    public static async Task RunAsync()
    {
        Console.WriteLine($"## authentication: {Calls:N0} authentications per credential in this process; ingest of {BatchesPerRound * EventsPerBatch:N0} samples per round, {Rounds} rounds per credential, {Pushers} pushers");
        await using var central = await RuntimeUnderTest.StartAsync("--role", "central", $"--Aperture:AuthToken={AdminToken}");
        var key = await IngestionKeyAsync(central);

        await PerRequestAsync(central, key);
        await IngestAsync(central, key);
    }

    private static async Task<string> IngestionKeyAsync(RuntimeUnderTest central)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/apikeys")
        {
            Content = JsonContent.Create(new { name = "bench ingestion", scope = "ingestion", rate_limit_rps = 1_000_000 }),
        };
        request.Headers.Authorization = new("Bearer", AdminToken);
        using var response = await central.Http.SendAsync(request);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return body.GetProperty("api_key").GetString() ?? throw new InvalidOperationException($"no key: {body}");
    }

    private static async Task PerRequestAsync(RuntimeUnderTest central, string key)
    {
        var time = TimeProvider.System;
        var tokenOptions = Options.Create(new TokenOptions());
        var keys = new RuntimeSigningKeys(tokenOptions, time, NullLogger<RuntimeSigningKeys>.Instance);
        using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        using var validator = new TokenValidator(tokenOptions, keys, time, services.GetRequiredService<IHttpClientFactory>(), NullLogger<TokenValidator>.Instance);
        var jwt = new RuntimeTokenIssuer(keys, tokenOptions, time).Issue("default", "bench@example.com", Role.Viewer, TimeSpan.FromHours(1));
        using var centralKeys = new CentralApiKeySource(
            Options.Create(new IdentityOptions { CentralUrl = $"http://127.0.0.1:{central.HttpPort}", KeyCacheTtl = TimeSpan.FromSeconds(30) }), time);
        var admin = new AdminTokenSource(new AuthTokenOptions { Token = AdminToken });
        // The order a Site's runtime asks its sources in.
        var site = new RequestAuthenticator([admin, new JwtSource(validator, tokenOptions, time), centralKeys]);

        // A token's first use checks its signature; the JWT source then remembers it (at most 60 s, never past exp).
        var uncached = new double[Calls / 10];
        for (var i = 0; i < uncached.Length; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var outcome = await validator.ValidateAsync(jwt, CancellationToken.None);
            uncached[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            if (outcome.Principal is null)
            {
                throw new InvalidOperationException($"the JWT was refused: {outcome.Failure}");
            }
        }

        Array.Sort(uncached);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{"runtime JWT, signature check",-28} p50 {uncached[uncached.Length / 2],7:0.00} µs  p99 {uncached[uncached.Length * 99 / 100],7:0.00} µs  (a token's first request)"));

        foreach (var (name, credential) in new[] { ("admin token", AdminToken), ("runtime JWT (remembered)", jwt), ("API key at a Site (cached)", key) })
        {
            var context = new DefaultHttpContext();
            context.Request.Headers.Authorization = $"Bearer {credential}";
            var first = await site.AuthenticateAsync(context);
            if (first.Principal is null)
            {
                throw new InvalidOperationException($"{name} refused: {first.Reason}");
            }

            var samples = new double[Calls];
            for (var i = 0; i < Calls; i++)
            {
                var started = Stopwatch.GetTimestamp();
                var outcome = await site.AuthenticateAsync(context);
                samples[i] = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
                if (outcome.Principal is null)
                {
                    throw new InvalidOperationException($"{name} refused at call {i}");
                }
            }

            Array.Sort(samples);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{name,-28} p50 {samples[Calls / 2],7:0.00} µs  p99 {samples[Calls * 99 / 100],7:0.00} µs  (target p50 < 50 µs)"));
        }
    }

    private static async Task IngestAsync(RuntimeUnderTest central, string key)
    {
        await using var site = await RuntimeUnderTest.StartAsync(
            $"--Aperture:AuthToken={AdminToken}", $"--Aperture:Identity:CentralUrl=http://127.0.0.1:{central.HttpPort}",
            "--Aperture:Identity:KeyCacheTtl=00:00:30", "--Aperture:Profiling:BufferCapacity=100000");
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{site.GrpcPort}");
        var client = new Aggregator.AggregatorClient(channel);
        var template = Batch("warmup", 0);
        for (var w = 0; w < 1000; w++)
        {
            template.Sequence = (ulong)w;
            await client.PushAsync(template, Headers(w % 2 == 0 ? AdminToken : key));
        }

        // Rounds in pairs, the order swapped every pair (A B, B A, …) so that drift (merges, the JIT) falls on both;
        // the figure is the median of the pairs' ratios.
        var rates = new Dictionary<string, List<double>> { ["admin token"] = [], ["ingestion key"] = [] };
        var ratios = new List<double>();
        for (var round = 0; round < Rounds; round++)
        {
            var pair = new[] { ("admin token", AdminToken), ("ingestion key", key) };
            if (round % 2 == 1)
            {
                Array.Reverse(pair);
            }

            foreach (var (name, credential) in pair)
            {
                var agent = $"bench-{name.Replace(' ', '-')}-{round}";
                var batches = Enumerable.Range(0, BatchesPerRound).Select(i => Batch(agent, (ulong)i)).ToArray();
                var started = Stopwatch.GetTimestamp();
                await Parallel.ForEachAsync(Enumerable.Range(0, Pushers), async (p, token) =>
                {
                    for (var i = p; i < batches.Length; i += Pushers)
                    {
                        var response = await client.PushAsync(batches[i], Headers(credential), cancellationToken: token);
                        if (!response.Accepted)
                        {
                            throw new InvalidOperationException(response.Error);
                        }
                    }
                });
                rates[name].Add(BatchesPerRound * EventsPerBatch / Stopwatch.GetElapsedTime(started).TotalSeconds);
                // The writer's flushes of this round settle before the next one is timed.
                await Task.Delay(5000);
            }

            ratios.Add(rates["ingestion key"][^1] / rates["admin token"][^1]);
        }

        string RoundsOf(string name) => string.Join(" / ", rates[name].Select(r => r.ToString("N0", CultureInfo.InvariantCulture)));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ingest accepted, admin token   {Median(rates["admin token"]),10:N0} samples/s (rounds {RoundsOf("admin token")})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ingest accepted, ingestion key {Median(rates["ingestion key"]),10:N0} samples/s (rounds {RoundsOf("ingestion key")})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"ratio ingestion key / admin token: {Median(ratios):0.000} median of pairs ({string.Join(" / ", ratios.Select(r => r.ToString("0.000", CultureInfo.InvariantCulture)))}) (target >= 0.95)"));
    }

    private static Metadata Headers(string credential) => new() { { "authorization", $"Bearer {credential}" } };

    private static double Median(List<double> values) => values.Order().ElementAt(values.Count / 2);

    private static PushRequest Batch(string agent, ulong sequence)
    {
        var request = new PushRequest { AgentId = agent, Sequence = sequence, SamplePeriodNs = 10_101_010 };
        request.Strings.AddRange(["", "main", "work", "app"]);
        for (var s = 0; s < 50; s++)
        {
            var stack = new Stack();
            for (var f = 0; f < 12; f++)
            {
                stack.Frames.Add(new Frame { Ip = (ulong)(0x400000 + (s * 64) + f), FunctionIndex = (uint)(1 + (f % 2)), ModuleIndex = 3 });
            }

            request.Stacks.Add(stack);
        }

        var start = (ulong)((TimeProvider.System.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100);
        for (var i = 0; i < EventsPerBatch; i++)
        {
            request.Events.Add(new Event { Type = EventType.Cpu, TimestampNs = start + (ulong)i, Count = 1, StackIndex = (uint)(i % 50), Pid = 42, Tid = 7 });
        }

        return request;
    }
}
