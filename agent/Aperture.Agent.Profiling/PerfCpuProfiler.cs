using System.Globalization;
using Aperture.Agent.Profiling.Symbols;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Agent.Profiling;

/// <summary>
/// Samples call stacks with perf_event_open (software cpu-clock at a frequency), either of chosen processes and all
/// their threads (one inherited event per process and CPU) or of every process (one event per CPU). User stacks are
/// what the kernel unwinds by frame pointers, so code built without them gives short stacks.
/// </summary>
public sealed partial class PerfCpuProfiler : IDisposable
{
    private const ulong ContextMarkerFloor = unchecked((ulong)-4095L);
    private const ulong ContextHv = unchecked((ulong)-32L);
    private const ulong ContextKernel = unchecked((ulong)-128L);
    private const ulong ContextUser = unchecked((ulong)-512L);
    private const ulong ContextGuestKernel = unchecked((ulong)-2176L);
    private const ulong ContextGuestUser = unchecked((ulong)-2560L);
    private const int CpuModeKernel = 1;

    private readonly CpuProfilerOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Lock _collectGate = new();
    private readonly List<int> _fds = [];
    private readonly List<PerfRingBuffer> _buffers = [];
    private readonly StackSink _sink;
    private readonly StackSymbolizer _symbolizer = new();
    private PeriodicDrain? _drain;
    private bool _started;
    private bool _disposed;

    public PerfCpuProfiler(CpuProfilerOptions options, ILogger<PerfCpuProfiler>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _sink = new StackSink(options.MaxStackDepth);
    }

    /// <summary>Whether sampled stacks include kernel frames (false where the kernel allows user space only).</summary>
    public bool KernelFramesIncluded { get; private set; }

    /// <summary>Samples the kernel dropped because a ring buffer was full (PERF_RECORD_LOST), since Start.</summary>
    public long LostSamples => Interlocked.Read(ref _sink.Lost);

    /// <summary>Samples read from the ring buffers since Start.</summary>
    public long SamplesRead => Interlocked.Read(ref _sink.Samples);

    /// <summary>Records that could not be parsed, since Start; non-zero means a bug or a kernel this reader does not know.</summary>
    public long MalformedRecords => Interlocked.Read(ref _sink.Malformed);

    /// <summary>Tries perf_event_open once, on this process, and closes it.</summary>
    public static ProfilerAvailability Probe()
    {
        var permissions = HostPermissions.Read();
        if (!OperatingSystem.IsLinux())
        {
            return new ProfilerAvailability(false, "CPU profiling needs Linux perf events; this is not Linux");
        }

        var attr = SamplingAttr(99, 127, excludeKernel: false, useClock: false);
        var fd = PerfEventInterop.Open(attr, 0, -1);
        var kernel = true;
        if (fd is -PerfEventInterop.Eacces or -PerfEventInterop.Eperm)
        {
            kernel = false;
            fd = PerfEventInterop.Open(attr with { ExcludeKernel = true }, 0, -1);
        }

        if (fd < 0)
        {
            return new ProfilerAvailability(false, permissions.ExplainRefusal(-fd, "this process"));
        }

        PerfEventInterop.Close(fd);
        var systemWide = permissions.HasPerfmon || permissions.PerfEventParanoid is <= 0;
        return new ProfilerAvailability(true,
            $"perf_event_open works ({permissions.Describe()}): kernel frames {(kernel ? "included" : "not permitted, user space only")}, "
            + $"system-wide sampling {(systemWide ? "permitted" : "not permitted")}");
    }

    /// <summary>Opens the events and starts sampling; throws <see cref="ProfilerUnavailableException"/> with the reason when the kernel refuses.</summary>
    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("The profiler is already started.");
            }

            try
            {
                OpenEvents();
                foreach (var fd in _fds)
                {
                    var enabled = PerfEventInterop.Ioctl(fd, PerfEventInterop.IocEnable, 0);
                    if (enabled < 0)
                    {
                        throw new ProfilerUnavailableException($"enabling a perf event failed ({PerfEventInterop.ErrnoName(-enabled)})");
                    }
                }
            }
            catch
            {
                CloseEvents();
                throw;
            }

            _started = true;
        }

        _drain = new PeriodicDrain(_options.DrainInterval, DrainUnlessDisposed, e => LogDrainFailed(_logger, e));
        LogStarted(_logger, _options.Pids.Count == 0 ? "every process" : string.Join(',', _options.Pids), _options.FrequencyHz, _buffers.Count, KernelFramesIncluded);
    }

    /// <summary>
    /// Drains the ring buffers and returns the stacks sampled since the last call, symbolised and aggregated by
    /// (pid, tid, frames by module and function), the most sampled first. A frame's Ip is one of the addresses
    /// sampled in that function.
    /// </summary>
    public IReadOnlyList<SampledStack> Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        Dictionary<StackKey, StackCount> taken;
        lock (_gate)
        {
            if (!_started)
            {
                throw new InvalidOperationException("Start the profiler before collecting.");
            }

            DrainAll();
            taken = _sink.Take();
        }

        lock (_collectGate)
        {
            _symbolizer.BeginPass();
            // Samples at different instructions of the same functions are one stack to a reader: merge them by name.
            var merged = new Dictionary<(int Pid, int Tid, string Names), SampledStack>();
            foreach (var (key, count) in taken)
            {
                var frames = Symbolise(key);
                var names = string.Join('\n', frames.Select(f => f.Module + "\t" + f.Function));
                merged[(key.Pid, key.Tid, names)] = merged.TryGetValue((key.Pid, key.Tid, names), out var existing)
                    ? existing with
                    {
                        Count = existing.Count + count.Count,
                        FirstTimestampNs = Math.Min(existing.FirstTimestampNs, count.First),
                        LastTimestampNs = Math.Max(existing.LastTimestampNs, count.Last),
                    }
                    : new SampledStack(key.Pid, key.Tid, frames, count.Count, count.First, count.Last);
            }

            var stacks = merged.Values.ToList();
            stacks.Sort((a, b) => b.Count.CompareTo(a.Count));
            return stacks;
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _drain?.Dispose();
        lock (_gate)
        {
            CloseEvents();
        }
    }

    internal static PerfEventInterop.Attr SamplingAttr(int frequencyHz, int maxStack, bool excludeKernel, bool useClock) => new(
        Type: PerfEventInterop.PerfTypeSoftware,
        Config: PerfEventInterop.PerfCountSwCpuClock,
        SamplePeriodOrFreq: (ulong)frequencyHz,
        Freq: true,
        SampleType: PerfEventInterop.SampleIp | PerfEventInterop.SampleTid | PerfEventInterop.SampleTime | PerfEventInterop.SampleCallchain,
        Disabled: true,
        Inherit: false,
        ExcludeKernel: excludeKernel,
        UseClockId: useClock,
        ClockId: PerfEventInterop.ClockRealtime,
        SampleMaxStack: (ushort)Math.Min(maxStack, ushort.MaxValue));

    /// <summary>Turns a leaf-first call chain with context markers into root-first frames.</summary>
    internal static List<(ulong Ip, bool Kernel)> FramesLeafFirst(ReadOnlySpan<ulong> callchain, ulong ip, int cpuMode, int maxDepth)
    {
        var frames = new List<(ulong, bool)>(Math.Min(callchain.Length, maxDepth));
        var kernel = cpuMode == CpuModeKernel;
        foreach (var entry in callchain)
        {
            if (entry >= ContextMarkerFloor)
            {
                kernel = entry is ContextKernel or ContextGuestKernel or ContextHv;
                if (entry is ContextUser or ContextGuestUser)
                {
                    kernel = false;
                }

                continue;
            }

            if (frames.Count < maxDepth)
            {
                frames.Add((entry, kernel));
            }
        }

        if (frames.Count == 0 && ip != 0)
        {
            // No call chain (the kernel could not unwind): keep the sampled instruction at least.
            frames.Add((ip, cpuMode == CpuModeKernel));
        }

        return frames;
    }

    private static string? ReadSysfs(string path)
    {
        try
        {
            return File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Parses a CPU list such as "0-3,8,10-11" (/sys/devices/system/cpu/online).</summary>
    internal static List<int> ParseCpuList(string? list)
    {
        var cpus = new List<int>();
        if (string.IsNullOrWhiteSpace(list))
        {
            return cpus;
        }

        foreach (var part in list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var dash = part.IndexOf('-', StringComparison.Ordinal);
            if (dash < 0)
            {
                if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var cpu))
                {
                    cpus.Add(cpu);
                }
            }
            else if (int.TryParse(part.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out var first)
                && int.TryParse(part.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var last))
            {
                for (var cpu = first; cpu <= last && cpu - first < 65_536; cpu++)
                {
                    cpus.Add(cpu);
                }
            }
        }

        return cpus;
    }

    private void OpenEvents()
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new ProfilerUnavailableException("CPU profiling needs Linux perf events; this is not Linux");
        }

        var permissions = HostPermissions.Read();
        var cpus = ParseCpuList(ReadSysfs("/sys/devices/system/cpu/online"));
        if (cpus.Count == 0)
        {
            cpus = [.. Enumerable.Range(0, Environment.ProcessorCount)];
        }

        var systemWide = _options.Pids.Count == 0;
        var attr = SamplingAttr(_options.FrequencyHz, _options.MaxStackDepth, excludeKernel: false, useClock: true) with { Inherit = !systemWide };
        // Each thread the processes have now gets its own event; inherit adds the threads they make later.
        var targets = systemWide ? [-1] : _options.Pids.Distinct().SelectMany(ProcessThreads.Of).Distinct().ToList();
        var missing = new List<int>();
        KernelFramesIncluded = true;
        foreach (var cpu in cpus)
        {
            var leader = -1;
            foreach (var pid in targets)
            {
                if (missing.Contains(pid))
                {
                    continue;
                }

                var fd = OpenOne(ref attr, pid, cpu);
                if (fd == -PerfEventInterop.Esrch && !systemWide)
                {
                    LogProcessGone(_logger, pid);
                    missing.Add(pid);
                    continue;
                }

                if (fd < 0)
                {
                    var what = systemWide ? $"system-wide sampling on CPU {cpu}" : $"process {pid} on CPU {cpu}";
                    throw new ProfilerUnavailableException(permissions.ExplainRefusal(-fd, what));
                }

                _fds.Add(fd);
                if (leader < 0)
                {
                    leader = fd;
                    var buffer = PerfRingBuffer.Map(fd, _options.RingBufferPages, out var errno);
                    if (buffer == null)
                    {
                        throw new ProfilerUnavailableException(
                            $"mapping a perf ring buffer of {_options.RingBufferPages} pages was refused ({PerfEventInterop.ErrnoName(errno)}): "
                            + "raise kernel.perf_event_mlock_kb or the locked-memory limit, or lower RingBufferPages");
                    }

                    _buffers.Add(buffer);
                }
                else
                {
                    // One ring buffer per CPU, shared by every process's event on that CPU.
                    var redirected = PerfEventInterop.Ioctl(fd, PerfEventInterop.IocSetOutput, leader);
                    if (redirected < 0)
                    {
                        throw new ProfilerUnavailableException($"redirecting a perf event to its CPU's ring buffer failed ({PerfEventInterop.ErrnoName(-redirected)})");
                    }
                }
            }
        }

        if (_fds.Count == 0)
        {
            throw new ProfilerUnavailableException($"none of the processes to profile exists: {string.Join(", ", _options.Pids)}");
        }
    }

    /// <summary>Opens one event, stepping down to user space only, then to the perf clock, as the kernel refuses.</summary>
    private int OpenOne(ref PerfEventInterop.Attr attr, int pid, int cpu)
    {
        while (true)
        {
            var fd = PerfEventInterop.Open(attr, pid, cpu);
            if (fd is -PerfEventInterop.Eacces or -PerfEventInterop.Eperm && !attr.ExcludeKernel)
            {
                attr = attr with { ExcludeKernel = true };
                KernelFramesIncluded = false;
                LogKernelExcluded(_logger);
                continue;
            }

            if (fd == -PerfEventInterop.Einval && attr.UseClockId)
            {
                // Old kernels have no clockid; timestamps then come from the perf clock, not the wall clock.
                attr = attr with { UseClockId = false };
                LogNoRealtimeClock(_logger);
                continue;
            }

            return fd;
        }
    }

    private void CloseEvents() => PerfEventInterop.CloseAll(_fds, _buffers);

    private void DrainAll()
    {
        foreach (var buffer in _buffers)
        {
            var malformed = buffer.Drain(_sink);
            if (malformed > 0)
            {
                Interlocked.Add(ref _sink.Malformed, malformed);
            }
        }

        // Read new processes' maps while they live; but never wait behind a Collect that is symbolising, or the
        // ring buffers would fill meanwhile: the pids stay queued for the next drain.
        if (_sink.HasNewPids && _collectGate.TryEnter())
        {
            try
            {
                foreach (var pid in _sink.TakeNewPids())
                {
                    _symbolizer.Remember(pid);
                }
            }
            finally
            {
                _collectGate.Exit();
            }
        }
    }

    private void DrainUnlessDisposed()
    {
        lock (_gate)
        {
            if (!_disposed)
            {
                DrainAll();
            }
        }
    }

    private List<SampledFrame> Symbolise(StackKey key)
    {
        var frames = new List<SampledFrame>(key.Frames.Length);
        for (var i = key.Frames.Length - 1; i >= 0; i--)
        {
            frames.Add(_symbolizer.Resolve(key.Pid, key.Frames[i], key.KernelMask[i]));
        }

        return frames;
    }

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "CPU profiler sampling {Targets} at {FrequencyHz} Hz with {RingBuffers} ring buffers, kernel frames {KernelFrames}")]
    private static partial void LogStarted(ILogger logger, string targets, int frequencyHz, int ringBuffers, bool kernelFrames);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Kernel sampling not permitted; sampling user space only")]
    private static partial void LogKernelExcluded(ILogger logger);

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "Process {Pid} to profile does not exist; skipped")]
    private static partial void LogProcessGone(ILogger logger, int pid);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "The kernel has no realtime perf clock; sample timestamps use the perf clock")]
    private static partial void LogNoRealtimeClock(ILogger logger);

    [LoggerMessage(EventId = 5, Level = LogLevel.Error, Message = "Draining the perf ring buffers failed")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);

    private sealed class StackKey : IEquatable<StackKey>
    {
        private readonly int _hash;

        public StackKey(int pid, int tid, ulong[] frames, bool[] kernelMask)
        {
            Pid = pid;
            Tid = tid;
            Frames = frames;
            KernelMask = kernelMask;
            var hash = new HashCode();
            hash.Add(pid);
            hash.Add(tid);
            foreach (var frame in frames)
            {
                hash.Add(frame);
            }

            _hash = hash.ToHashCode();
        }

        public int Pid { get; }

        public int Tid { get; }

        public ulong[] Frames { get; }

        public bool[] KernelMask { get; }

        public bool Equals(StackKey? other) => other != null && other._hash == _hash && other.Pid == Pid && other.Tid == Tid
            && other.Frames.AsSpan().SequenceEqual(Frames) && other.KernelMask.AsSpan().SequenceEqual(KernelMask);

        public override bool Equals(object? obj) => Equals(obj as StackKey);

        public override int GetHashCode() => _hash;
    }

    private sealed class StackCount
    {
        public long Count { get; set; }

        public long First { get; set; }

        public long Last { get; set; }
    }

    /// <summary>Aggregates samples as the ring buffers are drained; guarded by the profiler's gate.</summary>
    private sealed class StackSink(int maxDepth) : IPerfRecordSink
    {
        public long Lost;
        public long Samples;
        public long Malformed;
        private readonly HashSet<int> _seenPids = [];
        private readonly List<int> _newPids = [];
        private Dictionary<StackKey, StackCount> _stacks = [];

        public void OnSample(int pid, int tid, ulong timeNs, ulong ip, int cpuMode, ReadOnlySpan<ulong> callchain)
        {
            Interlocked.Increment(ref Samples);
            var frames = FramesLeafFirst(callchain, ip, cpuMode, maxDepth);
            var ips = new ulong[frames.Count];
            var kernel = new bool[frames.Count];
            for (var i = 0; i < frames.Count; i++)
            {
                ips[i] = frames[i].Ip;
                kernel[i] = frames[i].Kernel;
            }

            var key = new StackKey(pid, tid, ips, kernel);
            var time = (long)timeNs;
            if (_stacks.TryGetValue(key, out var count))
            {
                count.Count++;
                count.First = Math.Min(count.First, time);
                count.Last = Math.Max(count.Last, time);
            }
            else
            {
                _stacks[key] = new StackCount { Count = 1, First = time, Last = time };
            }

            if (pid > 0 && _seenPids.Add(pid))
            {
                _newPids.Add(pid);
            }
        }

        public void OnLost(ulong lostSamples) => Interlocked.Add(ref Lost, (long)Math.Min(lostSamples, long.MaxValue));

        public Dictionary<StackKey, StackCount> Take()
        {
            var taken = _stacks;
            _stacks = [];
            if (_seenPids.Count > 100_000)
            {
                _seenPids.Clear();
            }

            return taken;
        }

        public bool HasNewPids => _newPids.Count > 0;

        public List<int> TakeNewPids()
        {
            var pids = new List<int>(_newPids);
            _newPids.Clear();
            return pids;
        }
    }
}
