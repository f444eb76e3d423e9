namespace Aperture.Agent.Configuration;

/// <summary>
/// The agent's configuration file (YAML, snake_case keys, in the style of agent-api.md). Every section
/// has defaults, so an empty file is a working agent that collects this host and serves its API on
/// 127.0.0.1:19090; unknown keys are errors so that a typo never passes silently.
/// </summary>
public sealed class AgentConfig
{
    public string Mode { get; set; } = "agent";

    public AgentIdentityConfig Agent { get; set; } = new();

    public SelfTelemetryConfig SelfTelemetry { get; set; } = new();

    public CollectorsConfig Collectors { get; set; } = new();

    public ProfilingConfig Profiling { get; set; } = new();

    public ExportConfig Export { get; set; } = new();

    public SpoolConfig Spool { get; set; } = new();

    public SidecarConfig Sidecar { get; set; } = new();

    public DiscoveryConfig Discovery { get; set; } = new();
}

public sealed class AgentIdentityConfig
{
    /// <summary>The agent id in every Push; the host name when empty.</summary>
    public string Id { get; set; } = string.Empty;

    /// <summary>The host name reported with samples; the machine's when empty (a pod sets it from the node name).</summary>
    public string Hostname { get; set; } = string.Empty;

    public Dictionary<string, string> Labels { get; set; } = [];
}

public sealed class SelfTelemetryConfig
{
    /// <summary><c>host:port</c>; an empty host (<c>:19090</c>) listens on every interface.</summary>
    public string Listen { get; set; } = "127.0.0.1:19090";

    public AuthConfig Auth { get; set; } = new();

    public RateLimitConfig RateLimit { get; set; } = new();

    public CorsConfig Cors { get; set; } = new();

    public DebugConfig Debug { get; set; } = new();
}

public sealed class AuthConfig
{
    public bool Enabled { get; set; }

    public string BearerToken { get; set; } = string.Empty;
}

public sealed class RateLimitConfig
{
    public bool Enabled { get; set; }

    public int RequestsPerSecond { get; set; } = 100;

    /// <summary>Requests allowed at once above the steady rate; the rate when 0.</summary>
    public int Burst { get; set; }
}

public sealed class CorsConfig
{
    public bool Enabled { get; set; }

    public List<string> AllowedOrigins { get; set; } = [];
}

public sealed class DebugConfig
{
    /// <summary>Serves /debug/vars and /debug/pprof/*; they answer 404 otherwise.</summary>
    public bool Enabled { get; set; }
}

public sealed class CollectorsConfig
{
    /// <summary>Where the host's /proc and /sys are: <c>/</c> on a host, the mount of the host's root in a pod.</summary>
    public string HostRoot { get; set; } = "/";

    public double IntervalSeconds { get; set; } = 10;

    public GpuConfig Gpu { get; set; } = new();
}

public sealed class GpuConfig
{
    public bool Enabled { get; set; } = true;

    /// <summary>The fallback when NVML cannot be loaded: a name looked up on PATH, or a path.</summary>
    public string NvidiaSmi { get; set; } = "nvidia-smi";
}

public sealed class ProfilingConfig
{
    public bool Enabled { get; set; } = true;

    /// <summary>Samples per second per CPU (Hz).</summary>
    public int SampleRate { get; set; } = 99;

    /// <summary>How often the aggregated stacks are collected into a batch and pushed.</summary>
    public double IntervalSeconds { get; set; } = 10;

    /// <summary>Process ids to profile; all processes when empty.</summary>
    public List<int> Pids { get; set; } = [];

    /// <summary>Trace futex waits with kernel tracepoints, where the kernel allows them.</summary>
    public bool LockEvents { get; set; } = true;

    /// <summary>Trace syscalls with kernel tracepoints, where the kernel allows them.</summary>
    public bool SyscallEvents { get; set; } = true;

    /// <summary>Syscalls and lock waits shorter than this (microseconds) are not counted, which keeps the volume down.</summary>
    public double MinLatencyMicroseconds { get; set; } = 10;

    /// <summary>
    /// What to profile, by pod (the operator writes one per ProfilingTarget). When any is set, the targets
    /// decide the processes, event types and sample rate, and pids / lock_events / syscall_events / sample_rate
    /// above are not used.
    /// </summary>
    public List<ProfilingTargetConfig> Targets { get; set; } = [];
}

public sealed class ProfilingTargetConfig
{
    public const string Cpu = "cpu";
    public const string Lock = "lock";
    public const string Syscall = "syscall";

    public static IReadOnlyList<string> EventTypeNames { get; } = [Cpu, Lock, Syscall];

    public string Name { get; set; } = string.Empty;

    /// <summary>The namespace whose pods are selected.</summary>
    public string Namespace { get; set; } = string.Empty;

    /// <summary>Pod labels that must all match; every process on the node when empty.</summary>
    public Dictionary<string, string> PodSelector { get; set; } = [];

    public List<string> EventTypes { get; set; } = [Cpu];

    /// <summary>CPU samples per second per CPU (Hz).</summary>
    public int SampleRate { get; set; } = 99;

    /// <summary>
    /// The tenant id the target's data belongs to (the ProfilingTarget's Tenant; <c>default</c> without one).
    /// It is read and validated, but the agent does not act on it yet: every batch is still pushed with the
    /// agent's one credential, whose tenant the aggregator stamps.
    /// </summary>
    public string Tenant { get; set; } = DefaultTenant;

    public const string DefaultTenant = "default";
}

public sealed class DiscoveryConfig
{
    public KubernetesDiscoveryConfig Kubernetes { get; set; } = new();
}

/// <summary>
/// How the agent reaches the Kubernetes API to find the pods of its targets. Empty values mean the in-cluster
/// defaults: https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT and the pod's service-account token and CA.
/// </summary>
public sealed class KubernetesDiscoveryConfig
{
    public const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    public string ApiServer { get; set; } = string.Empty;

    /// <summary>Re-read every <see cref="TokenRefreshSeconds"/>: the kubelet rotates projected tokens.</summary>
    public string TokenFile { get; set; } = string.Empty;

    public string CaFile { get; set; } = string.Empty;

    /// <summary>The node whose pods are watched; NODE_NAME (set by the DaemonSet) when empty.</summary>
    public string NodeName { get; set; } = string.Empty;

    public double RequestTimeoutSeconds { get; set; } = 10;

    /// <summary>How long one watch request lasts before it is renewed (the server's timeoutSeconds).</summary>
    public int WatchTimeoutSeconds { get; set; } = 300;

    public double TokenRefreshSeconds { get; set; } = 60;

    public int InitialBackoffMs { get; set; } = 500;

    public int MaxBackoffMs { get; set; } = 30_000;
}

public sealed class ExportConfig
{
    public AggregatorExportConfig Aggregator { get; set; } = new();

    public ServersExportConfig Servers { get; set; } = new();

    public JobsExportConfig Jobs { get; set; } = new();

    public OtlpExportConfig Otlp { get; set; } = new();

    public RetryConfig Retry { get; set; } = new();
}

public sealed class AggregatorExportConfig
{
    /// <summary>The aggregator's gRPC address (<c>http://aggregator:50051</c>); profiles are not pushed when empty.</summary>
    public string Endpoint { get; set; } = string.Empty;

    /// <summary>The bearer token the aggregator wants (APERTURE_AUTH_TOKEN when empty).</summary>
    public string Token { get; set; } = string.Empty;

    public double TimeoutSeconds { get; set; } = 10;
}

public sealed class ServersExportConfig
{
    /// <summary>The runtime's HTTP address (<c>http://aggregator:9090</c>); host samples go to its ingest API.</summary>
    public string Endpoint { get; set; } = string.Empty;

    /// <summary>The slug of this host's MonitoredServer.</summary>
    public string ServerSlug { get; set; } = string.Empty;

    /// <summary>The server's ingest token (X-Monitoring-Token); host samples are not sent without one.</summary>
    public string Token { get; set; } = string.Empty;

    public double TimeoutSeconds { get; set; } = 10;
}

public sealed class JobsExportConfig
{
    /// <summary>The site's local jobs API (<c>http://aggregator:18000</c>); job events wait in the spool while empty.</summary>
    public string Endpoint { get; set; } = string.Empty;

    public double TimeoutSeconds { get; set; } = 10;

    /// <summary>The most events one forward carries.</summary>
    public int MaxBatch { get; set; } = 500;
}

public sealed class OtlpExportConfig
{
    /// <summary>An OTLP collector for the agent's own metrics (<c>http://collector:4317</c>); off when empty.</summary>
    public string Endpoint { get; set; } = string.Empty;

    /// <summary><c>grpc</c> or <c>http/protobuf</c>.</summary>
    public string Protocol { get; set; } = "grpc";

    public double IntervalSeconds { get; set; } = 30;

    /// <summary>Extra headers for the collector (e.g. an API key); redacted in /config.</summary>
    public Dictionary<string, string> Headers { get; set; } = [];
}

public sealed class RetryConfig
{
    public int InitialBackoffMs { get; set; } = 500;

    public int MaxBackoffMs { get; set; } = 30_000;
}

public sealed class SpoolConfig
{
    public string Dir { get; set; } = "/var/lib/aperture-agent/spool";

    /// <summary>The spool's size limit; past it the oldest payloads are dropped (and counted).</summary>
    public long MaxBytes { get; set; } = 256L * 1024 * 1024;
}

public sealed class SidecarConfig
{
    public bool Enabled { get; set; } = true;

    public string Listen { get; set; } = "127.0.0.1:8000";

    /// <summary>Filled into events that carry no site_id.</summary>
    public string SiteId { get; set; } = string.Empty;

    public int MaxBodyBytes { get; set; } = 1024 * 1024;

    public int MaxBatchEvents { get; set; } = 1000;
}
