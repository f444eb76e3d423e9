using System.Globalization;

namespace Aperture.EmbeddedClickHouse;

/// <summary>Command-line settings of the endpoint; every one is checked before anything starts.</summary>
public sealed record EndpointOptions
{
    public required string DataPath { get; init; }

    public string Host { get; init; } = "127.0.0.1";

    /// <summary>0 picks a free port; the chosen one is printed on standard output.</summary>
    public int Port { get; init; } = 8123;

    public required string LibraryPath { get; init; }

    /// <summary>Requests past this many running at once get ClickHouse's TOO_MANY_SIMULTANEOUS_QUERIES.</summary>
    public int MaxConcurrentQueries { get; init; } = 64;

    /// <summary>The largest query text (URL query plus body, when the body is not INSERT data).</summary>
    public int MaxQueryBytes { get; init; } = 16 * 1024 * 1024;

    public const string Usage =
        "usage: aperture-clickhouse --path DIR [--host 127.0.0.1] [--port 8123] [--chdb-library FILE] " +
        "[--max-concurrent-queries 64] [--max-query-bytes 16777216]";

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> naming the bad argument.</summary>
    public static EndpointOptions Parse(IReadOnlyList<string> args)
    {
        string? path = null;
        string? library = Environment.GetEnvironmentVariable("APERTURE_CHDB_LIBRARY");
        var host = "127.0.0.1";
        var port = 8123;
        var maxConcurrent = 64;
        var maxQueryBytes = 16 * 1024 * 1024;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{name} needs a value");
            switch (name)
            {
                case "--path": path = Value(); break;
                case "--host": host = Value(); break;
                case "--port": port = ParseInt(name, Value(), 0, 65535); break;
                case "--chdb-library": library = Value(); break;
                case "--max-concurrent-queries": maxConcurrent = ParseInt(name, Value(), 1, 10_000); break;
                case "--max-query-bytes": maxQueryBytes = ParseInt(name, Value(), 1024, int.MaxValue); break;
                default: throw new ArgumentException($"unknown argument '{name}'");
            }
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException("--path is required: the directory that keeps the data");
        }

        library ??= FindLibrary(AppContext.BaseDirectory)
            ?? throw new ArgumentException("--chdb-library not given, APERTURE_CHDB_LIBRARY not set, and no .deps/chdb/libchdb.so above this program (run 'make deps')");

        return new EndpointOptions
        {
            DataPath = path,
            Host = host,
            Port = port,
            LibraryPath = library,
            MaxConcurrentQueries = maxConcurrent,
            MaxQueryBytes = maxQueryBytes,
        };
    }

    private static int ParseInt(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) && parsed >= min && parsed <= max
            ? parsed
            : throw new ArgumentException($"{name} must be an integer from {min} to {max}, not '{value}'");

    /// <summary>Walks up from <paramref name="start"/> looking for the library that 'make deps' unpacks.</summary>
    public static string? FindLibrary(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, ".deps", "chdb", "libchdb.so");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }
}
