namespace Aperture.Runtime.Tests.Profiling;

/// <summary>One aggregator shared by a test class; tests keep apart by using their own agent ids.</summary>
public sealed class AggregatorFixture : IAsyncLifetime
{
    public RuntimeEnvironment Runtime { get; private set; } = null!;

    public async ValueTask InitializeAsync() =>
        Runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            "--Aperture:Profiling:FlushInterval=00:00:00.200",
            "--Aperture:Profiling:MaxRequestBytes=1048576");

    public async ValueTask DisposeAsync() => await Runtime.DisposeAsync();
}
