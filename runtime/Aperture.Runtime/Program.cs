using Aperture.Runtime.Hosting;
using Microsoft.Extensions.Options;

try
{
    await using var app = RuntimeApplication.Build(args);
    await app.RunAsync();
    return Environment.ExitCode;
}
catch (OptionsValidationException e)
{
    await Console.Error.WriteLineAsync($"aperture-runtime: invalid configuration: {string.Join("; ", e.Failures)}");
    return 2;
}
catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException)
{
    await Console.Error.WriteLineAsync($"aperture-runtime: cannot listen: {e.Message}");
    return 2;
}
