using Aperture.Agent.Profiling.Symbols;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Aperture.Agent.Profiling;

public sealed class KernelEventOptions
{
    /// <summary>The processes to trace, threads included. Empty traces every process, per CPU.</summary>
    public IReadOnlyList<int> Pids { get; set; } = [];

    /// <summary>Trace raw_syscalls/sys_enter and sys_exit.</summary>
    public bool Syscalls { get; set; } = true;

    /// <summary>Trace syscalls/sys_enter_futex and sys_exit_futex (waiting ops only).</summary>
    public bool Locks { get; set; } = true;

    /// <summary>Calls shorter than this are not counted, which keeps the volume of fast syscalls out.</summary>
    public long MinLatencyNs { get; set; }

    public int MaxStackDepth { get; set; } = 127;

    /// <summary>Data pages per CPU ring buffer (a power of two); syscalls are frequent, so larger than the CPU sampler's.</summary>
    public int RingBufferPages { get; set; } = 256;

    /// <summary>How often the ring buffers are emptied: 1 MB each holds a quarter second of a busy CPU's syscalls.</summary>
    public TimeSpan DrainInterval { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Distinct (thread, stack, syscall or lock) rows kept between two collections; more are counted as dropped.</summary>
    public int MaxAggregates { get; set; } = 50_000;

    /// <summary>Threads inside a syscall tracked at once.</summary>
    public int MaxPending { get; set; } = 65_536;

    public IReadOnlyList<string> TracefsRoots { get; set; } = KernelEvents.TracefsRoots;

    public void Validate()
    {
        if (MinLatencyNs < 0)
        {
            throw new ArgumentException($"MinLatencyNs must not be negative, was {MinLatencyNs}.");
        }

        if (MaxStackDepth is < 1 or > 65_535)
        {
            throw new ArgumentException($"MaxStackDepth must be between 1 and 65535, was {MaxStackDepth}.");
        }

        if (RingBufferPages < 1 || (RingBufferPages & (RingBufferPages - 1)) != 0 || RingBufferPages > 4096)
        {
            throw new ArgumentException($"RingBufferPages must be a power of two up to 4096, was {RingBufferPages}.");
        }

        if (DrainInterval <= TimeSpan.Zero || DrainInterval > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentException($"DrainInterval must be positive and at most a minute, was {DrainInterval}.");
        }

        if (MaxAggregates < 1 || MaxPending < 1)
        {
            throw new ArgumentException("MaxAggregates and MaxPending must be positive.");
        }

        if (Pids.Any(p => p <= 0))
        {
            throw new ArgumentException("Pids must hold positive process ids.");
        }
    }
}

/// <summary>
/// Traces syscalls (raw_syscalls/sys_enter, sys_exit) and futex waits (syscalls/sys_enter_futex, sys_exit_futex)
/// with perf_event_open tracepoints, pairs each entry with its exit per thread, and aggregates by the stack at entry.
/// Where tracefs is missing or the kernel refuses, <see cref="Start"/> throws <see cref="ProfilerUnavailableException"/>
/// with the reason and nothing is collected.
/// </summary>
public sealed partial class KernelEventCollector : IDisposable
{
    private const string SysEnter = "raw_syscalls/sys_enter";
    private const string SysExit = "raw_syscalls/sys_exit";
    private const string FutexEnter = "syscalls/sys_enter_futex";
    private const string FutexExit = "syscalls/sys_exit_futex";

    private readonly KernelEventOptions _options;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly List<int> _fds = [];
    private readonly List<PerfRingBuffer> _buffers = [];
    private readonly StackSymbolizer _symbolizer = new();
    private readonly RecordSink _sink;
    private PeriodicDrain? _drain;
    private bool _started;
    private bool _disposed;

    public KernelEventCollector(KernelEventOptions options, ILogger<KernelEventCollector>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _sink = new RecordSink(new KernelEventAggregator(options.MinLatencyNs, options.MaxPending, options.MaxAggregates), options.MaxStackDepth);
    }

    /// <summary>Records that could not be parsed, and records the kernel lost, since Start.</summary>
    public long MalformedRecords => Interlocked.Read(ref _sink.Malformed);

    public long LostRecords => Interlocked.Read(ref _sink.Lost);

    /// <summary>Finds tracefs and reads the format files of the tracepoints wanted; throws with the reason when it cannot.</summary>
    internal static Dictionary<string, TracepointFormat> ReadFormats(IReadOnlyList<string> roots, IEnumerable<string> names)
    {
        var root = roots.FirstOrDefault(r => Directory.Exists(Path.Combine(r, "events")))
            ?? throw new ProfilerUnavailableException($"tracefs is not mounted or not readable at {string.Join(" or ", roots)} (mount it with: mount -t tracefs nodev /sys/kernel/tracing)");
        var formats = new Dictionary<string, TracepointFormat>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            var path = Path.Combine(root, "events", name, "format");
            string text;
            try
            {
                text = File.ReadAllText(path);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new ProfilerUnavailableException($"{path} is not readable ({e.GetType().Name}): this kernel has no {name} tracepoint, or tracefs needs root");
            }

            formats[name] = TracepointFormat.Parse(text) ?? throw new ProfilerUnavailableException($"{path} holds no tracepoint id");
        }

        return formats;
    }

    public void Start()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!OperatingSystem.IsLinux())
        {
            throw new ProfilerUnavailableException("tracepoints need Linux");
        }

        if (!_options.Syscalls && !_options.Locks)
        {
            throw new ProfilerUnavailableException("neither syscall nor lock events are enabled");
        }

        lock (_gate)
        {
            if (_started)
            {
                throw new InvalidOperationException("The collector is already started.");
            }

            var names = new List<string>();
            if (_options.Syscalls)
            {
                names.AddRange([SysEnter, SysExit]);
            }

            if (_options.Locks)
            {
                names.AddRange([FutexEnter, FutexExit]);
            }

            var formats = ReadFormats(_options.TracefsRoots, names);
            _sink.Configure(formats.GetValueOrDefault(SysEnter), formats.GetValueOrDefault(SysExit), formats.GetValueOrDefault(FutexEnter), formats.GetValueOrDefault(FutexExit));
            try
            {
                OpenEvents([.. formats.Values]);
                foreach (var fd in _fds)
                {
                    var enabled = PerfEventInterop.Ioctl(fd, PerfEventInterop.IocEnable, 0);
                    if (enabled < 0)
                    {
                        throw new ProfilerUnavailableException($"enabling a tracepoint event failed ({PerfEventInterop.ErrnoName(-enabled)})");
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
        LogStarted(_logger, _options.Pids.Count == 0 ? "every process" : string.Join(',', _options.Pids), _options.Syscalls, _options.Locks, _buffers.Count);
    }

    /// <summary>Drains the ring buffers and returns the syscalls and futex waits completed since the last call, symbolised, the longest first.</summary>
    public KernelEventBatch Collect()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        lock (_gate)
        {
            if (!_started)
            {
                throw new InvalidOperationException("Start the collector before collecting.");
            }

            DrainAll();
            var (syscalls, locks) = _sink.Aggregator.Take();
            _symbolizer.BeginPass();
            var syscallRows = syscalls.Select(p => new SyscallAggregate(p.Key.Pid, p.Key.Tid, Symbolise(p.Key), SyscallNames.Name(p.Key.Value), p.Value.Count, p.Value.TotalNs, p.Value.First))
                .OrderByDescending(s => s.TotalLatencyNs).ToList();
            var lockRows = locks.Select(p => new LockAggregate(p.Key.Pid, p.Key.Tid, Symbolise(p.Key), (ulong)p.Key.Value, p.Value.Count, p.Value.TotalNs, p.Value.First))
                .OrderByDescending(l => l.TotalWaitNs).ToList();
            return new KernelEventBatch(syscallRows, lockRows, _sink.Aggregator.Dropped);
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

    private List<SampledFrame> Symbolise(KernelEventAggregator.Key key)
    {
        var frames = new List<SampledFrame>(key.Stack.Length);
        for (var i = key.Stack.Length - 1; i >= 0; i--)
        {
            frames.Add(_symbolizer.Resolve(key.Pid, key.Stack[i], key.Kernel[i]));
        }

        return frames;
    }

    private void OpenEvents(IReadOnlyList<TracepointFormat> tracepoints)
    {
        var permissions = HostPermissions.Read();
        var cpus = PerfCpuProfiler.ParseCpuList(ReadText("/sys/devices/system/cpu/online"));
        if (cpus.Count == 0)
        {
            cpus = [.. Enumerable.Range(0, Environment.ProcessorCount)];
        }

        var systemWide = _options.Pids.Count == 0;
        // perf_event_open on a process id traces its main thread only, and inherit covers threads created later:
        // threads that already run are opened one by one.
        var targets = systemWide ? [-1] : _options.Pids.Distinct().SelectMany(ProcessThreads.Of).Distinct().ToList();
        var missing = new HashSet<int>();
        var useClock = true;
        foreach (var cpu in cpus)
        {
            var leader = -1;
            foreach (var pid in targets)
            {
                foreach (var tracepoint in tracepoints)
                {
                    if (missing.Contains(pid))
                    {
                        continue;
                    }

                    var attr = new PerfEventInterop.Attr(
                        Type: PerfEventInterop.PerfTypeTracepoint,
                        Config: (ulong)tracepoint.Id,
                        SamplePeriodOrFreq: 1,
                        Freq: false,
                        SampleType: PerfEventInterop.SampleTid | PerfEventInterop.SampleTime | PerfEventInterop.SampleCallchain | PerfEventInterop.SampleRaw,
                        Disabled: true,
                        Inherit: !systemWide,
                        ExcludeKernel: false,
                        UseClockId: useClock,
                        ClockId: PerfEventInterop.ClockRealtime,
                        SampleMaxStack: (ushort)Math.Min(_options.MaxStackDepth, ushort.MaxValue));
                    var fd = PerfEventInterop.Open(attr, pid, cpu);
                    if (fd == -PerfEventInterop.Einval && useClock)
                    {
                        useClock = false;
                        fd = PerfEventInterop.Open(attr with { UseClockId = false }, pid, cpu);
                    }

                    if (fd == -PerfEventInterop.Esrch && !systemWide)
                    {
                        missing.Add(pid);
                        continue;
                    }

                    if (fd < 0)
                    {
                        var what = $"tracepoint {tracepoint.Name} (id {tracepoint.Id}) {(systemWide ? "system-wide" : $"of process {pid}")} on CPU {cpu}";
                        throw new ProfilerUnavailableException(permissions.ExplainRefusal(-fd, what));
                    }

                    _fds.Add(fd);
                    if (leader < 0)
                    {
                        leader = fd;
                        var buffer = PerfRingBuffer.Map(fd, _options.RingBufferPages, out var errno)
                            ?? throw new ProfilerUnavailableException(
                                $"mapping a perf ring buffer of {_options.RingBufferPages} pages was refused ({PerfEventInterop.ErrnoName(errno)}): "
                                + "raise kernel.perf_event_mlock_kb or the locked-memory limit");
                        _buffers.Add(buffer);
                    }
                    else
                    {
                        var redirected = PerfEventInterop.Ioctl(fd, PerfEventInterop.IocSetOutput, leader);
                        if (redirected < 0)
                        {
                            throw new ProfilerUnavailableException($"redirecting a tracepoint event to its CPU's ring buffer failed ({PerfEventInterop.ErrnoName(-redirected)})");
                        }
                    }
                }
            }
        }

        if (_fds.Count == 0)
        {
            throw new ProfilerUnavailableException($"none of the processes to trace exists: {string.Join(", ", _options.Pids)}");
        }
    }

    private static string? ReadText(string path)
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

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Kernel event collector tracing {Targets} (syscalls {Syscalls}, locks {Locks}) with {RingBuffers} ring buffers")]
    private static partial void LogStarted(ILogger logger, string targets, bool syscalls, bool locks, int ringBuffers);

    [LoggerMessage(EventId = 12, Level = LogLevel.Error, Message = "Draining the tracepoint ring buffers failed")]
    private static partial void LogDrainFailed(ILogger logger, Exception exception);

    /// <summary>Decodes tracepoint records by their common_type and feeds the aggregator.</summary>
    internal sealed class RecordSink(KernelEventAggregator aggregator, int maxDepth) : ITracepointRecordSink
    {
        public long Malformed;
        public long Lost;
        private TracepointFormat? _sysEnter;
        private TracepointFormat? _sysExit;
        private TracepointFormat? _futexEnter;
        private TracepointFormat? _futexExit;

        public KernelEventAggregator Aggregator { get; } = aggregator;

        public void Configure(TracepointFormat? sysEnter, TracepointFormat? sysExit, TracepointFormat? futexEnter, TracepointFormat? futexExit)
        {
            _sysEnter = sysEnter;
            _sysExit = sysExit;
            _futexEnter = futexEnter;
            _futexExit = futexExit;
        }

        public void OnSample(int pid, int tid, ulong timeNs, ulong ip, int cpuMode, ReadOnlySpan<ulong> callchain) => Interlocked.Increment(ref Malformed);

        public void OnLost(ulong lostSamples) => Interlocked.Add(ref Lost, (long)Math.Min(lostSamples, long.MaxValue));

        public void OnRawSample(int pid, int tid, ulong timeNs, ReadOnlySpan<ulong> callchain, ReadOnlySpan<byte> raw)
        {
            if (raw.Length < 2)
            {
                Interlocked.Increment(ref Malformed);
                return;
            }

            var type = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(raw);
            var time = (long)timeNs;
            if (_sysEnter != null && type == _sysEnter.Id)
            {
                if (_sysEnter.Read(raw, "id") is { } nr)
                {
                    var (stack, kernel) = Stack(callchain);
                    Aggregator.OnSyscallEnter(pid, tid, time, nr, stack, kernel);
                }
            }
            else if (_sysExit != null && type == _sysExit.Id)
            {
                if (_sysExit.Read(raw, "id") is { } nr)
                {
                    Aggregator.OnSyscallExit(tid, time, nr);
                }
            }
            else if (_futexEnter != null && type == _futexEnter.Id)
            {
                if (_futexEnter.Read(raw, "uaddr") is { } uaddr && _futexEnter.Read(raw, "op") is { } op)
                {
                    var (stack, kernel) = Stack(callchain);
                    Aggregator.OnFutexEnter(pid, tid, time, (ulong)uaddr, op, stack, kernel);
                }
            }
            else if (_futexExit != null && type == _futexExit.Id)
            {
                Aggregator.OnFutexExit(tid, time);
            }
        }

        private (ulong[] Stack, bool[] Kernel) Stack(ReadOnlySpan<ulong> callchain)
        {
            var frames = PerfCpuProfiler.FramesLeafFirst(callchain, 0, 0, maxDepth);
            var ips = new ulong[frames.Count];
            var kernel = new bool[frames.Count];
            for (var i = 0; i < frames.Count; i++)
            {
                ips[i] = frames[i].Ip;
                kernel[i] = frames[i].Kernel;
            }

            return (ips, kernel);
        }
    }
}
