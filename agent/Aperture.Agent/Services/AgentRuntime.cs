using System.Diagnostics.Metrics;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text.Json;
using Aperture.Agent.Api;
using Aperture.Agent.Collectors.Gpu;
using Aperture.Agent.Collectors.Host;
using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Configuration;
using Aperture.Agent.Delivery;
using Aperture.Agent.Diagnostics;
using Aperture.Agent.Discovery;
using Aperture.Contracts;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;

namespace Aperture.Agent.Services;

/// <summary>
/// Everything the agent does, apart from its HTTP surfaces: the configuration in force, the collectors,
/// the spool and the three delivery channels (profiles → aggregator Push, host samples → server-monitoring
/// ingest, job events → the site's jobs API), and the OTLP exporter of its own metrics.
/// </summary>
public sealed partial class AgentRuntime : IDisposable
{
    public const string ProfilesChannel = "profiles";
    public const string SamplesChannel = "samples";
    public const string JobsChannel = "jobs";

    private readonly ILogger _logger;
    private readonly ILoggerFactory _loggers;
    private readonly HttpClient _http = new() { Timeout = Timeout.InfiniteTimeSpan };
    private readonly GrpcPushSender _pushSender;
    private readonly Lock _gate = new();
    private HostSampleCollector _hostCollector;
    private CpuProfileProbe _profileProbe;
    private MeterProvider? _otlp;
    private string? _otlpKey;
    private bool _loggedNoServerToken;
    private TargetDiscovery _targets;
    private string _targetsKey;

    public AgentRuntime(AgentConfigStore config, ICpuProfileSource profiler, TimeProvider time, ILoggerFactory loggers)
    {
        Config = config;
        Profiler = profiler;
        Time = time;
        _logger = loggers.CreateLogger("Aperture.Agent");
        _loggers = loggers;
        StartedAt = time.GetUtcNow();
        Metrics = new AgentMetrics(Version);
        Sequence = new PushSequence(time);
        var current = config.Current;
        _hostCollector = NewHostCollector(current);
        _targetsKey = TargetsKey(current);
        _targets = NewTargetDiscovery(current);
        profiler.Configure(ProfilerSettings(current, _targets.Resolve()));
        _profileProbe = profiler.Probe();
        Spool = new SpoolDirectory(current.Spool.Dir, current.Spool.MaxBytes);
        _pushSender = new GrpcPushSender(AggregatorTarget);
        Profiles = new DeliveryChannel(ProfilesChannel, Spool, _pushSender, time, Retry);
        Samples = new DeliveryChannel(SamplesChannel, Spool, new HttpJsonSender(_http, ServersTarget, maxBatch: 1), time, Retry);
        Jobs = new DeliveryChannel(JobsChannel, Spool, new HttpJsonSender(_http, JobsTarget, maxBatch: current.Export.Jobs.MaxBatch), time, Retry);
        RegisterObservableInstruments();
        ConfigureOtlp(current);
        config.Changed += OnConfigChanged;
    }

    public static string Version { get; } =
        typeof(AgentRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+')[0] ?? "0.0.0";

    public static string Commit { get; } =
        typeof(AgentRuntime).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion?.Split('+') is [_, var commit, ..] ? commit : "unknown";

    public AgentConfigStore Config { get; }

    public ICpuProfileSource Profiler { get; }

    public TimeProvider Time { get; }

    public DateTimeOffset StartedAt { get; }

    public AgentMetrics Metrics { get; }

    public PushSequence Sequence { get; }

    public SpoolDirectory Spool { get; }

    public DeliveryChannel Profiles { get; }

    public DeliveryChannel Samples { get; }

    public DeliveryChannel Jobs { get; }

    public IReadOnlyList<DeliveryChannel> Channels => [Profiles, Samples, Jobs];

    public HostSampleCollector HostCollector => _hostCollector;

    public CpuProfileProbe ProfileProbe => _profileProbe;

    public HostSample? LastHostSample { get; private set; }

    public string? LastHostSampleError { get; private set; }

    public DateTimeOffset? LastProfileAt { get; private set; }

    public string AgentId => Config.Current.Agent.Id is { Length: > 0 } id ? id : Hostname;

    public string Hostname => Config.Current.Agent.Hostname is { Length: > 0 } name ? name : Environment.MachineName;

    public bool OtlpEnabled => _otlp is not null;

    /// <summary>Why host samples are not exported, or null when they are.</summary>
    public string? HostSampleExportSkipped
    {
        get
        {
            var servers = Config.Current.Export.Servers;
            return servers.Endpoint.Length == 0 ? "export.servers.endpoint is not set"
                : servers.Token.Length == 0 ? "no server token configured (export.servers.token / APERTURE_AGENT_EXPORT_SERVERS_TOKEN)"
                : null;
        }
    }

    private RetryPolicy Retry() => new(
        TimeSpan.FromMilliseconds(Config.Current.Export.Retry.InitialBackoffMs),
        TimeSpan.FromMilliseconds(Config.Current.Export.Retry.MaxBackoffMs));

    private AggregatorTarget? AggregatorTarget()
    {
        var aggregator = Config.Current.Export.Aggregator;
        return aggregator.Endpoint.Length == 0 ? null
            : new AggregatorTarget(aggregator.Endpoint, aggregator.Token.Length > 0 ? aggregator.Token : null, TimeSpan.FromSeconds(aggregator.TimeoutSeconds));
    }

    private HttpTarget? ServersTarget()
    {
        var servers = Config.Current.Export.Servers;
        if (HostSampleExportSkipped is not null)
        {
            return null;
        }

        var url = new Uri(new Uri(servers.Endpoint.TrimEnd('/') + "/"), $"api/ingest/servers/{Uri.EscapeDataString(servers.ServerSlug)}/metrics/");
        return new HttpTarget(url, new Dictionary<string, string> { ["X-Monitoring-Token"] = servers.Token }, TimeSpan.FromSeconds(servers.TimeoutSeconds));
    }

    private HttpTarget? JobsTarget()
    {
        var jobs = Config.Current.Export.Jobs;
        // The site's jobs API takes the credential the agent pushes profiles with (an ingestion key, say).
        var token = Config.Current.Export.Aggregator.Token;
        var headers = token.Length > 0 ? new Dictionary<string, string> { ["Authorization"] = $"Bearer {token}" } : new Dictionary<string, string>();
        return jobs.Endpoint.Length == 0 ? null
            : new HttpTarget(new Uri(new Uri(jobs.Endpoint.TrimEnd('/') + "/"), "v1/ingest/events"), headers, TimeSpan.FromSeconds(jobs.TimeoutSeconds));
    }

    /// <summary>
    /// Without targets, the profiling section says what to collect. With targets, their event types and the
    /// processes of their pods do: CPU samples of the union of the cpu targets' processes at the highest of
    /// their rates, lock waits and syscalls of the lock and syscall targets' processes.
    /// </summary>
    private static CpuProfilerSettings ProfilerSettings(AgentConfig config, ProcessSelection selection)
    {
        var profiling = config.Profiling;
        var minLatencyNs = (long)(profiling.MinLatencyMicroseconds * 1000);
        if (profiling.Targets.Count == 0)
        {
            return new(profiling.SampleRate, [.. profiling.Pids])
            {
                Enabled = profiling.Enabled,
                LockEvents = profiling.LockEvents,
                SyscallEvents = profiling.SyscallEvents,
                MinLatencyNs = minLatencyNs,
            };
        }

        var cpu = selection.For(ProfilingTargetConfig.Cpu);
        var locks = selection.For(ProfilingTargetConfig.Lock);
        var syscalls = selection.For(ProfilingTargetConfig.Syscall);
        var waiting = selection.Targets.Where(t => !t.AllProcesses && t.Pids.Count == 0).Select(t => t.Target.Name).ToList();
        return new(selection.CpuSampleRate ?? profiling.SampleRate, cpu.Pids)
        {
            Enabled = profiling.Enabled,
            CpuSampling = cpu.Any,
            LockEvents = locks.Any,
            SyscallEvents = syscalls.Any,
            LockPids = locks.Pids,
            SyscallPids = syscalls.Pids,
            MinLatencyNs = minLatencyNs,
            IdleReason = waiting.Count > 0
                ? $"no process of the pods of profiling targets {string.Join(", ", waiting)} on this node"
                : "no profiling target asks for it",
        };
    }

    private static string TargetsKey(AgentConfig config) =>
        JsonSerializer.Serialize(config.Profiling.Targets, AgentConfigJsonContext.Default.ListProfilingTargetConfig) +
        JsonSerializer.Serialize(config.Discovery, AgentConfigJsonContext.Default.DiscoveryConfig) +
        JsonSerializer.Serialize(config.Collectors.HostRoot, AgentConfigJsonContext.Default.String);

    private TargetDiscovery NewTargetDiscovery(AgentConfig config)
    {
        var discovery = new TargetDiscovery(config, Config.EnvironmentVariable, Time, _loggers);
        discovery.Start();
        return discovery;
    }

    /// <summary>
    /// Finds the processes of the targets' pods again (pods come and go, processes start in them) and hands the
    /// profiler its settings; called once per profiling interval, so the profiler restarts at most that often.
    /// </summary>
    public void ApplyTargets()
    {
        lock (_gate)
        {
            var config = Config.Current;
            if (config.Profiling.Targets.Count == 0)
            {
                return;
            }

            Profiler.Configure(ProfilerSettings(config, _targets.Resolve()));
            _profileProbe = Profiler.Probe();
        }
    }

    /// <summary>Runs one profiling interval: the batch of what was collected, then the targets' processes for the next.</summary>
    public async Task ProfileRoundAsync(CancellationToken cancellationToken)
    {
        try
        {
            await CollectProfileAsync(cancellationToken);
        }
        finally
        {
            ApplyTargets();
        }
    }

    public TargetDiscovery Targets => _targets;

    private static HostSampleCollector NewHostCollector(AgentConfig config) =>
        new(new ProcFileSystem(config.Collectors.HostRoot), GpuSources.Detect(config.Collectors.Gpu.Enabled, config.Collectors.Gpu.NvidiaSmi), TimeProvider.System);

    private void OnConfigChanged(AgentConfig next)
    {
        Metrics.Reloaded();
        lock (_gate)
        {
            if (next.Collectors.HostRoot != _hostCollector.Proc.Root || next.Collectors.Gpu.Enabled != (_hostCollector.Gpus.Name != "none" || !_hostCollector.Gpus.Reason.Contains("disabled", StringComparison.Ordinal)))
            {
                _hostCollector = NewHostCollector(next);
            }

            var key = TargetsKey(next);
            if (key != _targetsKey)
            {
                var old = _targets;
                _targetsKey = key;
                _targets = NewTargetDiscovery(next);
                _ = old.DisposeAsync().AsTask();
            }

            Profiler.Configure(ProfilerSettings(next, _targets.Resolve()));
            _profileProbe = Profiler.Probe();
        }

        Spool.Resize(next.Spool.MaxBytes);
        ConfigureOtlp(next);
        _loggedNoServerToken = false;
    }

    /// <summary>Reads the host once and hands the sample to the server-monitoring channel (when it is configured).</summary>
    public async Task<HostSample?> CollectHostSampleAsync(CancellationToken cancellationToken)
    {
        HostSample sample;
        try
        {
            sample = _hostCollector.Collect();
        }
        catch (Exception error) when (error is HostReadException or IOException or UnauthorizedAccessException)
        {
            LastHostSampleError = error.Message;
            Metrics.HostSampleFailed();
            LogHostSampleFailed(_logger, error.Message);
            return null;
        }

        LastHostSample = sample;
        LastHostSampleError = null;
        Metrics.HostSampleCollected();
        if (HostSampleExportSkipped is { } why)
        {
            if (!_loggedNoServerToken)
            {
                _loggedNoServerToken = true;
                LogHostSampleExportSkipped(_logger, why);
            }

            return sample;
        }

        var payload = JsonSerializer.SerializeToUtf8Bytes(
            new HostSamplePayload(sample, new HostSampleAgent(
                Version,
                Hostname,
                $"{RuntimeInformation.OSDescription} {RuntimeInformation.OSArchitecture}",
                Environment.Version.ToString(),
                Config.Current.Agent.Labels)),
            AgentJsonContext.Default.HostSamplePayload);
        await Samples.SubmitAsync([payload], cancellationToken);
        return sample;
    }

    /// <summary>Drains the profiler into one Push batch (numbered now, once) and hands it to the profiles channel.</summary>
    public async Task<int> CollectProfileAsync(CancellationToken cancellationToken)
    {
        var config = Config.Current;
        // Lock and syscall tracing may be permitted where CPU sampling is not (or the reverse): either is worth a batch.
        if (!config.Profiling.Enabled || !(_profileProbe.Available || Profiler.KernelEvents().Any(k => k.Loaded)))
        {
            return 0;
        }

        var profile = Profiler.Collect();
        if (profile.IsEmpty)
        {
            return 0;
        }

        // One batch per target the events came from; each batch names its tenant and target (the workload).
        var batches = new List<byte[]>();
        var events = 0;
        foreach (var (tenant, target, part) in PushBatchBuilder.ByTarget(profile, _targets.Last))
        {
            var request = PushBatchBuilder.Build(AgentId, Hostname, Sequence.Next(), part);
            request.Target = target;
            if (tenant is not null)
            {
                request.Tenant = tenant;
            }

            Metrics.ProfileBatchMade(request.Events.Sum(e => (long)Math.Max(e.Count, 1)));
            batches.Add(request.ToByteArray());
            events += request.Events.Count;
        }

        LastProfileAt = Time.GetUtcNow();
        await Profiles.SubmitAsync(batches, cancellationToken);
        return events;
    }

    /// <summary>Sends what waits in the spool now, ignoring backoff; returns what each channel delivered.</summary>
    public async Task<Dictionary<string, int>> FlushAsync(CancellationToken cancellationToken)
    {
        var flushed = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var channel in Channels)
        {
            flushed[channel.Name] = await channel.ReplayAsync(force: true, cancellationToken);
        }

        return flushed;
    }

    public async Task ReplayDueAsync(CancellationToken cancellationToken)
    {
        foreach (var channel in Channels)
        {
            await channel.ReplayAsync(force: false, cancellationToken);
        }
    }

    /// <summary>The /ready checks: collectors, export, discovery; each <c>ok</c> or <c>failed: why</c>.</summary>
    public ReadinessReport Readiness()
    {
        var checks = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["collectors"] = LastHostSampleError is { } hostError ? $"failed: host: {hostError}"
                : LastHostSample is null ? "failed: no host sample collected yet"
                : ReadinessReport.Ok,
            ["export"] = Channels.Where(c => c.Sender.Configured && c.Connected == false).Select(c => $"{c.Name}: {c.LastError}").FirstOrDefault() is { } exportError
                ? $"failed: {exportError}"
                : ReadinessReport.Ok,
            ["discovery"] = Discovery.Check(),
        };
        return new ReadinessReport(checks.Values.All(v => v == ReadinessReport.Ok) ? ReadinessReport.Ready : ReadinessReport.NotReady, checks);
    }

    public DiscoveryStatus Discovery => new(Config.EnvironmentVariable, Config.Current.Collectors.HostRoot, _targets);

    private void RegisterObservableInstruments()
    {
        var meter = Metrics.Meter;
        meter.CreateObservableCounter("aperture.agent.host_samples", () => Metrics.HostSamples, description: "Host samples collected");
        meter.CreateObservableCounter("aperture.agent.profile_batches", () => Metrics.ProfileBatches, description: "Profile batches made");
        meter.CreateObservableCounter("aperture.agent.sidecar_events", () => Metrics.SidecarEvents, description: "Job events received by the sidecar");
        meter.CreateObservableCounter("aperture.agent.delivery.forwarded", () => Channels.Select(c => new Measurement<long>(c.Forwarded + c.Replayed, new KeyValuePair<string, object?>("channel", c.Name))), description: "Payloads delivered upstream");
        meter.CreateObservableCounter("aperture.agent.spool.dropped", () => Channels.Select(c => new Measurement<long>(c.Dropped, new KeyValuePair<string, object?>("channel", c.Name))), description: "Payloads dropped from a full spool");
        meter.CreateObservableGauge("aperture.agent.spool.entries", () => Channels.Select(c => new Measurement<int>(c.Waiting, new KeyValuePair<string, object?>("channel", c.Name))), description: "Payloads waiting in the spool");
        meter.CreateObservableGauge("aperture.agent.process.resident_memory", AgentMetrics.ProcessResidentBytes, unit: "By");
    }

    private void ConfigureOtlp(AgentConfig config)
    {
        var otlp = config.Export.Otlp;
        var key = otlp.Endpoint.Length == 0 ? null : $"{otlp.Endpoint}|{otlp.Protocol}|{otlp.IntervalSeconds}|{string.Join(',', otlp.Headers.Select(h => h.Key + "=" + h.Value))}";
        lock (_gate)
        {
            if (key == _otlpKey)
            {
                return;
            }

            _otlp?.Dispose();
            _otlp = null;
            _otlpKey = key;
            if (key is null)
            {
                return;
            }

            var protocol = otlp.Protocol == "grpc" ? OtlpExportProtocol.Grpc : OtlpExportProtocol.HttpProtobuf;
            var endpoint = new Uri(otlp.Endpoint);
            if (protocol == OtlpExportProtocol.HttpProtobuf && endpoint.AbsolutePath is "/" or "")
            {
                endpoint = new Uri(endpoint, "v1/metrics");
            }

            _otlp = Sdk.CreateMeterProviderBuilder()
                .AddMeter(AgentMetrics.MeterName)
                .AddOtlpExporter((exporter, reader) =>
                {
                    exporter.Endpoint = endpoint;
                    exporter.Protocol = protocol;
                    exporter.Headers = string.Join(',', otlp.Headers.Select(h => $"{h.Key}={h.Value}"));
                    reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = (int)(otlp.IntervalSeconds * 1000);
                })
                .Build();
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "Host sample failed: {Error}")]
    private static partial void LogHostSampleFailed(ILogger logger, string error);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Host samples are collected but not exported: {Reason}")]
    private static partial void LogHostSampleExportSkipped(ILogger logger, string reason);

    /// <summary>Ends the pod watches (the host calls this before <see cref="Dispose"/>).</summary>
    public async ValueTask StopDiscoveryAsync()
    {
        TargetDiscovery targets;
        lock (_gate)
        {
            targets = _targets;
        }

        await targets.DisposeAsync();
    }

    public void Dispose()
    {
        Config.Changed -= OnConfigChanged;
        lock (_gate)
        {
            _otlp?.Dispose();
            _otlp = null;
            _ = _targets.DisposeAsync().AsTask();
        }

        foreach (var channel in Channels)
        {
            channel.Dispose();
        }

        _pushSender.Dispose();
        _http.Dispose();
        Metrics.Dispose();
    }
}
