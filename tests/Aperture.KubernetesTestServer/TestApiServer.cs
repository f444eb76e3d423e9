using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Aperture.Operator.Crds;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Aperture.KubernetesTestServer;

/// <summary>
/// An in-process stand-in for the Kubernetes API server, over real HTTP on 127.0.0.1, that the real
/// KubernetesClient talks to: get, list (label selectors), watch (with bookmarks and 410 Gone),
/// field selectors on spec.nodeName, metadata.name and metadata.namespace, create, update, the status subresource, JSON merge patch, server-side apply, delete with
/// finalizers and owner-reference garbage collection, and CRD schema validation. JSON Patch is not
/// supported (415). Tests can compact history, drop watches and inject failures.
/// </summary>
public sealed class TestApiServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<(Func<HttpRequest, bool> Matches, int Code)> _failures = new();

    private TestApiServer(WebApplication app, ApiObjectStore store)
    {
        _app = app;
        Store = store;
    }

    public ApiObjectStore Store { get; }

    public Uri Url { get; private set; } = null!;

    /// <summary>How often an idle watch that asked for bookmarks gets one.</summary>
    public TimeSpan BookmarkInterval { get; set; } = TimeSpan.FromSeconds(1);

    public static async Task<TestApiServer> StartAsync(TimeProvider? time = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(System.Net.IPAddress.Loopback, 0));
        var app = builder.Build();
        var server = new TestApiServer(app, new ApiObjectStore(time ?? TimeProvider.System));
        app.Run(server.HandleAsync);
        await app.StartAsync();
        server.Url = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return server;
    }

    /// <summary>The next request that <paramref name="matches"/> fails with <paramref name="code"/> (e.g. 409, 500).</summary>
    public void FailNext(Func<HttpRequest, bool> matches, int code) => _failures.Enqueue((matches, code));

    /// <summary>Injected failures not yet served.</summary>
    public int PendingFailures => _failures.Count;

    public async ValueTask DisposeAsync()
    {
        Store.DropWatches();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        try
        {
            if (_failures.TryPeek(out var failure) && failure.Matches(request) && _failures.TryDequeue(out _))
            {
                throw new ApiException(failure.Code, failure.Code == 409 ? "Conflict" : "InternalError", $"injected failure {failure.Code}");
            }

            var route = Route.Parse(request.Path.Value ?? string.Empty)
                ?? throw new ApiException(404, "NotFound", $"the server could not find the requested resource ({request.Path})");
            var query = request.Query;
            switch (request.Method)
            {
                case "GET" when route.Name is null && IsTrue(query["watch"]):
                    await WatchAsync(context, route);
                    return;
                case "GET" when route.Name is null:
                    var fields = Fields(query["fieldSelector"]);
                    var (items, version) = Store.List(route.Kind, route.Namespace, Labels(query["labelSelector"]));
                    await WriteAsync(context, 200, new JsonObject
                    {
                        ["apiVersion"] = route.Kind.ApiVersion,
                        ["kind"] = route.Kind.Kind + "List",
                        ["metadata"] = new JsonObject { ["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture) },
                        ["items"] = new JsonArray([.. items.Where(i => MatchesFields(i, fields))]),
                    });
                    return;
                case "GET":
                    await WriteAsync(context, 200, Store.Get(route.Kind, route.Namespace!, route.Name!));
                    return;
                case "POST" when route.Name is null && route.Namespace is not null:
                    await WriteAsync(context, 201, Store.Create(route.Kind, route.Namespace, await BodyAsync(request), query["fieldManager"]));
                    return;
                case "PUT" when route.Name is not null:
                    await WriteAsync(context, 200, Store.Update(route.Kind, route.Namespace!, route.Name, await BodyAsync(request), route.Status, query["fieldManager"]));
                    return;
                case "PATCH" when route.Name is not null:
                    var contentType = request.ContentType?.Split(';')[0].Trim() ?? string.Empty;
                    var apply = contentType == "application/apply-patch+yaml";
                    if (!apply && contentType is not ("application/merge-patch+json" or "application/strategic-merge-patch+json"))
                    {
                        throw new ApiException(415, "UnsupportedMediaType", $"the test API server does not support {contentType}");
                    }

                    if (apply && string.IsNullOrEmpty(query["fieldManager"]))
                    {
                        throw new ApiException(422, "Invalid", "fieldManager is required for apply requests");
                    }

                    await WriteAsync(context, 200, Store.Patch(route.Kind, route.Namespace!, route.Name, await BodyAsync(request), route.Status, apply, query["fieldManager"]));
                    return;
                case "DELETE" when route.Name is not null:
                    Store.Delete(route.Kind, route.Namespace!, route.Name);
                    await WriteAsync(context, 200, Status(200, "Success", string.Empty, "deleted"));
                    return;
                default:
                    throw new ApiException(405, "MethodNotAllowed", $"{request.Method} is not supported on {request.Path}");
            }
        }
        catch (ApiException e)
        {
            await WriteAsync(context, e.Code, Status(e.Code, "Failure", e.Reason, e.Message));
        }
        catch (JsonException e)
        {
            await WriteAsync(context, 400, Status(400, "Failure", "BadRequest", e.Message));
        }
        catch (Exception e) when ((e is InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException) && !context.Response.HasStarted)
        {
            // A bug of the test server, not of the client: say what it was.
            await WriteAsync(context, 500, Status(500, "Failure", "InternalError", e.ToString()));
        }
    }

    private async Task WatchAsync(HttpContext context, Route route)
    {
        var query = context.Request.Query;
        long? from = long.TryParse(query["resourceVersion"], CultureInfo.InvariantCulture, out var v) && v > 0 ? v : null;
        var bookmarks = IsTrue(query["allowWatchBookmarks"]);
        var labels = Labels(query["labelSelector"]);
        var fields = Fields(query["fieldSelector"]);
        var timeout = int.TryParse(query["timeoutSeconds"], CultureInfo.InvariantCulture, out var seconds) ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(30);
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        System.Threading.Channels.ChannelReader<WatchEvent> reader;
        try
        {
            reader = Store.Watch(route.Kind, route.Namespace, from);
        }
        catch (ApiException gone) when (gone.Code == 410)
        {
            // A watch from a compacted version answers 200 with one ERROR event, as the real server does.
            await WriteLineAsync(context, new JsonObject { ["type"] = "ERROR", ["object"] = Status(410, "Failure", "Expired", gone.Message) });
            return;
        }

        using var ends = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        ends.CancelAfter(timeout);
        try
        {
            await context.Response.Body.FlushAsync(ends.Token);
            while (!ends.IsCancellationRequested)
            {
                using var tick = CancellationTokenSource.CreateLinkedTokenSource(ends.Token);
                tick.CancelAfter(BookmarkInterval);
                try
                {
                    if (!await reader.WaitToReadAsync(tick.Token))
                    {
                        return;
                    }

                    while (reader.TryRead(out var e))
                    {
                        if (!ApiObjectStore.Matches(e.Body, labels) || !MatchesFields(e.Body, fields))
                        {
                            continue;
                        }

                        // Each watcher writes its own copy: a JSON node has one parent, and events are shared.
                        await WriteLineAsync(context, new JsonObject { ["type"] = e.Type, ["object"] = e.Body.DeepClone() });
                    }
                }
                catch (OperationCanceledException) when (!ends.IsCancellationRequested && bookmarks)
                {
                    await WriteLineAsync(context, new JsonObject
                    {
                        ["type"] = "BOOKMARK",
                        ["object"] = new JsonObject
                        {
                            ["apiVersion"] = route.Kind.ApiVersion,
                            ["kind"] = route.Kind.Kind,
                            ["metadata"] = new JsonObject { ["resourceVersion"] = Store.ResourceVersion.ToString(CultureInfo.InvariantCulture) },
                        },
                    });
                }
                catch (OperationCanceledException) when (!ends.IsCancellationRequested)
                {
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The watch timed out or the client went away.
        }
        finally
        {
            Store.StopWatch(reader);
        }
    }

    // Like the real server, which escapes only what JSON requires.
    private static readonly JsonSerializerOptions Output = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static async Task WriteLineAsync(HttpContext context, JsonObject line)
    {
        await context.Response.WriteAsync(line.ToJsonString(Output) + "\n", context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
    }

    private static async Task WriteAsync(HttpContext context, int code, JsonObject body)
    {
        context.Response.StatusCode = code;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Output), context.RequestAborted);
    }

    private static async Task<JsonObject> BodyAsync(HttpRequest request)
    {
        using var reader = new StreamReader(request.Body, Encoding.UTF8);
        var text = await reader.ReadToEndAsync();
        var trimmed = text.TrimStart();
        var node = trimmed.StartsWith('{') ? JsonNode.Parse(text) : YamlDocuments.Load(text).SingleOrDefault();
        return node as JsonObject ?? throw new ApiException(400, "BadRequest", "the body is not an object");
    }

    private static JsonObject Status(int code, string status, string reason, string message) => new()
    {
        ["kind"] = "Status",
        ["apiVersion"] = "v1",
        ["metadata"] = new JsonObject(),
        ["status"] = status,
        ["message"] = message,
        ["reason"] = reason,
        ["code"] = code,
    };

    private static bool IsTrue(Microsoft.Extensions.Primitives.StringValues value) => value.ToString() is "true" or "1";

    private static Dictionary<string, string>? Labels(Microsoft.Extensions.Primitives.StringValues selector) =>
        string.IsNullOrEmpty(selector.ToString())
            ? null
            : selector.ToString().Split(',').Select(p => p.Split('=', 2)).ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].TrimStart('=').Trim() : string.Empty);

    /// <summary>The field selectors the real server supports for every kind that tests use here (equality only).</summary>
    private static readonly Dictionary<string, string[]> SelectableFields = new(StringComparer.Ordinal)
    {
        ["metadata.name"] = ["metadata", "name"],
        ["metadata.namespace"] = ["metadata", "namespace"],
        ["spec.nodeName"] = ["spec", "nodeName"],
    };

    private static Dictionary<string, string>? Fields(Microsoft.Extensions.Primitives.StringValues selector)
    {
        if (string.IsNullOrEmpty(selector.ToString()))
        {
            return null;
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in selector.ToString().Split(','))
        {
            var pair = part.Split('=', 2);
            var name = pair[0].TrimEnd('!').Trim();
            if (pair.Length < 2 || pair[0].EndsWith('!') || !SelectableFields.ContainsKey(name))
            {
                throw new ApiException(400, "BadRequest", $"field label not supported: {part}");
            }

            fields[name] = pair[1].TrimStart('=').Trim();
        }

        return fields;
    }

    private static bool MatchesFields(JsonObject obj, Dictionary<string, string>? fields) =>
        fields is null || fields.All(f =>
        {
            var path = SelectableFields[f.Key];
            var value = obj[path[0]]?[path[1]]?.GetValue<string>() ?? string.Empty;
            return value == f.Value;
        });

    private sealed record Route(ResourceKind Kind, string? Namespace, string? Name, bool Status)
    {
        public static Route? Parse(string path)
        {
            var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
            var (group, version, rest) = parts switch
            {
                ["api", var v, .. var r] => (string.Empty, v, r),
                ["apis", var g, var v, .. var r] => (g, v, r),
                _ => (string.Empty, string.Empty, Array.Empty<string>()),
            };
            var (ns, plural, name, sub) = rest switch
            {
                ["namespaces", var n, var p] => (n, p, null, null),
                ["namespaces", var n, var p, var name1] => (n, p, name1, null),
                ["namespaces", var n, var p, var name2, var s] => (n, p, name2, s),
                [var p] => ((string?)null, p, (string?)null, (string?)null),
                _ => (null, string.Empty, null, null),
            };
            var kind = ResourceKinds.Find(group, version, plural);
            return kind is null || (sub is not null and not "status") ? null : new Route(kind, ns, name, sub == "status");
        }
    }
}
