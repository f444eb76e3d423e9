using System.Globalization;
using Aperture.Testing;

namespace Aperture.Benchmarks;

/// <summary>Embedded ClickHouse, redis-server and aperture-runtime as child processes, as 'make run' has them.</summary>
public sealed class RuntimeUnderTest : IAsyncDisposable
{
    private readonly TemporaryDirectory _data = new("aperture-bench-runtime");
    private ServerProcess? _runtime;

    public ClickHouseEndpointServer ClickHouse { get; private set; } = null!;

    public RedisServer Redis { get; private set; } = null!;

    public int HttpPort { get; } = FreePort.Next();

    public int GrpcPort { get; } = FreePort.Next();

    public int JobsPort { get; } = FreePort.Next();

    public int WebhookPort { get; } = FreePort.Next();

    public HttpClient Http { get; private set; } = null!;

    public static async Task<RuntimeUnderTest> StartAsync(params string[] extraArgs)
    {
        var runtime = new RuntimeUnderTest();
        runtime.ClickHouse = await ClickHouseEndpointServer.StartAsync(Path.Combine(runtime._data.Path, "clickhouse"));
        runtime.Redis = await RedisServer.StartAsync();
        string[] args =
        [
            Path.Combine(AppContext.BaseDirectory, "aperture-runtime.dll"),
            "--http-port", runtime.HttpPort.ToString(CultureInfo.InvariantCulture),
            "--grpc-port", runtime.GrpcPort.ToString(CultureInfo.InvariantCulture),
            "--jobs-port", runtime.JobsPort.ToString(CultureInfo.InvariantCulture),
            "--webhook-port", runtime.WebhookPort.ToString(CultureInfo.InvariantCulture),
            "--clickhouse", runtime.ClickHouse.ConnectionString,
            "--redis", runtime.Redis.ConnectionString,
            "--Logging:LogLevel:Default=Warning",
            .. extraArgs,
        ];
        (runtime._runtime, _) = await ServerProcess.StartAsync("dotnet", args, isReadyLine: null, TimeSpan.FromSeconds(60));
        runtime.Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{runtime.HttpPort}/"), Timeout = TimeSpan.FromMinutes(2) };
        for (var i = 0; i < 600; i++)
        {
            try
            {
                using var ready = await runtime.Http.GetAsync("/readyz");
                if (ready.IsSuccessStatusCode)
                {
                    return runtime;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new InvalidOperationException($"runtime not ready:\n{runtime._runtime.Output}");
    }

    public int RuntimeProcessId => _runtime!.ProcessId;

    public string RuntimeOutput => _runtime?.Output ?? string.Empty;

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        if (_runtime is not null)
        {
            await _runtime.DisposeAsync();
        }

        await ClickHouse.DisposeAsync();
        await Redis.DisposeAsync();
        _data.Dispose();
    }
}
