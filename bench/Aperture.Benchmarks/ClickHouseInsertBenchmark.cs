using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using Aperture.EmbeddedClickHouse.Native;
using Aperture.Testing;
using ClickHouse.Driver;

namespace Aperture.Benchmarks;

/// <summary>
/// Issue 2's figure: rows/s of a binary insert through the embedded endpoint against the same
/// RowBinary bytes given to the chdb library in this process. Their ratio is the endpoint's
/// overhead (HTTP, the request pipeline, the process boundary).
/// </summary>
public static class ClickHouseInsertBenchmark
{
    private const int Runs = 5;

    public static async Task RunAsync(int rows)
    {
        var sample = new SampleRows(rows);
        var rowBinary = sample.ToRowBinary();
        Console.WriteLine($"## clickhouse-insert: {rows:N0} rows, {rowBinary.Length / 1048576.0:F1} MiB RowBinary, median of {Runs} runs");

        double endpointRaw, endpointDriver;
        using (var data = new TemporaryDirectory("aperture-bench"))
        {
            await using var server = await ClickHouseEndpointServer.StartAsync(data.Path);
            using var http = new HttpClient { BaseAddress = server.Url, Timeout = TimeSpan.FromMinutes(5) };
            await ExecuteAsync(http, $"CREATE TABLE bench {SampleRows.TableDefinition}");

            Task Truncate() => ExecuteAsync(http, "TRUNCATE TABLE bench");
            async Task<ulong> CountRows() => ulong.Parse(await http.GetStringAsync("/?query=SELECT%20count()%20FROM%20bench"), CultureInfo.InvariantCulture);
            endpointRaw = await MedianRateAsync(rows, Truncate, async () =>
            {
                using var content = new ByteArrayContent(rowBinary);
                content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                using var response = await http.PostAsync("/?query=INSERT%20INTO%20bench%20FORMAT%20RowBinary", content);
                response.EnsureSuccessStatusCode();
            }, CountRows);

            using var client = new ClickHouseClient(server.ConnectionString);
            endpointDriver = await MedianRateAsync(rows, Truncate, async () =>
            {
                var written = await client.InsertBinaryAsync("bench", SampleRows.Columns, sample.AsObjects(),
                    new InsertOptions { BatchSize = 250_000, MaxDegreeOfParallelism = 1, Compressor = null });
                if (written != rows)
                {
                    throw new InvalidOperationException($"driver wrote {written} rows, not {rows}");
                }
            }, CountRows);
        }

        double direct;
        using (var data = new TemporaryDirectory("aperture-bench-direct"))
        {
            var library = FindChdbLibrary();
            using var engine = ChdbEngine.Start(library, data.Path);
            using var connection = engine.Connect([]);
            connection.Query($"CREATE TABLE bench {SampleRows.TableDefinition}", "TabSeparated", []).Dispose();
            direct = await MedianRateAsync(
                rows,
                () =>
                {
                    connection.Query("TRUNCATE TABLE bench", "TabSeparated", []).Dispose();
                    return Task.CompletedTask;
                },
                () =>
                {
                    using var insert = connection.BeginInsert("INSERT INTO bench", "RowBinary", []);
                    for (var offset = 0; offset < rowBinary.Length; offset += 1 << 20)
                    {
                        insert.Append(rowBinary.AsSpan(offset, Math.Min(1 << 20, rowBinary.Length - offset)));
                    }

                    insert.Complete().Dispose();
                    return Task.CompletedTask;
                },
                () => Task.FromResult(Count(connection)));
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"endpoint, RowBinary POST     {endpointRaw,14:N0} rows/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"endpoint, ClickHouse.Driver  {endpointDriver,14:N0} rows/s  (InsertBinaryAsync, object[] rows, no compression)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"chdb in-process, same bytes  {direct,14:N0} rows/s"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio endpoint/direct        {endpointRaw / direct,14:F3}  (target >= 0.8)"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ratio driver/direct          {endpointDriver / direct,14:F3}"));
    }

    private static string FindChdbLibrary() =>
        Aperture.EmbeddedClickHouse.EndpointOptions.FindLibrary(AppContext.BaseDirectory)
        ?? throw new InvalidOperationException("no .deps/chdb/libchdb.so (run 'make deps')");

    private static ulong Count(ChdbConnection connection)
    {
        using var result = connection.Query("SELECT count() FROM bench", "TabSeparated", []);
        using var reader = new StreamReader(result.OpenRead());
        return ulong.Parse(reader.ReadToEnd().Trim(), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(HttpClient http, string sql)
    {
        using var content = new StringContent(sql);
        using var response = await http.PostAsync("/", content);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Times <paramref name="insert"/> alone; <paramref name="prepare"/> empties the table before each run.</summary>
    private static async Task<double> MedianRateAsync(int rows, Func<Task> prepare, Func<Task> insert, Func<Task<ulong>> count)
    {
        var rates = new List<double>();
        for (var run = 0; run < Runs + 1; run++)
        {
            await prepare();
            var stopwatch = Stopwatch.StartNew();
            await insert();
            stopwatch.Stop();
            var stored = await count();
            if (stored != (ulong)rows)
            {
                throw new InvalidOperationException($"table holds {stored} rows after inserting {rows}");
            }

            if (run > 0)
            {
                // The first run warms the JIT, the HTTP connection and the engine's caches.
                rates.Add(rows / stopwatch.Elapsed.TotalSeconds);
            }
        }

        rates.Sort();
        return rates[rates.Count / 2];
    }
}
