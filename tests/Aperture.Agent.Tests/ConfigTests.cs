using Aperture.Agent.Configuration;

namespace Aperture.Agent.Tests;

public sealed class ConfigTests
{
    private const string Example = """
        agent:
          id: node-7
          labels: {rack: r1, role: trainer}
        self_telemetry:
          listen: ":19090"
          auth:
            enabled: true
            bearer_token: "${API_TOKEN}"
          rate_limit: {enabled: true, requests_per_second: 50}
          cors:
            enabled: true
            allowed_origins: ["http://localhost:3000"]
        export:
          aggregator: {endpoint: "http://aggregator:50051"}
          servers: {endpoint: "http://aggregator:9090", server_slug: gpu-box-01, token: "${SERVER_TOKEN}"}
          jobs: {endpoint: "http://aggregator:18000"}
        spool: {dir: /var/lib/aperture-agent/spool, max_bytes: 1048576}
        sidecar: {listen: "0.0.0.0:8000", site_id: fab1}
        """;

    private static Dictionary<string, string?> Env(params (string Key, string Value)[] pairs) =>
        pairs.ToDictionary(p => p.Key, p => (string?)p.Value, StringComparer.Ordinal);

    [Fact]
    public void The_spec_style_file_loads_with_variables_expanded()
    {
        var config = AgentConfigLoader.Parse(Example, Env(("API_TOKEN", "s3cret"), ("SERVER_TOKEN", "srv")));

        Assert.Equal("node-7", config.Agent.Id);
        Assert.Equal("r1", config.Agent.Labels["rack"]);
        Assert.Equal(":19090", config.SelfTelemetry.Listen);
        Assert.True(config.SelfTelemetry.Auth.Enabled);
        Assert.Equal("s3cret", config.SelfTelemetry.Auth.BearerToken);
        Assert.Equal(50, config.SelfTelemetry.RateLimit.RequestsPerSecond);
        Assert.Equal(["http://localhost:3000"], config.SelfTelemetry.Cors.AllowedOrigins);
        Assert.Equal("gpu-box-01", config.Export.Servers.ServerSlug);
        Assert.Equal("srv", config.Export.Servers.Token);
        Assert.Equal(1048576, config.Spool.MaxBytes);
        Assert.Equal("fab1", config.Sidecar.SiteId);
        Assert.Empty(AgentConfigLoader.Validate(config));
    }

    [Fact]
    public void Environment_overrides_and_the_shared_token()
    {
        using var dir = new Aperture.Testing.TemporaryDirectory("agent-config");
        var path = Path.Combine(dir.Path, "agent.yaml");
        File.WriteAllText(path, "export:\n  aggregator: {endpoint: \"http://a:50051\"}\n");

        var config = AgentConfigLoader.Load(path, Env(
            ("APERTURE_AGENT_EXPORT_AGGREGATOR_ENDPOINT", "http://b:50051"),
            ("APERTURE_AGENT_SELF_TELEMETRY_RATE_LIMIT_REQUESTS_PER_SECOND", "7"),
            ("APERTURE_AGENT_SELF_TELEMETRY_CORS_ALLOWED_ORIGINS", "http://a.example, http://b.example"),
            ("APERTURE_AGENT_SPOOL_MAX_BYTES", "65536"),
            ("APERTURE_AUTH_TOKEN", "shared")));

        Assert.Equal("http://b:50051", config.Export.Aggregator.Endpoint);
        Assert.Equal(7, config.SelfTelemetry.RateLimit.RequestsPerSecond);
        Assert.Equal(["http://a.example", "http://b.example"], config.SelfTelemetry.Cors.AllowedOrigins);
        Assert.Equal(65536, config.Spool.MaxBytes);
        // APERTURE_AUTH_TOKEN is the push token and guards the agent's own API.
        Assert.Equal("shared", config.Export.Aggregator.Token);
        Assert.True(config.SelfTelemetry.Auth.Enabled);
        Assert.Equal("shared", config.SelfTelemetry.Auth.BearerToken);
    }

    [Fact]
    public void Validation_names_every_bad_key()
    {
        var config = AgentConfigLoader.Parse("""
            self_telemetry:
              listen: "nonsense"
              auth: {enabled: true}
            export:
              aggregator: {endpoint: "aggregator:50051"}
              servers: {endpoint: "http://x:9090"}
            spool: {max_bytes: 10}
            """, Env());

        var errors = AgentConfigLoader.Validate(config);

        Assert.Contains(errors, e => e.StartsWith("self_telemetry.listen:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("self_telemetry.auth.bearer_token:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("export.aggregator.endpoint:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("export.servers.server_slug:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("spool.max_bytes:", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_key_or_a_bad_override_is_an_error_with_its_place()
    {
        var unknown = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Parse("spool:\n  max_byts: 10\n", Env()));
        Assert.Contains("line 2", unknown.Errors[0], StringComparison.Ordinal);
        Assert.Contains("max_byts", unknown.Errors[0], StringComparison.Ordinal);

        var bad = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Load(null, Env(("APERTURE_AGENT_SPOOL_MAX_BYTES", "lots"))));
        Assert.Contains("APERTURE_AGENT_SPOOL_MAX_BYTES", bad.Errors[0], StringComparison.Ordinal);
    }

    [Fact]
    public void Secrets_are_redacted()
    {
        var config = AgentConfigLoader.Parse(Example, Env(("API_TOKEN", "s3cret"), ("SERVER_TOKEN", "srv")));
        config.Export.Otlp.Headers["x-api-key"] = "k";

        var json = ConfigRedaction.Redact(config).ToJsonString();

        Assert.DoesNotContain("s3cret", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"srv\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"k\"", json, StringComparison.Ordinal);
        Assert.Contains("\"bearer_token\":\"[REDACTED]\"", json, StringComparison.Ordinal);
        Assert.Contains("\"x-api-key\":\"[REDACTED]\"", json, StringComparison.Ordinal);
        Assert.Contains("gpu-box-01", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Profiling_targets_and_kubernetes_discovery_load()
    {
        var config = AgentConfigLoader.Parse("""
            profiling:
              targets:
                - name: checkout
                  namespace: shop
                  pod_selector: {app: checkout, "app.kubernetes.io/part-of": shop}
                  event_types: [cpu, lock]
                  sample_rate: 199
                - {name: everything, event_types: [syscall]}
            discovery:
              kubernetes: {api_server: "http://127.0.0.1:6443", token_file: /tmp/token, node_name: node-a}
            """, Env());

        Assert.Empty(AgentConfigLoader.Validate(config));
        var checkout = config.Profiling.Targets[0];
        Assert.Equal(("checkout", "shop", 199), (checkout.Name, checkout.Namespace, checkout.SampleRate));
        Assert.Equal("shop", checkout.PodSelector["app.kubernetes.io/part-of"]);
        Assert.Equal(["cpu", "lock"], checkout.EventTypes);
        Assert.Empty(config.Profiling.Targets[1].PodSelector);
        Assert.Equal(99, config.Profiling.Targets[1].SampleRate);
        Assert.Equal("http://127.0.0.1:6443", config.Discovery.Kubernetes.ApiServer);
        Assert.Equal("node-a", config.Discovery.Kubernetes.NodeName);
    }

    [Fact]
    public void Bad_targets_are_errors_that_name_their_key()
    {
        var config = AgentConfigLoader.Parse("""
            profiling:
              targets:
                - {name: "Not A Name", namespace: shop, event_types: [cpu, gpu], sample_rate: 5000}
                - {name: ok, pod_selector: {app: x}, event_types: []}
                - {name: ok2, namespace: shop, pod_selector: {"bad key!": "v"}, sample_rate: 0}
            discovery:
              kubernetes: {api_server: "ftp://nowhere"}
            """, Env());

        var errors = AgentConfigLoader.Validate(config);

        Assert.Contains(errors, e => e.StartsWith("profiling.targets[0].name:", StringComparison.Ordinal) && e.Contains("Not A Name", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[0].event_types:", StringComparison.Ordinal) && e.Contains("'gpu'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[0].sample_rate:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[1].namespace:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[1].event_types:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[2].pod_selector:", StringComparison.Ordinal) && e.Contains("bad key!", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("profiling.targets[2].sample_rate:", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("discovery.kubernetes.api_server:", StringComparison.Ordinal));
        Assert.Equal(8, errors.Count);
    }

    [Fact]
    public void An_unknown_key_in_a_target_is_an_error()
    {
        var error = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Parse("profiling:\n  targets:\n    - {name: a, pod_selektor: {app: x}}\n", Env()));

        Assert.Contains("pod_selektor", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_value_of_the_wrong_kind_is_an_error_with_its_place()
    {
        var error = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Parse("""
            profiling:
              sample_rate: fast
              pids: 7
            collectors: {gpu: {enabled: maybe}}
            """, Env()));

        Assert.Equal(3, error.Errors.Count);
        Assert.Contains(error.Errors, e => e.StartsWith("line 2, column 16: profiling.sample_rate:", StringComparison.Ordinal) && e.Contains("'fast'", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("line 3, column 9: profiling.pids:", StringComparison.Ordinal) && e.Contains("not a list", StringComparison.Ordinal));
        Assert.Contains(error.Errors, e => e.StartsWith("line 4, column 29: collectors.gpu.enabled:", StringComparison.Ordinal) && e.Contains("true or false", StringComparison.Ordinal));
    }

    [Fact]
    public void Scalars_take_the_type_of_their_key_and_empty_values_keep_the_default()
    {
        var config = AgentConfigLoader.Parse("""
            agent: {id: 123, hostname: "true"}
            collectors: {interval_seconds: 2.5, gpu: {enabled: false}}
            profiling: {sample_rate: "199", pids: [10, 20], targets: [~]}
            spool: {max_bytes: 8589934592}
            sidecar:
            """, Env());

        Assert.Equal("123", config.Agent.Id);
        Assert.Equal("true", config.Agent.Hostname);
        Assert.Equal(2.5, config.Collectors.IntervalSeconds);
        Assert.False(config.Collectors.Gpu.Enabled);
        Assert.Equal(199, config.Profiling.SampleRate);
        Assert.Equal([10, 20], config.Profiling.Pids);
        Assert.Null(Assert.Single(config.Profiling.Targets));
        Assert.Equal(8589934592L, config.Spool.MaxBytes);
        Assert.True(config.Sidecar.Enabled);
        Assert.Equal("127.0.0.1:8000", config.Sidecar.Listen);
        Assert.Contains(AgentConfigLoader.Validate(config), e => e.StartsWith("profiling.targets[0]:", StringComparison.Ordinal));
    }

    [Fact]
    public void An_empty_file_or_a_yaml_syntax_error()
    {
        Assert.Empty(AgentConfigLoader.Validate(AgentConfigLoader.Parse("# nothing yet\n", Env())));

        var syntax = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Parse("agent:\n  id: x: y\n", Env()));
        Assert.StartsWith("line 2, column ", syntax.Errors[0], StringComparison.Ordinal);

        var unclosed = Assert.Throws<AgentConfigException>(() => AgentConfigLoader.Parse("agent: {id: x\nspool: [", Env()));
        Assert.Contains("not valid YAML", unclosed.Errors[0], StringComparison.Ordinal);
    }
}
