using Aperture.Runtime.Access.Tokens;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Servers;
using Microsoft.Extensions.Options;

// Registry commands run against the same configuration and switches as the server, without starting it.
if (ServerCommandLine.Handles(args))
{
    return await ServerCommandLine.RunAsync(args, Console.Out, Console.Error);
}

if (TokenCommand.Handles(args))
{
    return await TokenCommand.RunAsync(args, Console.Out, Console.Error);
}

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
catch (Exception e) when (e is FileNotFoundException or InvalidDataException or FormatException)
{
    await Console.Error.WriteLineAsync($"aperture-runtime: cannot read the --config file: {e.Message}");
    return 2;
}
catch (IOException e) when (e.InnerException is System.Net.Sockets.SocketException)
{
    await Console.Error.WriteLineAsync($"aperture-runtime: cannot listen: {e.Message}");
    return 2;
}
