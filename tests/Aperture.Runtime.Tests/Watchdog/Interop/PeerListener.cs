using System.Collections.Concurrent;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aperture.Runtime.Tests.Watchdog.Interop;

/// <summary>One request a real peer sent.</summary>
internal sealed record PeerRequest(string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <summary>A loopback HTTP listener that records what a real Prometheus or Alertmanager posts to it and answers 204.</summary>
internal sealed class PeerListener : IAsyncDisposable
{
    private readonly WebApplication _app;

    private PeerListener(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public ConcurrentQueue<PeerRequest> Requests { get; } = new();

    public string Url(string path) => $"http://127.0.0.1:{Port}{path}";

    public static async Task<PeerListener> StartAsync()
    {
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 64 * 1024 * 1024);
        var app = builder.Build();
        app.Urls.Add($"http://127.0.0.1:{port}");
        var listener = new PeerListener(app, port);
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            listener.Requests.Enqueue(new PeerRequest(
                context.Request.Path,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body.ToArray()));
            context.Response.StatusCode = StatusCodes.Status204NoContent;
        });
        await app.StartAsync();
        return listener;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
