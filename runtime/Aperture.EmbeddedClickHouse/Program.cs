using Aperture.EmbeddedClickHouse;
using Aperture.EmbeddedClickHouse.Native;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

EndpointOptions options;
try
{
    options = EndpointOptions.Parse(args);
}
catch (ArgumentException e)
{
    await Console.Error.WriteLineAsync($"aperture-clickhouse: {e.Message}\n{EndpointOptions.Usage}");
    return 2;
}

ChdbEngine engine;
try
{
    engine = ChdbEngine.Start(options.LibraryPath, options.DataPath);
}
catch (Exception e) when (e is FileNotFoundException or DllNotFoundException or ChdbException or IOException or UnauthorizedAccessException)
{
    await Console.Error.WriteLineAsync($"aperture-clickhouse: cannot start the engine: {e.Message}");
    return 1;
}

using (engine)
{
    var builder = WebApplication.CreateSlimBuilder();
    builder.Logging.AddFilter("Microsoft", LogLevel.Warning);
    builder.WebHost.ConfigureKestrel(kestrel =>
    {
        // INSERT data of any size is streamed to the engine; the query text has its own bound.
        kestrel.Limits.MaxRequestBodySize = null;
        // Drivers send server-side parameters in the URL; ClickHouse accepts URLs up to 1 MiB (http_max_uri_size).
        kestrel.Limits.MaxRequestLineSize = 1024 * 1024;
        kestrel.Limits.MaxRequestHeadersTotalSize = 1024 * 1024 + 64 * 1024;
        kestrel.Limits.MaxRequestBufferSize = 2 * 1024 * 1024;
        kestrel.Listen(System.Net.IPAddress.Parse(options.Host), options.Port);
    });
    builder.Services.AddSingleton(engine);
    builder.Services.AddSingleton(options);
    builder.Services.AddSingleton<ClickHouseHttpInterface>();

    var app = builder.Build();
    app.MapClickHouseHttpInterface();
    try
    {
        await app.StartAsync();
    }
    catch (IOException e)
    {
        await Console.Error.WriteLineAsync($"aperture-clickhouse: cannot listen on {options.Host}:{options.Port}: {e.Message}");
        return 1;
    }

    var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
    // Test fixtures and scripts wait for this line to learn the port.
    Console.WriteLine($"aperture-clickhouse {engine.Version} listening on {address} with data in {engine.DataPath}");
    await app.WaitForShutdownAsync();
}

return 0;
