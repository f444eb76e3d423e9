using System.Collections.Concurrent;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Tests;

/// <summary>One request an upstream received.</summary>
public sealed record ReceivedRequest(string Method, string Path, IReadOnlyDictionary<string, string> Headers, byte[] Body);

/// <summary>
/// A small HTTP server on loopback standing in for an upstream the agent posts to (the jobs API, the
/// server-monitoring ingest API, an OTLP collector): it records every request and answers with the status
/// the test sets. <see cref="StopAsync"/> and <see cref="StartAsync"/> take it away and bring it back on
/// the same port, as an upstream that goes down and returns.
/// </summary>
public sealed class RecordingReceiver : IAsyncDisposable
{
    private WebApplication? _app;

    public int Port { get; } = FreePort.Next();

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<ReceivedRequest> Requests { get; } = new();

    /// <summary>The status every request gets (200 by default); set 503 to play an upstream that answers but fails.</summary>
    public int Status { get; set; } = StatusCodes.Status200OK;

    public string ResponseBody { get; set; } = "{\"ok\":true}";

    public static async Task<RecordingReceiver> StartNewAsync()
    {
        var receiver = new RecordingReceiver();
        await receiver.StartAsync();
        return receiver;
    }

    public async Task StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, Port));
        var app = builder.Build();
        app.Run(async context =>
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            Requests.Enqueue(new ReceivedRequest(
                context.Request.Method,
                context.Request.Path + context.Request.QueryString,
                context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase),
                body.ToArray()));
            context.Response.StatusCode = Status;
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(ResponseBody);
        });
        await app.StartAsync();
        _app = app;
    }

    public async Task StopAsync()
    {
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
            _app = null;
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync();
}
