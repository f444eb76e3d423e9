using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Discovery;

/// <summary>A pod on this node that a target selects.</summary>
public sealed record WatchedPod(string Uid, string Name, string Namespace, string? Phase);

/// <summary>What one watch is looking for: pods of a namespace with these labels, on one node.</summary>
public sealed record PodQuery(string Namespace, IReadOnlyDictionary<string, string> Labels, string NodeName)
{
    public string LabelSelector => string.Join(',', Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}"));

    public string Path(string? extra) =>
        $"api/v1/namespaces/{Uri.EscapeDataString(Namespace)}/pods?labelSelector={Uri.EscapeDataString(LabelSelector)}"
        + $"&fieldSelector={Uri.EscapeDataString("spec.nodeName=" + NodeName)}{extra}";

    public bool Matches(JsonNode? pod) =>
        pod?["spec"]?["nodeName"]?.GetValue<string>() == NodeName
        && Labels.All(l => pod["metadata"]?["labels"]?[l.Key]?.GetValue<string>() == l.Value);
}

/// <summary>Timeouts and backoff of a <see cref="PodWatch"/>.</summary>
public sealed record PodWatchTiming(TimeSpan RequestTimeout, int WatchTimeoutSeconds, TimeSpan InitialBackoff, TimeSpan MaxBackoff);

/// <summary>
/// The pods of one query, kept current the way Kubernetes clients do: list, then watch from the list's
/// resourceVersion with bookmarks; a watch that ends is renewed from the last version seen, a 410 Gone
/// re-lists at once, any other failure re-lists after an exponential backoff. Every request has a timeout.
/// </summary>
public sealed partial class PodWatch : IAsyncDisposable
{
    private const int MaxLineChars = 8 * 1024 * 1024;
    private readonly KubernetesApiAccess _api;
    private readonly PodWatchTiming _timing;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private Dictionary<string, WatchedPod> _pods = new(StringComparer.Ordinal);
    private Task? _loop;

    public PodWatch(KubernetesApiAccess api, PodQuery query, PodWatchTiming timing, TimeProvider time, ILogger logger)
    {
        _api = api;
        Query = query;
        _timing = timing;
        _time = time;
        _logger = logger;
    }

    public PodQuery Query { get; }

    /// <summary>Whether the last list or watch succeeded.</summary>
    public bool Connected { get; private set; }

    /// <summary>Why the last request failed (never carrying the token).</summary>
    public string? LastError { get; private set; }

    public long Lists { get; private set; }

    /// <summary>Raised (on the watch's thread) when the set of pods changed.</summary>
    public event Action? Changed;

    public IReadOnlyList<WatchedPod> Pods
    {
        get
        {
            lock (_gate)
            {
                return [.. _pods.Values.OrderBy(p => p.Name, StringComparer.Ordinal)];
            }
        }
    }

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    private async Task RunAsync(CancellationToken cancellationToken)
    {
        var backoff = _timing.InitialBackoff;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                var version = await ListAsync(cancellationToken);
                backoff = _timing.InitialBackoff;
                while (version is not null)
                {
                    version = await WatchAsync(version, cancellationToken);
                }

                LogRelist(_logger, Query.Namespace, Query.LabelSelector);
            }
            catch (Exception) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping: whatever the last request threw (cancelled, or its client disposed) ends the loop.
                return;
            }
            catch (Exception error) when (error is HttpRequestException or IOException or JsonException or OperationCanceledException or InvalidOperationException or KubernetesApiException)
            {
                Connected = false;
                LastError = error is OperationCanceledException ? $"no answer from {_api.Server} within {_timing.RequestTimeout.TotalSeconds:0.#} s" : error.Message;
                LogFailed(_logger, Query.Namespace, Query.LabelSelector, LastError, backoff.TotalMilliseconds);
                try
                {
                    await Task.Delay(backoff, _time, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _timing.MaxBackoff.Ticks));
            }
        }
    }

    /// <summary>Lists the pods and replaces what is known; returns the list's resourceVersion.</summary>
    private async Task<string> ListAsync(CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_timing.RequestTimeout);
        using var response = await _api.GetAsync(Query.Path(null), timeout.Token);
        await EnsureSuccessAsync(response, "list", timeout.Token);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync(timeout.Token)) as JsonObject
            ?? throw new KubernetesApiException("the pod list is not a JSON object");
        var pods = new Dictionary<string, WatchedPod>(StringComparer.Ordinal);
        foreach (var item in body["items"] as JsonArray ?? [])
        {
            if (Query.Matches(item) && PodOf(item) is { } pod)
            {
                pods[pod.Uid] = pod;
            }
        }

        bool changed;
        lock (_gate)
        {
            changed = !pods.Keys.Order(StringComparer.Ordinal).SequenceEqual(_pods.Keys.Order(StringComparer.Ordinal));
            _pods = pods;
        }

        Lists++;
        Connected = true;
        LastError = null;
        if (changed)
        {
            Changed?.Invoke();
        }

        return body["metadata"]?["resourceVersion"]?.GetValue<string>() ?? throw new KubernetesApiException("the pod list has no resourceVersion");
    }

    /// <summary>Follows one watch request; returns the version to go on from, or null when the history is gone (410) and a list is due.</summary>
    private async Task<string?> WatchAsync(string version, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        // The server ends the watch after timeoutSeconds; a connection that goes quiet for longer than that is dead.
        timeout.CancelAfter(TimeSpan.FromSeconds(_timing.WatchTimeoutSeconds) + _timing.RequestTimeout);
        var extra = $"&watch=true&resourceVersion={Uri.EscapeDataString(version)}&allowWatchBookmarks=true&timeoutSeconds={_timing.WatchTimeoutSeconds.ToString(CultureInfo.InvariantCulture)}";
        using var response = await _api.GetAsync(Query.Path(extra), timeout.Token);
        if (response.StatusCode == HttpStatusCode.Gone)
        {
            return null;
        }

        await EnsureSuccessAsync(response, "watch", timeout.Token);
        Connected = true;
        LastError = null;
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.Length == 0)
            {
                continue;
            }

            if (line.Length > MaxLineChars)
            {
                throw new KubernetesApiException($"a watch event larger than {MaxLineChars} characters");
            }

            var e = JsonNode.Parse(line) as JsonObject ?? throw new KubernetesApiException("a watch event is not a JSON object");
            var type = e["type"]?.GetValue<string>();
            var item = e["object"];
            if (type == "ERROR")
            {
                var code = item?["code"]?.GetValue<int>();
                if (code == 410)
                {
                    return null;
                }

                throw new KubernetesApiException($"the watch failed: {item?["code"]} {item?["reason"]} {item?["message"]}");
            }

            version = item?["metadata"]?["resourceVersion"]?.GetValue<string>() ?? version;
            if (type == "BOOKMARK")
            {
                continue;
            }

            Apply(type, item);
        }

        return version;
    }

    private void Apply(string? type, JsonNode? item)
    {
        if (PodOf(item) is not { } pod)
        {
            return;
        }

        bool changed;
        lock (_gate)
        {
            // A pod that no longer matches (its labels changed) leaves the set as a deleted one does.
            if (type is "ADDED" or "MODIFIED" && Query.Matches(item))
            {
                changed = !_pods.TryGetValue(pod.Uid, out var known) || known != pod;
                _pods[pod.Uid] = pod;
            }
            else
            {
                changed = _pods.Remove(pod.Uid);
            }
        }

        if (changed)
        {
            Changed?.Invoke();
        }
    }

    private static WatchedPod? PodOf(JsonNode? item)
    {
        var metadata = item?["metadata"];
        return metadata?["uid"]?.GetValue<string>() is { Length: > 0 } uid && metadata["name"]?.GetValue<string>() is { } name
            ? new WatchedPod(uid.ToLowerInvariant(), name, metadata["namespace"]?.GetValue<string>() ?? string.Empty, item!["status"]?["phase"]?.GetValue<string>())
            : null;
    }

    private async Task EnsureSuccessAsync(HttpResponseMessage response, string what, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        var message = string.Empty;
        try
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken);
            message = (JsonNode.Parse(text.Length > 64 * 1024 ? text[..(64 * 1024)] : text)?["message"]?.GetValue<string>()) ?? string.Empty;
        }
        catch (JsonException)
        {
        }

        var hint = response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden
            ? " (the agent's service account needs get, list and watch on pods)"
            : string.Empty;
        throw new KubernetesApiException($"{what} of pods in {Query.Namespace} at {_api.Server} answered {(int)response.StatusCode} {response.ReasonPhrase}{hint}{(message.Length > 0 ? ": " + message : string.Empty)}");
    }

    // The token source is left to the finalizer-free GC: it has no timer, and a second dispose must not throw.
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_loop is not null)
        {
            try
            {
                await _loop.WaitAsync(TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                // The loop is cancelled; it goes with its last request.
            }
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Information, Message = "The pod watch of {Namespace} ({Selector}) lost its history (410 Gone); listing again")]
    private static partial void LogRelist(ILogger logger, string @namespace, string selector);

    [LoggerMessage(EventId = 401, Level = LogLevel.Warning, Message = "Pod discovery in {Namespace} ({Selector}) failed: {Error}; listing again in {BackoffMs} ms")]
    private static partial void LogFailed(ILogger logger, string @namespace, string selector, string error, double backoffMs);
}

/// <summary>The API server answered something the agent cannot use.</summary>
public sealed class KubernetesApiException(string message) : Exception(message);
