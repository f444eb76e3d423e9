using Aperture.Agent.Collectors.Profiling;
using Aperture.Agent.Profiling;

namespace Aperture.Agent.Profiling;

/// <summary>
/// The agent's CPU profiler: <see cref="PerfCpuProfiler"/> (perf_event_open with call chains and
/// symbolisation) behind the agent's <see cref="ICpuProfileSource"/> seam. A reload that changes the
/// rate or the processes starts a new sampler; where the kernel refuses, the reason is what the
/// collectors status shows, and the rest of the agent runs on.
/// </summary>
public sealed class PerfCpuProfileSource : ICpuProfileSource, IDisposable
{
    private readonly Lock _gate = new();
    private PerfCpuProfiler? _profiler;
    private CpuProfilerSettings? _settings;
    private CpuProfileProbe _state = new(false, "not started");

    public void Configure(CpuProfilerSettings settings)
    {
        lock (_gate)
        {
            if (_settings is not null && _settings.SampleRateHz == settings.SampleRateHz && _settings.Pids.SequenceEqual(settings.Pids) && _profiler is not null)
            {
                return;
            }

            _profiler?.Dispose();
            _profiler = null;
            _settings = settings;
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
                _state = new CpuProfileProbe(true, $"sampling {(settings.Pids.Count == 0 ? "every process" : $"{settings.Pids.Count} processes")} at {settings.SampleRateHz} Hz; {availability.Reason}");
            }
            catch (ProfilerUnavailableException e)
            {
                profiler.Dispose();
                _state = new CpuProfileProbe(false, e.Message);
            }
        }
    }

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

    public CpuProfile Collect()
    {
        lock (_gate)
        {
            if (_profiler is null || _settings is null)
            {
                return new CpuProfile([], 0);
            }

            var stacks = _profiler.Collect().Select(s => new CpuProfileStack(
                [.. s.FramesRootFirst.Select(f => new CpuProfileFrame(f.Ip, f.Function, f.Module))],
                (ulong)Math.Max(0, s.Count),
                (uint)s.Pid,
                (uint)s.Tid,
                (ulong)Math.Max(0, s.FirstTimestampNs),
                (ulong)Math.Max(0, s.LastTimestampNs))).ToList();
            return new CpuProfile(stacks, (ulong)(1_000_000_000L / Math.Max(1, _settings.SampleRateHz)));
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            _profiler?.Dispose();
            _profiler = null;
        }
    }
}
