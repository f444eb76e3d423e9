using System.Globalization;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Aperture.Operator.Crds;

namespace Aperture.KubernetesTestServer;

/// <summary>One change as a watch reports it.</summary>
public sealed record WatchEvent(long ResourceVersion, string Type, ResourceKind Kind, string Namespace, JsonObject Body);

/// <summary>A request the store refuses, with the HTTP status and Kubernetes reason it answers.</summary>
public sealed class ApiException(int code, string reason, string message) : Exception(message)
{
    public int Code { get; } = code;

    public string Reason { get; } = reason;
}

/// <summary>A write the server performed, for tests that count what the operator changed.</summary>
public sealed record RecordedWrite(string Verb, string Kind, string Namespace, string Name, string? FieldManager);

/// <summary>
/// The objects of the test API server and their history, with the rules of the real one that the
/// operator relies on: resourceVersion and conflicts, generation, the status subresource,
/// finalizers and deletionTimestamp, owner-reference garbage collection, schema validation, and a
/// bounded event history past which a watch gets 410 Gone.
/// </summary>
public sealed class ApiObjectStore(TimeProvider time, int historyLimit = 10_000)
{
    private readonly Dictionary<(ResourceKind Kind, string Namespace, string Name), JsonObject> _objects = [];
    private readonly List<WatchEvent> _history = [];
    private readonly List<(ResourceKind Kind, string? Namespace, Channel<WatchEvent> Channel)> _watchers = [];
    private readonly List<RecordedWrite> _writes = [];
    private readonly Lock _lock = new();
    private long _resourceVersion = 1000;
    private long _oldestRetained = 1000;

    public long ResourceVersion
    {
        get
        {
            lock (_lock)
            {
                return _resourceVersion;
            }
        }
    }

    public IReadOnlyList<RecordedWrite> Writes
    {
        get
        {
            lock (_lock)
            {
                return [.. _writes];
            }
        }
    }

    /// <summary>Forgets the event history, as etcd compaction does: any watch from an older version gets 410 Gone.</summary>
    public void Compact()
    {
        lock (_lock)
        {
            _history.Clear();
            _oldestRetained = _resourceVersion;
        }
    }

    /// <summary>Ends every open watch, as an API server restart or a dropped connection would.</summary>
    public void DropWatches()
    {
        lock (_lock)
        {
            foreach (var watcher in _watchers)
            {
                watcher.Channel.Writer.TryComplete();
            }

            _watchers.Clear();
        }
    }

    public JsonObject Get(ResourceKind kind, string ns, string name)
    {
        lock (_lock)
        {
            return _objects.TryGetValue((kind, ns, name), out var found)
                ? (JsonObject)found.DeepClone()
                : throw NotFound(kind, name);
        }
    }

    public (IReadOnlyList<JsonObject> Items, long ResourceVersion) List(ResourceKind kind, string? ns, IReadOnlyDictionary<string, string>? labels)
    {
        lock (_lock)
        {
            var items = _objects
                .Where(o => o.Key.Kind == kind && (ns is null || o.Key.Namespace == ns) && Matches(o.Value, labels))
                .OrderBy(o => o.Key.Namespace, StringComparer.Ordinal).ThenBy(o => o.Key.Name, StringComparer.Ordinal)
                .Select(o => (JsonObject)o.Value.DeepClone())
                .ToList();
            return (items, _resourceVersion);
        }
    }

    /// <summary>Starts a watch; events after <paramref name="fromVersion"/> are replayed first.</summary>
    public ChannelReader<WatchEvent> Watch(ResourceKind kind, string? ns, long? fromVersion)
    {
        lock (_lock)
        {
            if (fromVersion is { } from && from < _oldestRetained)
            {
                throw new ApiException(410, "Expired", $"too old resource version: {from} ({_oldestRetained})");
            }

            var channel = Channel.CreateUnbounded<WatchEvent>();
            if (fromVersion is { } since)
            {
                foreach (var e in _history.Where(e => e.ResourceVersion > since && e.Kind == kind && (ns is null || e.Namespace == ns)))
                {
                    channel.Writer.TryWrite(e);
                }
            }
            else
            {
                foreach (var (key, value) in _objects.Where(o => o.Key.Kind == kind && (ns is null || o.Key.Namespace == ns)))
                {
                    channel.Writer.TryWrite(new WatchEvent(Version(value), "ADDED", kind, key.Namespace, (JsonObject)value.DeepClone()));
                }
            }

            _watchers.Add((kind, ns, channel));
            return channel.Reader;
        }
    }

    public void StopWatch(ChannelReader<WatchEvent> reader)
    {
        lock (_lock)
        {
            _watchers.RemoveAll(w => w.Channel.Reader == reader);
        }
    }

    public JsonObject Create(ResourceKind kind, string ns, JsonObject body, string? fieldManager)
    {
        var name = body["metadata"]?["name"]?.GetValue<string>() ?? throw new ApiException(422, "Invalid", "metadata.name: Required value");
        Validate(kind, body);
        lock (_lock)
        {
            if (_objects.ContainsKey((kind, ns, name)))
            {
                throw new ApiException(409, "AlreadyExists", $"{kind.Plural} \"{name}\" already exists");
            }

            var created = (JsonObject)body.DeepClone();
            created["apiVersion"] = kind.ApiVersion;
            created["kind"] = kind.Kind;
            var metadata = created["metadata"]!.AsObject();
            metadata["namespace"] = ns;
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
            metadata["generation"] = 1;
            metadata.Remove("deletionTimestamp");
            if (kind.HasStatus && kind.Schema is not null)
            {
                created.Remove("status");
            }

            return Commit("ADDED", kind, ns, name, created, "create", fieldManager);
        }
    }

    /// <summary>Replaces the object (PUT), or only its status when <paramref name="status"/> is set.</summary>
    public JsonObject Update(ResourceKind kind, string ns, string name, JsonObject body, bool status, string? fieldManager)
    {
        lock (_lock)
        {
            var current = _objects.TryGetValue((kind, ns, name), out var found) ? found : throw NotFound(kind, name);
            if (body["metadata"]?["resourceVersion"]?.GetValue<string>() is { } given && given != Version(current).ToString(CultureInfo.InvariantCulture))
            {
                throw new ApiException(409, "Conflict",
                    $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again");
            }

            return Replace(kind, ns, name, current, body, status, status ? "update-status" : "update", fieldManager);
        }
    }

    /// <summary>A JSON merge patch (RFC 7386), or a server-side apply that creates what is missing.</summary>
    public JsonObject Patch(ResourceKind kind, string ns, string name, JsonObject patch, bool status, bool apply, string? fieldManager)
    {
        lock (_lock)
        {
            if (!_objects.TryGetValue((kind, ns, name), out var current))
            {
                if (!apply)
                {
                    throw NotFound(kind, name);
                }

                var body = (JsonObject)patch.DeepClone();
                body["metadata"] ??= new JsonObject();
                body["metadata"]!["name"] = name;
                Validate(kind, body);
                return CreateLocked(kind, ns, name, body, fieldManager);
            }

            if (patch["metadata"]?["resourceVersion"]?.GetValue<string>() is { } given && given != Version(current).ToString(CultureInfo.InvariantCulture))
            {
                throw new ApiException(409, "Conflict", $"Operation cannot be fulfilled on {kind.Plural} \"{name}\": the object has been modified");
            }

            var merged = (JsonObject)Merge(current.DeepClone(), patch)!;
            return Replace(kind, ns, name, current, merged, status, apply ? "apply" : status ? "patch-status" : "patch", fieldManager);
        }
    }

    public void Delete(ResourceKind kind, string ns, string name)
    {
        lock (_lock)
        {
            var current = _objects.TryGetValue((kind, ns, name), out var found) ? found : throw NotFound(kind, name);
            if (current["metadata"]?["finalizers"] is JsonArray { Count: > 0 })
            {
                if (current["metadata"]!["deletionTimestamp"] is null)
                {
                    var marked = (JsonObject)current.DeepClone();
                    marked["metadata"]!["deletionTimestamp"] = time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    Commit("MODIFIED", kind, ns, name, marked, "delete", null);
                }

                return;
            }

            RemoveLocked(kind, ns, name, current);
        }
    }

    private JsonObject CreateLocked(ResourceKind kind, string ns, string name, JsonObject body, string? fieldManager)
    {
        body["apiVersion"] = kind.ApiVersion;
        body["kind"] = kind.Kind;
        var metadata = body["metadata"]!.AsObject();
        metadata["namespace"] = ns;
        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
        metadata["generation"] = 1;
        return Commit("ADDED", kind, ns, name, body, "apply", fieldManager);
    }

    private JsonObject Replace(ResourceKind kind, string ns, string name, JsonObject current, JsonObject body, bool status, string verb, string? fieldManager)
    {
        var next = (JsonObject)body.DeepClone();
        next["apiVersion"] = kind.ApiVersion;
        next["kind"] = kind.Kind;
        var metadata = (next["metadata"] as JsonObject) ?? [];
        next["metadata"] = metadata;
        var old = current["metadata"]!.AsObject();
        foreach (var fixedField in new[] { "name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp" })
        {
            if (old[fixedField] is { } kept)
            {
                metadata[fixedField] = kept.DeepClone();
            }
            else
            {
                metadata.Remove(fixedField);
            }
        }

        if (status)
        {
            // The status subresource changes status and nothing else.
            var onlyStatus = (JsonObject)current.DeepClone();
            onlyStatus["status"] = next["status"]?.DeepClone();
            next = onlyStatus;
        }
        else if (kind.HasStatus && kind.Schema is not null)
        {
            // With the subresource, the main resource keeps the status it had (or none).
            if (current["status"] is { } kept)
            {
                next["status"] = kept.DeepClone();
            }
            else
            {
                next.Remove("status");
            }
        }

        if (!status && kind.Schema is not null)
        {
            Validate(kind, next);
        }

        if (Without(next, "status", "metadata") != Without(current, "status", "metadata"))
        {
            next["metadata"]!["generation"] = long.Parse(old["generation"]!.ToJsonString(), CultureInfo.InvariantCulture) + 1;
        }

        // A write that changes nothing is not a write: no new version, no event.
        if (Without(next, "metadata.resourceVersion") == Without(current, "metadata.resourceVersion"))
        {
            return (JsonObject)current.DeepClone();
        }

        if (next["metadata"]!["deletionTimestamp"] is not null && next["metadata"]!["finalizers"] is not JsonArray { Count: > 0 })
        {
            RemoveLocked(kind, ns, name, next);
            return next;
        }

        return Commit("MODIFIED", kind, ns, name, next, verb, fieldManager);
    }

    private void RemoveLocked(ResourceKind kind, string ns, string name, JsonObject last)
    {
        _objects.Remove((kind, ns, name));
        var uid = last["metadata"]!["uid"]!.GetValue<string>();
        Commit("DELETED", kind, ns, name, (JsonObject)last.DeepClone(), "delete", null, store: false);

        // Garbage collection: whatever this object owned goes too (background propagation).
        var dependents = _objects
            .Where(o => o.Value["metadata"]?["ownerReferences"] is JsonArray owners && owners.Any(r => r?["uid"]?.GetValue<string>() == uid))
            .Select(o => o.Key)
            .ToList();
        foreach (var (dependentKind, dependentNs, dependentName) in dependents)
        {
            if (_objects.TryGetValue((dependentKind, dependentNs, dependentName), out var dependent))
            {
                if (dependent["metadata"]?["finalizers"] is JsonArray { Count: > 0 })
                {
                    var marked = (JsonObject)dependent.DeepClone();
                    marked["metadata"]!["deletionTimestamp"] ??= time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
                    Commit("MODIFIED", dependentKind, dependentNs, dependentName, marked, "gc", null);
                }
                else
                {
                    RemoveLocked(dependentKind, dependentNs, dependentName, dependent);
                }
            }
        }
    }

    private JsonObject Commit(string type, ResourceKind kind, string ns, string name, JsonObject obj, string verb, string? fieldManager, bool store = true)
    {
        var version = ++_resourceVersion;
        obj["metadata"]!["resourceVersion"] = version.ToString(CultureInfo.InvariantCulture);
        if (store)
        {
            _objects[(kind, ns, name)] = obj;
        }

        var e = new WatchEvent(version, type, kind, ns, (JsonObject)obj.DeepClone());
        _history.Add(e);
        if (_history.Count > historyLimit)
        {
            _oldestRetained = _history[0].ResourceVersion;
            _history.RemoveAt(0);
        }

        foreach (var watcher in _watchers.Where(w => w.Kind == kind && (w.Namespace is null || w.Namespace == ns)))
        {
            watcher.Channel.Writer.TryWrite(e);
        }

        _writes.Add(new RecordedWrite(verb, kind.Kind, ns, name, fieldManager));
        return (JsonObject)obj.DeepClone();
    }

    private static void Validate(ResourceKind kind, JsonObject body)
    {
        if (kind.Schema is null)
        {
            return;
        }

        var candidate = (JsonObject)body.DeepClone();
        candidate.Remove("status");
        var errors = CrdSchemaValidator.Validate(kind.Schema, candidate);
        if (errors.Count > 0)
        {
            throw new ApiException(422, "Invalid", $"{kind.Kind}.{kind.Group} \"{body["metadata"]?["name"]}\" is invalid: {string.Join("; ", errors)}");
        }
    }

    private static long Version(JsonObject obj) => long.Parse(obj["metadata"]!["resourceVersion"]!.GetValue<string>(), CultureInfo.InvariantCulture);

    public static bool Matches(JsonObject obj, IReadOnlyDictionary<string, string>? labels) =>
        labels is null || labels.All(l => obj["metadata"]?["labels"]?[l.Key]?.GetValue<string>() == l.Value);

    private static string Without(JsonObject obj, params string[] paths)
    {
        var copy = (JsonObject)obj.DeepClone();
        foreach (var path in paths)
        {
            var parts = path.Split('.');
            var parent = parts.Length == 1 ? copy : copy[parts[0]] as JsonObject;
            parent?.Remove(parts[^1]);
        }

        return copy.ToJsonString();
    }

    /// <summary>RFC 7386: objects merge key by key, null removes a key, anything else replaces.</summary>
    private static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject)
        {
            return patch?.DeepClone();
        }

        var result = target as JsonObject ?? [];
        foreach (var (key, value) in patchObject)
        {
            if (value is null)
            {
                result.Remove(key);
            }
            else
            {
                var merged = Merge(result[key]?.DeepClone(), value);
                result[key] = merged;
            }
        }

        return result;
    }

    private static ApiException NotFound(ResourceKind kind, string name) =>
        new(404, "NotFound", $"{kind.Plural}{(kind.Group.Length > 0 ? "." + kind.Group : string.Empty)} \"{name}\" not found");
}
