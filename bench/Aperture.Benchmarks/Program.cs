using Aperture.Benchmarks;

// Each harness prints its figures; 'all' runs every one. Usage: Aperture.Benchmarks [all|clickhouse-insert] [rows]
var which = args.Length > 0 ? args[0] : "all";
var rows = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 1_000_000;
Console.WriteLine($"# Aperture benchmarks on {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}");
switch (which)
{
    case "all":
    case "clickhouse-insert":
        await ClickHouseInsertBenchmark.RunAsync(rows);
        break;
    default:
        await Console.Error.WriteLineAsync($"unknown benchmark '{which}'");
        return 2;
}

return 0;
