namespace Aperture.Runtime.Tests.Servers;

/// <summary>One aggregator shared by a test class; tests keep apart by using their own server slugs.</summary>
public sealed class ServersFixture : IAsyncLifetime
{
    public RuntimeEnvironment Runtime { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Servers:FlushInterval=00:00:00.100",
            "--Aperture:Servers:MaxIngestBytes=65536",
            "--Aperture:Servers:MaxHistoryPoints=100",
            "--Aperture:Servers:MaxHistoryMinutes=1440");

    public async ValueTask DisposeAsync() => await Runtime.DisposeAsync();
}
