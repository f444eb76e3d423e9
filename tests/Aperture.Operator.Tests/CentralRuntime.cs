using System.Globalization;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;

namespace Aperture.Operator.Tests;

/// <summary>
/// A real central runtime (role central) in this process over HTTP on loopback, with its own embedded
/// ClickHouse endpoint and redis-server, guarded by an admin token. One per test class: tests keep
/// apart by tenant id. <see cref="StopAsync"/> and <see cref="StartAsync"/> take the runtime away and
/// back on the same port, over the same data, as an outage would.
/// </summary>
public sealed class CentralRuntime : IAsyncLifetime
{
    public const string AdminToken = "central-admin-token";
    private readonly TemporaryDirectory _data = new("aperture-operator-central");
    private ClickHouseEndpointServer _clickHouse = null!;
    private RedisServer _redis = null!;
    private WebApplication? _app;
    private int _httpPort;
    private int _next;

    public Uri Url { get; private set; } = null!;

    public bool IsRunning => _app is not null;

    /// <summary>A client of the central runtime, with no credential of its own.</summary>
    public HttpClient Http { get; private set; } = null!;

    /// <summary>A tenant id no other test of this runtime uses.</summary>
    public string NewTenantId(string prefix) => string.Create(CultureInfo.InvariantCulture, $"{prefix}-{Interlocked.Increment(ref _next)}");

    public async ValueTask InitializeAsync()
    {
        var clickHouse = ClickHouseEndpointServer.StartAsync(Path.Combine(_data.Path, "clickhouse"));
        var redis = RedisServer.StartAsync();
        _clickHouse = await clickHouse;
        _redis = await redis;
        _httpPort = FreePort.Next();
        Url = new Uri($"http://127.0.0.1:{_httpPort}/");
        Http = new HttpClient { BaseAddress = Url, Timeout = TimeSpan.FromSeconds(30) };
        await StartAsync();
    }

    public async Task StartAsync()
    {
        _app = RuntimeApplication.Build(
        [
            "--role", RuntimeOptions.CentralRole, "--http-port", _httpPort.ToString(CultureInfo.InvariantCulture),
            "--jobs-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--webhook-port", FreePort.Next().ToString(CultureInfo.InvariantCulture),
            "--clickhouse", _clickHouse.ConnectionString, "--clickhouse-database", "aperture_central", "--redis", _redis.ConnectionString,
            $"--Aperture:AuthToken={AdminToken}",
        ]);
        await _app.StartAsync();
        await Eventually.HoldsAsync(async () =>
        {
            try
            {
                using var response = await Http.GetAsync("/readyz");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(60), "the central runtime ready");
    }

    public async Task StopAsync()
    {
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Http?.Dispose();
        await _redis.DisposeAsync();
        await _clickHouse.DisposeAsync();
        _data.Dispose();
    }
}
