using System.Diagnostics;
using Aperture.Runtime.Hosting;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Tests;

public sealed class OptionsValidationTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData("--role", "bogus", "Aperture:Role")]
    [InlineData("--clickhouse-database", "Not-A-Name", "Aperture:ClickHouse:Database")]
    [InlineData("--listen", "not-an-address", "Aperture:ListenAddress")]
    [InlineData("--redis", "", "Aperture:Redis:ConnectionString")]
    [InlineData("--Aperture:Jobs:FlushEvents", "0", "Aperture:Jobs:FlushEvents")]
    [InlineData("--Aperture:Jobs:HeartbeatInterval", "00:00:00", "Aperture:Jobs:HeartbeatInterval")]
    [InlineData("--Aperture:Jobs:QueueCapacity", "0", "Aperture:Jobs:QueueCapacity")]
    [InlineData("--Aperture:Profiling:BufferCapacity", "0", "Aperture:Profiling:BufferCapacity")]
    [InlineData("--Aperture:Profiling:BufferCapacity", "many", "Aperture:Profiling:BufferCapacity")]
    [InlineData("--Aperture:Servers:QueueCapacity", "0", "Aperture:Servers:QueueCapacity")]
    [InlineData("--http-port", "ninety", "Aperture:HttpPort")]
    public async Task A_bad_setting_stops_the_start_with_a_message_naming_it(string name, string value, string key)
    {
        // Refused while the runtime is composed (before a channel or buffer is built from the value) or at the
        // latest when it starts.
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = RuntimeApplication.Build(["--http-port", "0", "--grpc-port", "0", "--jobs-port", "0", "--webhook-port", "0", name, value]);
            await app.StartAsync(Cancel);
        });

        Assert.Contains(key, string.Join("\n", error.Failures), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--role", "sideways", "Aperture:Role must be 'aggregator' or 'central', not 'sideways'")]
    [InlineData("--Aperture:Profiling:BufferCapacity", "0", "Aperture:Profiling:BufferCapacity")]
    public async Task The_executable_exits_with_code_2_and_names_the_setting(string name, string value, string message)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "aperture-runtime.dll"), "--http-port", "0", "--grpc-port", "0", "--jobs-port", "0", "--webhook-port", "0", name, value },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(info)!;
        var stderr = await process.StandardError.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);

        Assert.Equal(2, process.ExitCode);
        Assert.Contains(message, stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
