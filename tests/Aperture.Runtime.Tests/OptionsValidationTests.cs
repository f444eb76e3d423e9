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
    public async Task A_bad_setting_stops_the_start_with_a_message_naming_it(string name, string value, string key)
    {
        await using var app = RuntimeApplication.Build([name, value, "--http-port", "0", "--grpc-port", "0", "--jobs-port", "0"]);

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync(Cancel));

        Assert.Contains(key, string.Join("\n", error.Failures), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_executable_exits_with_code_2_and_names_the_setting()
    {
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "aperture-runtime.dll"), "--role", "sideways", "--http-port", "0", "--grpc-port", "0", "--jobs-port", "0" },
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        };
        using var process = Process.Start(info)!;
        var stderr = await process.StandardError.ReadToEndAsync(Cancel);
        await process.WaitForExitAsync(Cancel);

        Assert.Equal(2, process.ExitCode);
        Assert.Contains("Aperture:Role must be 'aggregator' or 'central', not 'sideways'", stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", stderr, StringComparison.Ordinal);
    }
}
