using Aperture.Testing;

namespace Aperture.EmbeddedClickHouse.Tests;

/// <summary>One endpoint process over a fresh data directory, shared by a test class.</summary>
public sealed class EndpointFixture : IAsyncLifetime
{
    private readonly TemporaryDirectory _data = new("aperture-ch");

    public ClickHouseEndpointServer Server { get; private set; } = null!;

    public async ValueTask InitializeAsync() => Server = await ClickHouseEndpointServer.StartAsync(_data.Path);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        _data.Dispose();
    }
}
