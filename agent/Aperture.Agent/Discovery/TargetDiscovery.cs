using Aperture.Agent.Configuration;
using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Discovery;

/// <summary>A pod a target selects, with the host processes found in it.</summary>
public sealed record SelectedPod(WatchedPod Pod, IReadOnlyList<int> Pids);

/// <summary>
/// What one target selects now: every process of the node (no pod selector), or the processes of its pods.
/// <see cref="Error"/> says why pods cannot be known (no Kubernetes, the API unreachable).
/// </summary>
public sealed record TargetSelection(ProfilingTargetConfig Target, bool AllProcesses, IReadOnlyList<SelectedPod> Pods, string? Error)
{
    public IReadOnlyList<int> Pids { get; } = [.. Pods.SelectMany(p => p.Pids).Distinct().Order()];
}

/// <summary>The processes one event type is collected for: every process, or a set (which may be empty).</summary>
public sealed record EventTypeSelection(bool AllProcesses, IReadOnlyList<int> Pids, int Targets)
{
    /// <summary>Whether anything is to be collected at all.</summary>
    public bool Any => Targets > 0 && (AllProcesses || Pids.Count > 0);
}

/// <summary>Every target's selection, and their union per event type.</summary>
public sealed record ProcessSelection(IReadOnlyList<TargetSelection> Targets)
{
    public EventTypeSelection For(string eventType)
    {
        var wanting = Targets.Where(t => t.Target.EventTypes.Contains(eventType)).ToList();
        return new EventTypeSelection(
            wanting.Any(t => t.AllProcesses),
            wanting.Any(t => t.AllProcesses) ? [] : [.. wanting.SelectMany(t => t.Pids).Distinct().Order()],
            wanting.Count);
    }

    /// <summary>The highest sample rate of the targets that want CPU samples.</summary>
    public int? CpuSampleRate =>
        Targets.Where(t => t.Target.EventTypes.Contains(ProfilingTargetConfig.Cpu)).Select(t => (int?)t.Target.SampleRate).Max();
}

/// <summary>
/// Turns <c>profiling.targets</c> into host processes: one <see cref="PodWatch"/> per target with a pod
/// selector (pods of its namespace on this node), and the pods' processes found by their cgroups under
/// <c>&lt;collectors.host_root&gt;/proc</c>. The profiler itself opens the same pids under /proc; in a pod the
/// agent shares the host's PID namespace, so both agree.
/// </summary>
public sealed class TargetDiscovery : IAsyncDisposable
{
    private readonly List<(ProfilingTargetConfig Target, PodWatch? Watch)> _targets = [];
    private readonly KubernetesApiAccess? _api;
    private readonly string _hostRoot;
    private int _changed = 1;

    public TargetDiscovery(AgentConfig config, Func<string, string?> environment, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(config);
        _hostRoot = config.Collectors.HostRoot;
        var kubernetes = config.Discovery.Kubernetes;
        NodeName = kubernetes.NodeName is { Length: > 0 } node ? node : environment("NODE_NAME") is { Length: > 0 } envNode ? envNode : null;
        var server = KubernetesApiAccess.ServerAddress(kubernetes, environment);
        KubernetesEnabled = server is not null;
        ApiServer = server?.ToString();
        var wantsPods = config.Profiling.Targets.Any(t => t.PodSelector.Count > 0);
        if (wantsPods && server is null)
        {
            SetupError = "targets select pods, but the agent does not run in Kubernetes (no KUBERNETES_SERVICE_HOST) and discovery.kubernetes.api_server is not set";
        }
        else if (wantsPods && NodeName is null)
        {
            SetupError = "targets select pods, but the node name is unknown (set NODE_NAME or discovery.kubernetes.node_name)";
        }
        else if (wantsPods)
        {
            try
            {
                _api = KubernetesApiAccess.Create(kubernetes, environment, time);
            }
            catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException)
            {
                SetupError = $"the cluster CA cannot be read: {e.Message}";
            }
        }

        var timing = new PodWatchTiming(
            TimeSpan.FromSeconds(kubernetes.RequestTimeoutSeconds), kubernetes.WatchTimeoutSeconds,
            TimeSpan.FromMilliseconds(kubernetes.InitialBackoffMs), TimeSpan.FromMilliseconds(kubernetes.MaxBackoffMs));
        var logger = loggers.CreateLogger("Aperture.Agent.Discovery");
        foreach (var target in config.Profiling.Targets)
        {
            PodWatch? watch = null;
            if (target.PodSelector.Count > 0 && _api is not null)
            {
                watch = new PodWatch(_api, new PodQuery(target.Namespace, target.PodSelector, NodeName!), timing, time, logger);
                watch.Changed += () => Interlocked.Exchange(ref _changed, 1);
            }

            _targets.Add((target, watch));
        }
    }

    public bool KubernetesEnabled { get; }

    public string? ApiServer { get; }

    public string? NodeName { get; }

    /// <summary>Why pods cannot be watched at all, when targets select pods.</summary>
    public string? SetupError { get; }

    public bool HasTargets => _targets.Count > 0;

    public bool WatchesPods => _targets.Any(t => t.Target.PodSelector.Count > 0);

    /// <summary>Whether every watch has reached the API (true when there is none to make).</summary>
    public bool Connected => SetupError is null && _targets.All(t => t.Watch is null || t.Watch.Connected);

    /// <summary>Lists made by all watches (one at start, one more after each 410 Gone or failure).</summary>
    public long Lists => _targets.Sum(t => t.Watch?.Lists ?? 0);

    public int PodsWatched => _targets.Sum(t => t.Watch?.Pods.Count ?? 0);

    public ProcessSelection? Last { get; private set; }

    /// <summary>Whether pods came or went since the last <see cref="Resolve"/>.</summary>
    public bool PodsChanged => Volatile.Read(ref _changed) == 1;

    /// <summary>Why the targets' pods are not (all) known, or null when they are.</summary>
    public string? Problem =>
        SetupError ?? _targets.Where(t => t.Watch is { Connected: false }).Select(t => $"target {t.Target.Name}: {t.Watch!.LastError ?? "not connected yet"}").FirstOrDefault();

    public void Start()
    {
        foreach (var (_, watch) in _targets)
        {
            watch?.Start();
        }
    }

    /// <summary>Finds the processes of every target's pods now (a scan of the host's cgroups when any target selects pods).</summary>
    public ProcessSelection Resolve()
    {
        Interlocked.Exchange(ref _changed, 0);
        var byPod = WatchesPods ? PodCgroups.ProcessesByPod(_hostRoot) : [];
        var selections = _targets.Select(t =>
        {
            if (t.Target.PodSelector.Count == 0)
            {
                return new TargetSelection(t.Target, true, [], null);
            }

            var pods = t.Watch?.Pods ?? [];
            var error = t.Watch is null ? SetupError : t.Watch.Connected ? null : t.Watch.LastError ?? "not connected yet";
            return new TargetSelection(t.Target, false, [.. pods.Select(p => new SelectedPod(p, byPod.TryGetValue(p.Uid, out var pids) ? pids : []))], error);
        }).ToList();
        Last = new ProcessSelection(selections);
        return Last;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var (_, watch) in _targets)
        {
            if (watch is not null)
            {
                await watch.DisposeAsync();
            }
        }

        _api?.Dispose();
    }
}
