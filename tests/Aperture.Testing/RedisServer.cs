using System.Globalization;

namespace Aperture.Testing;

/// <summary>
/// Debian's redis-server as a child process on a free loopback port, without persistence unless
/// the test asks for it; it can be stopped and started again on the same port.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly TemporaryDirectory _directory = new("aperture-redis");
    private readonly bool _persistent;
    private ServerProcess? _process;

    private RedisServer(int port, bool persistent)
    {
        Port = port;
        _persistent = persistent;
    }

    public int Port { get; }

    public string ConnectionString => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    public bool IsRunning => _process is { HasExited: false };

    public static async Task<RedisServer> StartAsync(bool persistent = false)
    {
        var server = new RedisServer(FreePort.Next(), persistent);
        await server.StartAsync();
        return server;
    }

    public async Task StartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException("already running");
        }

        List<string> arguments =
        [
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1",
            "--dir", _directory.Path, "--daemonize", "no", "--protected-mode", "yes",
        ];
        arguments.AddRange(_persistent
            ? ["--appendonly", "yes", "--appendfsync", "always"]
            : ["--save", "", "--appendonly", "no"]);
        (_process, _) = await ServerProcess.StartAsync(
            RepositoryLayout.RedisServer,
            arguments,
            line => line.Contains("Ready to accept connections", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30));
    }

    public Task StopAsync() => _process?.StopAsync() ?? Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            await _process.DisposeAsync();
        }

        _directory.Dispose();
    }
}
