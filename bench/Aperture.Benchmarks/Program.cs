using Aperture.Benchmarks;

// Each harness prints its figures; 'all' runs every one. Usage: Aperture.Benchmarks [all|clickhouse-insert|profiling-ingest|aggregate-latency|servers-history|jobs-ingest|operator|agent-overhead|authentication|detector|rca|watchdog-intake] [rows]
var which = args.Length > 0 ? args[0] : "all";
var rows = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
Console.WriteLine($"# Aperture benchmarks on {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
switch (which)
{
    case "all":
        await ClickHouseInsertBenchmark.RunAsync(rows);
        // Three million samples, so that the last flush interval is a small part of the figure.
        await ProfilingIngestBenchmark.RunAsync(args.Length > 1 ? rows : 3_000_000);
        await AggregateLatencyBenchmark.RunAsync(10_000_000);
        await ServersHistoryBenchmark.RunAsync(7);
        await OperatorConvergenceBenchmark.RunAsync(1000, TimeSpan.FromSeconds(60));
        await JobsIngestBenchmark.RunAsync(JobsIngestBenchmark.DefaultEvents);
        await AgentOverheadBenchmark.RunAsync(60);
        await AuthenticationBenchmark.RunAsync();
        await DetectorBenchmark.RunAsync(5_000_000);
        await RcaBenchmark.RunAsync(50);
        await WatchdogIntakeBenchmark.RunAsync(2000);
        break;
    case "detector":
        // The optional argument is the number of points of the throughput run.
        await DetectorBenchmark.RunAsync(args.Length > 1 ? rows : 5_000_000);
        break;
    case "rca":
        // The optional argument is the number of services.
        await RcaBenchmark.RunAsync(args.Length > 1 ? rows : 50);
        break;
    case "watchdog-intake":
        // The optional argument is the number of webhook notifications per kind.
        await WatchdogIntakeBenchmark.RunAsync(args.Length > 1 ? rows : 2000);
        break;
    case "authentication":
        await AuthenticationBenchmark.RunAsync();
        break;
    case "agent-overhead":
        // The optional argument is the measuring window in seconds (60 by default).
        await AgentOverheadBenchmark.RunAsync(args.Length > 1 ? rows : 60);
        break;
    case "jobs-ingest":
        await JobsIngestBenchmark.RunAsync(args.Length > 1 ? rows : JobsIngestBenchmark.DefaultEvents);
        break;
    case "operator":
        await OperatorConvergenceBenchmark.RunAsync(args.Length > 1 ? rows : 1000, TimeSpan.FromSeconds(60));
        break;
    case "clickhouse-insert":
        await ClickHouseInsertBenchmark.RunAsync(rows);
        break;
    case "profiling-ingest":
        await ProfilingIngestBenchmark.RunAsync(rows);
        break;
    case "aggregate-latency":
        await AggregateLatencyBenchmark.RunAsync(args.Length > 1 ? rows : 10_000_000);
        break;
    case "servers-history":
        // The optional argument is the number of days of 2-second samples (7 by default).
        await ServersHistoryBenchmark.RunAsync(args.Length > 1 ? rows : 7);
        break;
    default:
        await Console.Error.WriteLineAsync($"unknown benchmark '{which}'");
        return 2;
}

return 0;
