using System.Text.RegularExpressions;

namespace Aperture.Testing;

/// <summary>
/// The embedded ClickHouse endpoint (aperture-clickhouse) run as a child process on a free
/// loopback port over a data directory; it can be stopped and started again over the same data.
/// </summary>
public sealed partial class ClickHouseEndpointServer : IAsyncDisposable
{
    private ServerProcess? _process;

    private ClickHouseEndpointServer(string dataPath) => DataPath = dataPath;

    public string DataPath { get; }

    public Uri Url { get; private set; } = new("http://127.0.0.1:0/");

    /// <summary>A ClickHouse.Driver connection string for this endpoint.</summary>
    public string ConnectionString => $"Host={Url.Host};Port={Url.Port};Protocol=http;Username=default;Password=;Database=default";

    public bool IsRunning => _process is { HasExited: false };

    public int ProcessId => _process?.ProcessId ?? throw new InvalidOperationException("not started");

    /// <summary>Arguments added to every start (e.g. a lower --max-concurrent-queries).</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    public static async Task<ClickHouseEndpointServer> StartAsync(string dataPath, int port = 0, IReadOnlyList<string>? extraArguments = null)
    {
        var server = new ClickHouseEndpointServer(dataPath) { ExtraArguments = extraArguments ?? [] };
        await server.StartAsync(port);
        return server;
    }

    /// <summary>Starts the process (again), on the port it had before when it had one.</summary>
    public async Task StartAsync(int port = 0)
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("already running");
        }

        var dll = Path.Combine(AppContext.BaseDirectory, "aperture-clickhouse.dll");
        var chosen = port != 0 ? port : Url.Port;
        var (process, ready) = await ServerProcess.StartAsync(
            "dotnet",
            [dll, "--path", DataPath, "--port", chosen.ToString(System.Globalization.CultureInfo.InvariantCulture), "--chdb-library", RepositoryLayout.ChdbLibrary, .. ExtraArguments],
            line => line.StartsWith("aperture-clickhouse ", StringComparison.Ordinal) && line.Contains(" listening on ", StringComparison.Ordinal),
            TimeSpan.FromSeconds(60));
        _process = process;
        Url = new Uri(ListeningOn().Match(ready).Groups[1].Value + "/");
    }

    public Task StopAsync() => _process?.StopAsync() ?? Task.CompletedTask;

    public Task KillAsync() => _process?.KillAsync() ?? Task.CompletedTask;

    public string Output => _process?.Output ?? string.Empty;

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }
    }

    [GeneratedRegex(@"listening on (http://\S+)")]
    private static partial Regex ListeningOn();
}
