using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Profiling;

namespace Aperture.Agent.Profiling;

/// <summary>
/// The agent's CPU profiler: <see cref="PerfCpuProfiler"/> (perf_event_open with call chains and
/// symbolisation) behind the agent's <see cref="ICpuProfileSource"/> seam, with <see cref="KernelEventCollector"/>
/// for lock waits and syscalls where the kernel allows tracepoints. A reload that changes the settings starts
/// new samplers; where the kernel refuses, the reason is what the collectors status shows, and the rest of the
/// agent runs on.
/// </summary>
public sealed class PerfCpuProfileSource : ICpuProfileSource, IDisposable
{
    private readonly Lock _gate = new();
    private PerfCpuProfiler? _profiler;
    private readonly List<KernelEventCollector> _kernelEvents = [];
    private CpuProfilerSettings? _settings;
    private CpuProfileProbe _state = new(false, "not started");
    private IReadOnlyList<KernelEventState> _kernelState =
    [
        new("lock_events", false, true, "not started"),
        new("syscall_events", false, true, "not started"),
    ];

    public void Configure(CpuProfilerSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        lock (_gate)
        {
            if (settings.SameAs(_settings))
            {
                return;
            }

            Stop();
            _settings = settings;
            if (!settings.Enabled)
            {
                const string Off = "disabled in the configuration (profiling.enabled: false)";
                _state = new CpuProfileProbe(false, Off);
                _kernelState = [new("lock_events", false, true, Off), new("syscall_events", false, true, Off)];
                return;
            }

            StartKernelEvents(settings);
            if (!settings.CpuSampling)
            {
                _state = new CpuProfileProbe(false, settings.IdleReason ?? "no profiling target asks for cpu samples");
                return;
            }

            var availability = PerfCpuProfiler.Probe();
            if (!availability.Available)
            {
                _state = new CpuProfileProbe(false, availability.Reason);
                return;
            }

            var profiler = new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = settings.SampleRateHz, Pids = settings.Pids });
            try
            {
                profiler.Start();
                _profiler = profiler;
                _state = new CpuProfileProbe(true, $"sampling {Processes(settings.Pids)} at {settings.SampleRateHz} Hz; {availability.Reason}");
            }
            catch (ProfilerUnavailableException e)
            {
                profiler.Dispose();
                _state = new CpuProfileProbe(false, e.Message);
            }
        }
    }

    private static string Processes(IReadOnlyList<int> pids) => pids.Count == 0 ? "every process" : $"{pids.Count} processes";

    public CpuProfileProbe Probe()
    {
        lock (_gate)
        {
            if (_settings is null)
            {
                var availability = PerfCpuProfiler.Probe();
                return new CpuProfileProbe(availability.Available, availability.Reason);
            }

            return _state;
        }
    }

    public IReadOnlyList<KernelEventState> KernelEvents()
    {
        lock (_gate)
        {
            return _kernelState;
        }
    }

    public CpuProfile Collect()
    {
        lock (_gate)
        {
            if (_settings is null)
            {
                return new CpuProfile([], 0);
            }

            var stacks = _profiler is null ? [] : _profiler.Collect().Select(s => new CpuProfileStack(
                Frames(s.FramesRootFirst),
                (ulong)Math.Max(0, s.Count),
                (uint)s.Pid,
                (uint)s.Tid,
                (ulong)Math.Max(0, s.FirstTimestampNs),
                (ulong)Math.Max(0, s.LastTimestampNs))).ToList();
            var events = _kernelEvents.Select(k => k.Collect()).ToList();
            return new CpuProfile(stacks, _profiler is null ? 0 : (ulong)(1_000_000_000L / Math.Max(1, _settings.SampleRateHz)))
            {
                Locks = [.. events.SelectMany(e => e.Locks).Select(l => new LockProfileEvent(
                    Frames(l.FramesRootFirst), (ulong)l.Count, (uint)l.Pid, (uint)l.Tid, (ulong)Math.Max(0, l.FirstTimestampNs), (ulong)Math.Max(0, l.TotalWaitNs), l.LockAddress))],
                Syscalls = [.. events.SelectMany(e => e.Syscalls).Select(s => new SyscallProfileEvent(
                    Frames(s.FramesRootFirst), (ulong)s.Count, (uint)s.Pid, (uint)s.Tid, (ulong)Math.Max(0, s.FirstTimestampNs), (ulong)Math.Max(0, s.TotalLatencyNs), s.Syscall))],
            };
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            Stop();
        }
    }

    private static List<CpuProfileFrame> Frames(IReadOnlyList<SampledFrame> frames) => [.. frames.Select(f => new CpuProfileFrame(f.Ip, f.Function, f.Module))];

    private void Stop()
    {
        _profiler?.Dispose();
        _profiler = null;
        foreach (var collector in _kernelEvents)
        {
            collector.Dispose();
        }

        _kernelEvents.Clear();
    }

    private void StartKernelEvents(CpuProfilerSettings settings)
    {
        var off = settings.IdleReason ?? "disabled in the configuration";
        if (!settings.LockEvents && !settings.SyscallEvents)
        {
            _kernelState =
            [
                new("lock_events", false, true, settings.IdleReason ?? "disabled in the configuration (profiling.lock_events: false)"),
                new("syscall_events", false, true, settings.IdleReason ?? "disabled in the configuration (profiling.syscall_events: false)"),
            ];
            return;
        }

        // Profiling targets may want lock waits of some processes and syscalls of others: one collector each then.
        var together = !settings.LockEvents || !settings.SyscallEvents || settings.EffectiveLockPids.SequenceEqual(settings.EffectiveSyscallPids);
        List<(bool Locks, bool Syscalls, IReadOnlyList<int> Pids)> plans = together
            ? [(settings.LockEvents, settings.SyscallEvents, settings.LockEvents ? settings.EffectiveLockPids : settings.EffectiveSyscallPids)]
            : [(true, false, settings.EffectiveLockPids), (false, true, settings.EffectiveSyscallPids)];
        try
        {
            foreach (var (locks, syscalls, pids) in plans)
            {
                var collector = new KernelEventCollector(new KernelEventOptions { Pids = pids, Locks = locks, Syscalls = syscalls, MinLatencyNs = settings.MinLatencyNs });
                _kernelEvents.Add(collector);
                collector.Start();
            }

            _kernelState =
            [
                settings.LockEvents
                    ? new("lock_events", true, true, $"tracing futex waits of {Processes(settings.EffectiveLockPids)} (syscalls/sys_enter_futex, sys_exit_futex) of at least {settings.MinLatencyNs} ns")
                    : new("lock_events", false, true, settings.IdleReason ?? "disabled in the configuration (profiling.lock_events: false)"),
                settings.SyscallEvents
                    ? new("syscall_events", true, true, $"tracing syscalls of {Processes(settings.EffectiveSyscallPids)} (raw_syscalls/sys_enter, sys_exit) of at least {settings.MinLatencyNs} ns")
                    : new("syscall_events", false, true, settings.IdleReason ?? "disabled in the configuration (profiling.syscall_events: false)"),
            ];
        }
        catch (ProfilerUnavailableException e)
        {
            foreach (var collector in _kernelEvents)
            {
                collector.Dispose();
            }

            _kernelEvents.Clear();
            _kernelState =
            [
                new("lock_events", false, false, settings.LockEvents ? e.Message : off),
                new("syscall_events", false, false, settings.SyscallEvents ? e.Message : off),
            ];
        }
    }
}
