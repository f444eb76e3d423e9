using System.Collections;
using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Aperture.Agent.Configuration;

/// <summary>The configuration cannot be used; <see cref="Errors"/> names each problem by its key.</summary>
public sealed class AgentConfigException(IReadOnlyList<string> errors)
    : Exception("invalid agent configuration: " + string.Join("; ", errors))
{
    public IReadOnlyList<string> Errors { get; } = errors;
}

/// <summary>
/// The configuration's JSON shape (snake_case, unknown members refused), generated at build time so that the
/// agent reads its configuration without reflection and runs as a Native AOT binary.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(AgentConfig))]
public sealed partial class AgentConfigJsonContext : JsonSerializerContext;

/// <summary>
/// Reads the YAML file, expands <c>${VAR}</c>, applies environment overrides and validates. Overrides are
/// <c>APERTURE_AGENT_</c> plus the key path in capitals (<c>APERTURE_AGENT_EXPORT_AGGREGATOR_ENDPOINT</c>);
/// <c>APERTURE_AUTH_TOKEN</c> is the token the agent pushes with and, when set, guards its own API with.
/// </summary>
/// <remarks>
/// The YAML is read into a node tree and turned into JSON guided by the configuration's generated metadata:
/// a plain scalar becomes a number or a bool where the key wants one, and an unknown key or a value of the
/// wrong kind is an error with its line and column. The JSON is then bound by <see cref="AgentConfigJsonContext"/>.
/// </remarks>
public static partial class AgentConfigLoader
{
    public const string EnvironmentPrefix = "APERTURE_AGENT_";
    public const string AuthTokenVariable = "APERTURE_AUTH_TOKEN";
    private const int MaxFileBytes = 1024 * 1024;

    // Aliases can make a small file expand into a huge tree; no real configuration comes near this.
    private const int MaxNodes = 100_000;

    private static JsonSerializerOptions JsonOptions => AgentConfigJsonContext.Default.Options;

    public static AgentConfig Load(string? path, IReadOnlyDictionary<string, string?> environment)
    {
        var config = path is null ? new AgentConfig() : Parse(ReadFile(path), environment);
        ApplyOverrides(config, environment);
        var errors = Validate(config);
        return errors.Count > 0 ? throw new AgentConfigException(errors) : config;
    }

    public static IReadOnlyDictionary<string, string?> ProcessEnvironment() =>
        Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .ToDictionary(e => (string)e.Key, e => (string?)e.Value, StringComparer.Ordinal);

    private static string ReadFile(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Exists && info.Length > MaxFileBytes)
            {
                throw new AgentConfigException([$"{path}: larger than {MaxFileBytes} bytes"]);
            }

            return File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new AgentConfigException([$"{path}: {error.Message}"]);
        }
    }

    public static AgentConfig Parse(string yaml, IReadOnlyDictionary<string, string?> environment)
    {
        var expanded = Variable().Replace(yaml, match => environment.GetValueOrDefault(match.Groups[1].Value) ?? string.Empty);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(expanded));
        }
        catch (YamlException error)
        {
            var inner = error.InnerException is { } cause && cause.Message != error.Message ? $" ({cause.Message})" : string.Empty;
            throw new AgentConfigException([$"line {error.Start.Line}, column {error.Start.Column}: {error.Message}{inner}"]);
        }
        catch (InvalidOperationException error)
        {
            // YamlDotNet's scanner throws this, with no place, on some broken flow collections ("spool: [").
            throw new AgentConfigException([$"not valid YAML ({error.Message}); look for an unclosed [ or {{"]);
        }

        if (stream.Documents.Count == 0 || IsNull(stream.Documents[0].RootNode))
        {
            return new AgentConfig();
        }

        var converter = new YamlToJson();
        var json = converter.Convert(stream.Documents[0].RootNode, JsonOptions.GetTypeInfo(typeof(AgentConfig)), string.Empty);
        if (converter.Errors.Count > 0)
        {
            throw new AgentConfigException(converter.Errors);
        }

        try
        {
            return json.Deserialize(AgentConfigJsonContext.Default.AgentConfig) ?? new AgentConfig();
        }
        catch (JsonException error)
        {
            // The conversion above checks keys and scalars, so this is what is left: a null where a value must be.
            throw new AgentConfigException([$"{KeyOf(error.Path)}: {error.Message}"]);
        }
    }

    private static string KeyOf(string? jsonPath) =>
        jsonPath is null or "$" ? "(top level)" : jsonPath.StartsWith("$.", StringComparison.Ordinal) ? jsonPath[2..] : jsonPath;

    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    /// <summary>YAML nodes to JSON, shaped by the metadata of the type each node is bound to.</summary>
    private sealed class YamlToJson
    {
        private int _nodes;

        public List<string> Errors { get; } = [];

        public JsonNode? Convert(YamlNode node, JsonTypeInfo type, string key)
        {
            if (++_nodes > MaxNodes)
            {
                if (_nodes == MaxNodes + 1)
                {
                    Error(node, key, $"more than {MaxNodes} values (are aliases expanding?)");
                }

                return null;
            }

            if (IsNull(node))
            {
                return null;
            }

            switch (type.Kind)
            {
                case JsonTypeInfoKind.Object:
                    return node is YamlMappingNode mapping ? Object(mapping, type, key) : Wrong(node, key, "a mapping");
                case JsonTypeInfoKind.Dictionary:
                    return node is YamlMappingNode map ? Dictionary(map, type, key) : Wrong(node, key, "a mapping");
                case JsonTypeInfoKind.Enumerable:
                    return node is YamlSequenceNode sequence ? Sequence(sequence, type, key) : Wrong(node, key, "a list");
                default:
                    return node is YamlScalarNode scalar ? Scalar(scalar, type.Type, key) : Wrong(node, key, "a single value");
            }
        }

        private JsonObject Object(YamlMappingNode mapping, JsonTypeInfo type, string key)
        {
            var result = new JsonObject();
            foreach (var (name, value) in mapping.Children)
            {
                var text = (name as YamlScalarNode)?.Value ?? string.Empty;
                var property = type.Properties.FirstOrDefault(p => p.Name == text);
                var where = key.Length == 0 ? text : $"{key}.{text}";
                if (property is null)
                {
                    Error(name, where, $"unknown key '{text}'" + (key.Length == 0 ? string.Empty : $" in {key}"));
                    continue;
                }

                // A key given without a value keeps its default.
                if (Convert(value, JsonOptions.GetTypeInfo(property.PropertyType), where) is { } converted)
                {
                    result[text] = converted;
                }
            }

            return result;
        }

        private JsonObject Dictionary(YamlMappingNode mapping, JsonTypeInfo type, string key)
        {
            var result = new JsonObject();
            var values = JsonOptions.GetTypeInfo(type.ElementType!);
            foreach (var (name, value) in mapping.Children)
            {
                if (name is not YamlScalarNode { Value: { } text })
                {
                    Error(name, key, "a key must be a single value");
                    continue;
                }

                result[text] = Convert(value, values, $"{key}.{text}") ?? (IsNull(value) ? JsonValue.Create(string.Empty) : null);
            }

            return result;
        }

        private JsonArray Sequence(YamlSequenceNode sequence, JsonTypeInfo type, string key)
        {
            var result = new JsonArray();
            var items = JsonOptions.GetTypeInfo(type.ElementType!);
            var index = 0;
            foreach (var item in sequence.Children)
            {
                result.Add(Convert(item, items, $"{key}[{index++}]"));
            }

            return result;
        }

        private JsonNode? Scalar(YamlScalarNode scalar, Type type, string key)
        {
            var text = scalar.Value ?? string.Empty;
            type = Nullable.GetUnderlyingType(type) ?? type;
            if (type == typeof(string))
            {
                return JsonValue.Create(text);
            }

            if (type == typeof(bool))
            {
                return bool.TryParse(text, out var flag) ? JsonValue.Create(flag) : Wrong(scalar, key, "true or false");
            }

            if (type == typeof(int))
            {
                return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer) ? JsonValue.Create(integer) : Wrong(scalar, key, "a whole number");
            }

            if (type == typeof(long))
            {
                return long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? JsonValue.Create(number) : Wrong(scalar, key, "a whole number");
            }

            if (type == typeof(double))
            {
                return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var real) && double.IsFinite(real) ? JsonValue.Create(real) : Wrong(scalar, key, "a number");
            }

            return Wrong(scalar, key, $"a {type.Name}");
        }

        private JsonNode? Wrong(YamlNode node, string key, string expected)
        {
            var shown = node is YamlScalarNode { Value: { } text } ? $"'{text}'" : node is YamlMappingNode ? "a mapping" : "a list";
            Error(node, key, $"{shown} is not {expected}");
            return null;
        }

        private void Error(YamlNode node, string key, string message) =>
            Errors.Add($"line {node.Start.Line}, column {node.Start.Column}: {(key.Length == 0 ? "(top level)" : key)}: {message}");
    }

    [GeneratedRegex(@"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")]
    private static partial Regex Variable();

    /// <summary>Every settable leaf of the configuration, by its environment name (<c>EXPORT_AGGREGATOR_ENDPOINT</c>).</summary>
    private static IEnumerable<(string Name, object Owner, JsonPropertyInfo Property)> Leaves(object node, JsonTypeInfo type, string prefix)
    {
        foreach (var property in type.Properties)
        {
            var name = prefix + property.Name.ToUpperInvariant();
            var propertyType = JsonOptions.GetTypeInfo(property.PropertyType);
            if (propertyType.Kind == JsonTypeInfoKind.Object && property.Get?.Invoke(node) is { } value)
            {
                foreach (var leaf in Leaves(value, propertyType, name + "_"))
                {
                    yield return leaf;
                }
            }
            else if (property.Set is not null)
            {
                yield return (name, node, property);
            }
        }
    }

    private static void ApplyOverrides(AgentConfig config, IReadOnlyDictionary<string, string?> environment)
    {
        var errors = new List<string>();
        foreach (var (name, owner, property) in Leaves(config, JsonOptions.GetTypeInfo(typeof(AgentConfig)), string.Empty).ToList())
        {
            if (environment.GetValueOrDefault(EnvironmentPrefix + name) is not { } text)
            {
                continue;
            }

            var type = property.PropertyType;
            object? value = null;
            if (type == typeof(string))
            {
                value = text;
            }
            else if (type == typeof(bool) && bool.TryParse(text, out var flag))
            {
                value = flag;
            }
            else if (type == typeof(int) && int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var integer))
            {
                value = integer;
            }
            else if (type == typeof(long) && long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var longValue))
            {
                value = longValue;
            }
            else if (type == typeof(double) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            {
                value = number;
            }
            else if (type == typeof(List<string>))
            {
                value = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
            }
            else if (type == typeof(List<int>))
            {
                var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                value = parts.All(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out _))
                    ? parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList()
                    : null;
            }

            if (value is null)
            {
                errors.Add($"{EnvironmentPrefix}{name}: '{text}' is not a valid {type.Name}");
                continue;
            }

            property.Set!(owner, value);
        }

        if (environment.GetValueOrDefault(AuthTokenVariable) is { Length: > 0 } token)
        {
            if (config.Export.Aggregator.Token.Length == 0)
            {
                config.Export.Aggregator.Token = token;
            }

            if (config.SelfTelemetry.Auth.BearerToken.Length == 0)
            {
                config.SelfTelemetry.Auth.BearerToken = token;
                config.SelfTelemetry.Auth.Enabled = true;
            }
        }

        if (errors.Count > 0)
        {
            throw new AgentConfigException(errors);
        }
    }

    public static IReadOnlyList<string> Validate(AgentConfig config)
    {
        var errors = new List<string>();
        void Check(bool ok, string key, string message)
        {
            if (!ok)
            {
                errors.Add($"{key}: {message}");
            }
        }

        Check(config.Mode == "agent", "mode", "must be 'agent'");
        Check(TryParseListen(config.SelfTelemetry.Listen, out _, out _), "self_telemetry.listen", $"'{config.SelfTelemetry.Listen}' is not host:port (e.g. 127.0.0.1:19090 or :19090)");
        Check(!config.SelfTelemetry.Auth.Enabled || config.SelfTelemetry.Auth.BearerToken.Length > 0, "self_telemetry.auth.bearer_token", "auth is enabled but no token is set (set it or APERTURE_AUTH_TOKEN)");
        Check(config.SelfTelemetry.RateLimit.RequestsPerSecond is >= 1 and <= 1_000_000, "self_telemetry.rate_limit.requests_per_second", "must be between 1 and 1000000");
        Check(config.SelfTelemetry.RateLimit.Burst is >= 0 and <= 1_000_000, "self_telemetry.rate_limit.burst", "must be between 0 and 1000000");
        foreach (var origin in config.SelfTelemetry.Cors.AllowedOrigins)
        {
            Check(origin == "*" || (Uri.TryCreate(origin, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"), "self_telemetry.cors.allowed_origins", $"'{origin}' is not an http(s) origin or *");
        }

        Check(config.Collectors.HostRoot.Length > 0, "collectors.host_root", "must not be empty");
        Check(config.Collectors.IntervalSeconds is >= 0.05 and <= 3600, "collectors.interval_seconds", "must be between 0.05 and 3600");
        Check(config.Profiling.SampleRate is >= 1 and <= 10_000, "profiling.sample_rate", "must be between 1 and 10000 Hz");
        Check(config.Profiling.IntervalSeconds is >= 0.05 and <= 3600, "profiling.interval_seconds", "must be between 0.05 and 3600");
        Check(config.Profiling.Pids.All(p => p > 0), "profiling.pids", "process ids are positive");
        Check(config.Profiling.MinLatencyMicroseconds is >= 0 and <= 60_000_000, "profiling.min_latency_microseconds", "must be between 0 and 60000000");
        ValidateTargets(config.Profiling.Targets, errors);
        var kubernetes = config.Discovery.Kubernetes;
        CheckUrl(kubernetes.ApiServer, "discovery.kubernetes.api_server");
        Check(kubernetes.RequestTimeoutSeconds is >= 0.1 and <= 300, "discovery.kubernetes.request_timeout_seconds", "must be between 0.1 and 300");
        Check(kubernetes.WatchTimeoutSeconds is >= 1 and <= 3600, "discovery.kubernetes.watch_timeout_seconds", "must be between 1 and 3600");
        Check(kubernetes.TokenRefreshSeconds is >= 1 and <= 3600, "discovery.kubernetes.token_refresh_seconds", "must be between 1 and 3600");
        Check(kubernetes.InitialBackoffMs is >= 1 and <= 600_000, "discovery.kubernetes.initial_backoff_ms", "must be between 1 and 600000");
        Check(kubernetes.MaxBackoffMs >= kubernetes.InitialBackoffMs && kubernetes.MaxBackoffMs <= 3_600_000, "discovery.kubernetes.max_backoff_ms", "must be at least initial_backoff_ms and at most 3600000");
        CheckUrl(config.Export.Aggregator.Endpoint, "export.aggregator.endpoint");
        CheckUrl(config.Export.Servers.Endpoint, "export.servers.endpoint");
        CheckUrl(config.Export.Jobs.Endpoint, "export.jobs.endpoint");
        CheckUrl(config.Export.Otlp.Endpoint, "export.otlp.endpoint");
        Check(config.Export.Servers.Endpoint.Length == 0 || config.Export.Servers.ServerSlug.Length > 0, "export.servers.server_slug", "an endpoint is set but no server slug");
        Check(config.Export.Servers.ServerSlug.Length == 0 || Regex.IsMatch(config.Export.Servers.ServerSlug, "^[a-z0-9][a-z0-9-]{0,62}$"), "export.servers.server_slug", "must be a slug (lower-case letters, digits and '-')");
        Check(config.Export.Otlp.Protocol is "grpc" or "http/protobuf", "export.otlp.protocol", "must be 'grpc' or 'http/protobuf'");
        Check(config.Export.Otlp.IntervalSeconds is >= 1 and <= 3600, "export.otlp.interval_seconds", "must be between 1 and 3600");
        Check(config.Export.Jobs.MaxBatch is >= 1 and <= 10_000, "export.jobs.max_batch", "must be between 1 and 10000");
        foreach (var (key, timeout) in new[] { ("export.aggregator.timeout_seconds", config.Export.Aggregator.TimeoutSeconds), ("export.servers.timeout_seconds", config.Export.Servers.TimeoutSeconds), ("export.jobs.timeout_seconds", config.Export.Jobs.TimeoutSeconds) })
        {
            Check(timeout is >= 0.1 and <= 300, key, "must be between 0.1 and 300");
        }

        Check(config.Export.Retry.InitialBackoffMs is >= 1 and <= 600_000, "export.retry.initial_backoff_ms", "must be between 1 and 600000");
        Check(config.Export.Retry.MaxBackoffMs >= config.Export.Retry.InitialBackoffMs && config.Export.Retry.MaxBackoffMs <= 3_600_000, "export.retry.max_backoff_ms", "must be at least initial_backoff_ms and at most 3600000");
        Check(config.Spool.Dir.Length > 0, "spool.dir", "must not be empty");
        Check(config.Spool.MaxBytes >= 4096, "spool.max_bytes", "must be at least 4096");
        Check(TryParseListen(config.Sidecar.Listen, out _, out _), "sidecar.listen", $"'{config.Sidecar.Listen}' is not host:port (e.g. 127.0.0.1:8000)");
        Check(config.Sidecar.MaxBodyBytes is >= 1024 and <= 64 * 1024 * 1024, "sidecar.max_body_bytes", "must be between 1024 and 67108864");
        Check(config.Sidecar.MaxBatchEvents is >= 1 and <= 100_000, "sidecar.max_batch_events", "must be between 1 and 100000");
        return errors;

        void CheckUrl(string value, string key) =>
            Check(value.Length == 0 || (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"), key, $"'{value}' is not an absolute http(s) URL");
    }

    private static void ValidateTargets(List<ProfilingTargetConfig> targets, List<string> errors)
    {
        Check(targets.Count <= 256, "profiling.targets", "at most 256 targets");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < targets.Count; i++)
        {
            var target = targets[i];
            var key = $"profiling.targets[{i}]";
            if (target is null)
            {
                errors.Add($"{key}: must be a mapping with name, namespace, pod_selector, event_types, sample_rate and tenant");
                continue;
            }

            Check(KubernetesName().IsMatch(target.Name), $"{key}.name", $"'{target.Name}' is not a name (lower-case letters, digits, '-' and '.', at most 253)");
            Check(seen.Add($"{target.Namespace}/{target.Name}"), $"{key}.name", $"'{target.Name}' is named twice in namespace '{target.Namespace}'");
            Check(target.Namespace.Length == 0 || KubernetesLabel().IsMatch(target.Namespace), $"{key}.namespace", $"'{target.Namespace}' is not a namespace name");
            Check(target.PodSelector.Count == 0 || target.Namespace.Length > 0, $"{key}.namespace", "a pod_selector needs the namespace of its pods");
            foreach (var (label, value) in target.PodSelector ?? [])
            {
                Check(LabelKey().IsMatch(label ?? string.Empty), $"{key}.pod_selector", $"'{label}' is not a label key");
                Check(LabelValue().IsMatch(value ?? string.Empty), $"{key}.pod_selector.{label}", $"'{value}' is not a label value");
            }

            Check((target.EventTypes ?? []).Count > 0, $"{key}.event_types", "must name at least one of cpu, lock, syscall");
            foreach (var type in target.EventTypes ?? [])
            {
                Check(ProfilingTargetConfig.EventTypeNames.Contains(type), $"{key}.event_types", $"'{type}' is not one of cpu, lock, syscall");
            }

            Check(target.SampleRate is >= 1 and <= 1000, $"{key}.sample_rate", "must be between 1 and 1000 Hz");
            Check(KubernetesLabel().IsMatch(target.Tenant ?? string.Empty), $"{key}.tenant", $"'{target.Tenant}' is not a tenant id (lower-case letters, digits and '-', at most 63)");
        }

        void Check(bool ok, string key, string message)
        {
            if (!ok)
            {
                errors.Add($"{key}: {message}");
            }
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")]
    private static partial Regex KubernetesName();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
    private static partial Regex KubernetesLabel();

    // An optional DNS-subdomain prefix and a name of at most 63 characters, as Kubernetes label keys are.
    [GeneratedRegex("^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    [GeneratedRegex("^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
    private static partial Regex LabelValue();

    public static bool TryParseListen(string listen, out IPAddress address, out int port)
    {
        address = IPAddress.Any;
        port = 0;
        var colon = listen.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(listen[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 0 or > 65535)
        {
            return false;
        }

        var host = listen[..colon].Trim('[', ']');
        if (host.Length == 0 || host == "0.0.0.0")
        {
            address = IPAddress.Any;
            return true;
        }

        if (host == "localhost")
        {
            address = IPAddress.Loopback;
            return true;
        }

        return IPAddress.TryParse(host, out address!);
    }
}
