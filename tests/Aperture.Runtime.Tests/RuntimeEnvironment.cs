using System.Globalization;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;

namespace Aperture.Runtime.Tests;

/// <summary>
/// A runtime in this process over real HTTP on loopback, with its own embedded ClickHouse
/// endpoint and redis-server as child processes that a test may stop and start again.
/// </summary>
public sealed class RuntimeEnvironment : IAsyncDisposable
{
    private readonly TemporaryDirectory _data = new("aperture-runtime");

    private RuntimeEnvironment()
    {
    }

    public ClickHouseEndpointServer ClickHouse { get; private set; } = null!;

    public RedisServer Redis { get; private set; } = null!;

    public WebApplication App { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public int HttpPort { get; private set; }

    public int GrpcPort { get; private set; }

    /// <summary>The jobs APIs' port (the site-local API in role aggregator, the central API in role central).</summary>
    public int JobsPort { get; private set; }

    /// <summary>The central role's Alertmanager webhook port.</summary>
    public int WebhookPort { get; private set; }

    /// <summary>A client of the jobs listener.</summary>
    public HttpClient JobsHttp { get; private set; } = null!;

    public string Database { get; } = "aperture_test";

    /// <summary>Every line the runtime logged (with its exception), for tests that look for what must never be logged.</summary>
    public CapturedLogs Logs { get; } = new();

    private string _role = RuntimeOptions.AggregatorRole;
    private string[] _extraArgs = [];

    public static async Task<RuntimeEnvironment> StartAsync(string role = RuntimeOptions.AggregatorRole, params string[] extraArgs)
    {
        var environment = new RuntimeEnvironment { _role = role, _extraArgs = extraArgs };
        try
        {
            await environment.StartInternalAsync(role, extraArgs);
            return environment;
        }
        catch
        {
            await environment.DisposeAsync();
            throw;
        }
    }

    public string[] Arguments(string role, params string[] extraArgs) =>
    [
        "--role", role,
        "--http-port", HttpPort.ToString(CultureInfo.InvariantCulture),
        "--grpc-port", GrpcPort.ToString(CultureInfo.InvariantCulture),
        "--jobs-port", JobsPort.ToString(CultureInfo.InvariantCulture),
        "--webhook-port", WebhookPort.ToString(CultureInfo.InvariantCulture),
        "--clickhouse", ClickHouse.ConnectionString,
        "--clickhouse-database", Database,
        "--redis", Redis.ConnectionString,
        .. extraArgs,
    ];

    private async Task StartInternalAsync(string role, string[] extraArgs)
    {
        var clickHouse = ClickHouseEndpointServer.StartAsync(Path.Combine(_data.Path, "clickhouse"));
        var redis = RedisServer.StartAsync();
        ClickHouse = await clickHouse;
        Redis = await redis;
        HttpPort = FreePort.Next();
        GrpcPort = FreePort.Next();
        JobsPort = FreePort.Next();
        WebhookPort = FreePort.Next();
        App = RuntimeApplication.Build(Arguments(role, extraArgs), Logs.AddTo);
        await App.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{HttpPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        JobsHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{JobsPort}/"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitReadyAsync();
    }

    /// <summary>Waits until /readyz answers 200 (the schema is migrated and every dependency answers).</summary>
    public async Task WaitReadyAsync()
    {
        await WaitUntilAsync(async () =>
        {
            using var response = await Http.GetAsync("/readyz");
            return response.IsSuccessStatusCode;
        }, TimeSpan.FromSeconds(60), "the runtime ready");
    }

    /// <summary>Stops the runtime and starts a new one over the same ClickHouse and Redis, as a redeploy would.</summary>
    public async Task RestartRuntimeAsync()
    {
        await StopRuntimeAsync();
        await StartRuntimeAsync();
    }

    /// <summary>Stops the runtime alone; ClickHouse and Redis stay as they are.</summary>
    public async Task StopRuntimeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }

    /// <summary>Starts a new runtime over the same ClickHouse and Redis and waits until it is ready.</summary>
    public async Task StartRuntimeAsync()
    {
        App = RuntimeApplication.Build(Arguments(_role, _extraArgs), Logs.AddTo);
        await App.StartAsync();
        await WaitReadyAsync();
    }

    /// <summary>A gRPC channel to the aggregator's gRPC port.</summary>
    public global::Grpc.Net.Client.GrpcChannel GrpcChannel() =>
        global::Grpc.Net.Client.GrpcChannel.ForAddress($"http://127.0.0.1:{GrpcPort}");

    /// <summary>Polls <paramref name="condition"/> until it holds, failing after <paramref name="timeout"/>.</summary>
    public static Task<TimeSpan> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what) =>
        Eventually.HoldsAsync(condition, timeout, what);

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        JobsHttp?.Dispose();
        if (App is not null)
        {
            await App.StopAsync();
            await App.DisposeAsync();
        }

        if (ClickHouse is not null)
        {
            await ClickHouse.DisposeAsync();
        }

        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }

        _data.Dispose();
    }
}
