using System.Diagnostics;
using System.Globalization;
using Aperture.Contracts.Grpc;
using Aperture.Testing;
using ClickHouse.Driver;
using Grpc.Net.Client;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 3's ingest figure: samples/s from the first gRPC Push until every sample is queryable in
/// ClickHouse, beside the rate of inserting the same rows straight into ClickHouse with the driver.
/// </summary>
public static class ProfilingIngestBenchmark
{
    private const int EventsPerBatch = 1000;
    private const int Agents = 4;
    private const int StackPool = 2000;
    // Stacks repeat within a batch as they do in a real profile: 1000 samples fall on 200 stacks.
    private const int StacksPerBatch = 200;
    private const int Depth = 16;

    public static async Task RunAsync(int samples)
    {
        var batchCount = samples / EventsPerBatch;
        samples = batchCount * EventsPerBatch;
        Console.WriteLine($"## profiling-ingest: {samples:N0} samples in {batchCount:N0} batches of {EventsPerBatch}, {Agents} agents pushing at once, {StacksPerBatch} distinct {Depth}-frame stacks per batch from a call tree of {StackPool}, names in the batch's string table");

        var stacks = Enumerable.Range(0, StackPool).Select(MakeStack).ToArray();
        var strings = StringTable();
        var start = (TimeProvider.System.GetUtcNow() - DateTimeOffset.UnixEpoch).Ticks * 100 - 3_600_000_000_000L;
        var batches = Enumerable.Range(0, batchCount).Select(b =>
        {
            var request = new PushRequest { AgentId = $"bench-{b % Agents}", Sequence = (ulong)(b / Agents), SamplePeriodNs = 10_101_010 };
            request.Strings.AddRange(strings);
            for (var s = 0; s < StacksPerBatch; s++)
            {
                request.Stacks.Add(stacks[((b * 37) + s) % StackPool]);
            }

            for (var i = 0; i < EventsPerBatch; i++)
            {
                request.Events.Add(new Event
                {
                    Type = EventType.Cpu,
                    TimestampNs = (ulong)(start + (b * 1_000_000L) + i),
                    Count = 1,
                    StackIndex = (uint)((i * 13) % StacksPerBatch),
                    Pid = 42,
                    Tid = (uint)(i % 8),
                });
            }

            return request;
        }).ToArray();

        await using var runtime = await RuntimeUnderTest.StartAsync();
        using var clickhouse = new ClickHouseClient(runtime.ClickHouse.ConnectionString);
        using var channel = GrpcChannel.ForAddress($"http://127.0.0.1:{runtime.GrpcPort}");
        var client = new Aggregator.AggregatorClient(channel);

        // Warm up the JIT (tiered compilation settles after some thousand calls) and the connections on
        // batches of another agent, which are not measured.
        for (var w = 0; w < 1500; w++)
        {
            var warm = batches[w % batches.Length].Clone();
            warm.AgentId = "warmup";
            warm.Sequence = (ulong)w;
            await client.PushAsync(warm);
        }

        await Task.Delay(5000);
        // Rounds alternate the straight insert and the ingest, each after the other's merges had time to
        // settle, so that neither is measured against the other's background work; medians are reported.
        string[] columns = ["tenant", "agent_id", "sequence", "event_type", "ts_ns", "stack_id", "count", "value", "detail", "pid", "tid", "sample_period_ns"];
        var ingestRates = new List<double>();
        var acceptRates = new List<double>();
        var straightRates = new List<double>();
        for (var round = 1; round <= Rounds; round++)
        {
            // The straight rows go into the very table the ingest writes, under other agent ids, so that
            // both inserts meet the same parts and the same background merges.
            const string table = "aperture.profile_samples";
            var straightPrefix = $"straight{round}-";
            var rows = batches.SelectMany(b => b.Events.Select(e => new object[]
            {
                "default", straightPrefix + b.AgentId, b.Sequence, (sbyte)1, (long)e.TimestampNs, (ulong)e.StackIndex, e.Count, 0UL, string.Empty, e.Pid, e.Tid, 10_101_010L,
            })).ToList();
            var clickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId);
            var stopwatch = Stopwatch.StartNew();
            await clickhouse.InsertBinaryAsync(table, columns, rows, new InsertOptions { BatchSize = 200_000, MaxDegreeOfParallelism = 1, Compressor = null });
            var straight = stopwatch.Elapsed;
            var straightClickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId) - clickhouseCpu;
            rows.Clear();
            await Task.Delay(SettleMs);

            var prefix = $"round{round}-";
            var runtimeCpu = ProcessCpu.Used(runtime.RuntimeProcessId);
            clickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId);
            stopwatch.Restart();
            await Task.WhenAll(Enumerable.Range(0, Agents).Select(async agent =>
            {
                for (var b = agent; b < batches.Length; b += Agents)
                {
                    var batch = batches[b].Clone();
                    batch.AgentId = prefix + batch.AgentId;
                    var response = await client.PushAsync(batch);
                    while (!response.Accepted)
                    {
                        await Task.Delay((int)response.RetryAfterMs);
                        response = await client.PushAsync(batch);
                    }
                }
            }));
            var pushed = stopwatch.Elapsed;
            while (Convert.ToInt64(await clickhouse.ExecuteScalarAsync($"SELECT count() FROM aperture.profile_samples WHERE startsWith(agent_id, '{prefix}')"), CultureInfo.InvariantCulture) < samples)
            {
                await Task.Delay(20);
            }

            var endToEnd = stopwatch.Elapsed;
            runtimeCpu = ProcessCpu.Used(runtime.RuntimeProcessId) - runtimeCpu;
            clickhouseCpu = ProcessCpu.Used(runtime.ClickHouse.ProcessId) - clickhouseCpu;
            acceptRates.Add(samples / pushed.TotalSeconds);
            ingestRates.Add(samples / endToEnd.TotalSeconds);
            straightRates.Add(samples / straight.TotalSeconds);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}: ingest {ingestRates[^1],9:N0} samples/s (runtime CPU {runtimeCpu.TotalSeconds:F2} s, ClickHouse {clickhouseCpu.TotalSeconds:F2} s), " +
                $"straight {straightRates[^1],9:N0} samples/s (ClickHouse {straightClickhouseCpu.TotalSeconds:F2} s), ratio {ingestRates[^1] / straightRates[^1]:F3}"));
            await Task.Delay(SettleMs);
        }

        var ingestRate = Median(ingestRates);
        var straightRate = Median(straightRates);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"gRPC Push accepted              {Median(acceptRates),14:N0} samples/s  (median of {Rounds})"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Push until queryable in storage {ingestRate,14:N0} samples/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"straight driver insert          {straightRate,14:N0} samples/s  (InsertBinaryAsync, {200_000:N0}-row batches)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio end-to-end/straight       {ingestRate / straightRate,14:F3}  (target >= 0.7)"));
    }

    private const int Rounds = 3;
    private const int SettleMs = 4000;

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    /// <summary>
    /// Stacks are paths through a call tree, as in a real program: each depth has a dozen functions,
    /// and a stack's digits in base 12 choose one per depth, so stacks share their callers.
    /// </summary>
    private static Stack MakeStack(int index)
    {
        var stack = new Stack();
        var path = index;
        for (var depth = 0; depth < Depth; depth++)
        {
            var choice = depth == 0 ? 0 : path % FunctionsPerDepth;
            path = depth == 0 ? path : path / FunctionsPerDepth + (depth * 7);
            stack.Frames.Add(new Frame
            {
                Ip = 0x400000UL + (ulong)(depth * 4096) + (ulong)(choice * 64),
                FunctionIndex = (uint)(1 + (depth * FunctionsPerDepth) + choice),
                ModuleIndex = (uint)(1 + (Depth * FunctionsPerDepth) + (depth < 4 ? 0 : 1)),
            });
        }

        return stack;
    }

    private const int FunctionsPerDepth = 12;

    /// <summary>The names the stacks refer to; index 0 is "", as the protocol requires.</summary>
    private static string[] StringTable() =>
    [
        string.Empty,
        .. Enumerable.Range(0, Depth * FunctionsPerDepth).Select(i => i / FunctionsPerDepth == 0 ? "main" : $"service::layer{i / FunctionsPerDepth}::handler_{i % FunctionsPerDepth}"),
        "/usr/bin/app",
        "/usr/lib/libservice.so",
    ];
}
