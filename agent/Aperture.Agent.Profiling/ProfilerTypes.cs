namespace Aperture.Agent.Profiling;

/// <summary>Whether this host lets the agent sample CPUs, and in words why not when it does not.</summary>
public sealed record ProfilerAvailability(bool Available, string Reason);

/// <summary>One frame of a sampled stack: the instruction pointer and what it resolved to.</summary>
/// <param name="Function">The symbol, or "[unknown]" when the module has no symbol for it, or the hex ip when
/// not even the module is known.</param>
/// <param name="Module">The file name of the mapping ("libc.so.6"), "[kernel.kallsyms]", "[perf-map]" for
/// JIT code found in /tmp/perf-PID.map, a pseudo-mapping such as "[vdso]", or "[unknown]".</param>
public sealed record SampledFrame(ulong Ip, string Function, string Module);

/// <summary>How many samples hit one stack of one thread between two collections.</summary>
/// <param name="FramesRootFirst">Outermost caller first, the sampled instruction last.</param>
/// <param name="FirstTimestampNs">Unix epoch nanoseconds (CLOCK_REALTIME) of the first sample of this stack.</param>
public sealed record SampledStack(
    int Pid,
    int Tid,
    IReadOnlyList<SampledFrame> FramesRootFirst,
    long Count,
    long FirstTimestampNs,
    long LastTimestampNs);

/// <summary>Thrown by <see cref="PerfCpuProfiler.Start"/> when the kernel refuses to sample.</summary>
public sealed class ProfilerUnavailableException : Exception
{
    public ProfilerUnavailableException()
    {
    }

    public ProfilerUnavailableException(string message)
        : base(message)
    {
    }

    public ProfilerUnavailableException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

public sealed class CpuProfilerOptions
{
    /// <summary>Samples per second per CPU (or per thread being sampled). 99 keeps clear of lockstep with 100 Hz timers.</summary>
    public int FrequencyHz { get; set; } = 99;

    /// <summary>The processes to sample, threads included (inherit). Empty samples every process, per CPU.</summary>
    public IReadOnlyList<int> Pids { get; set; } = [];

    /// <summary>Frames kept per sample; the kernel caps it further at kernel.perf_event_max_stack.</summary>
    public int MaxStackDepth { get; set; } = 127;

    /// <summary>Data pages of each per-CPU ring buffer (a power of two). 64 pages hold seconds of samples at 99 Hz.</summary>
    public int RingBufferPages { get; set; } = 64;

    /// <summary>
    /// How often a background loop empties the ring buffers between two Collect calls, so they do not overflow. At
    /// 99 Hz a second of samples with deep stacks is some 100 KB per ring, well inside 64 pages; waking less often
    /// is most of what the agent's idle cost is.
    /// </summary>
    public TimeSpan DrainInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Throws <see cref="ArgumentException"/> naming the first invalid setting.</summary>
    public void Validate()
    {
        if (FrequencyHz is < 1 or > 100_000)
        {
            throw new ArgumentException($"FrequencyHz must be between 1 and 100000, was {FrequencyHz}.");
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

        foreach (var pid in Pids)
        {
            if (pid <= 0)
            {
                throw new ArgumentException($"Pids must hold positive process ids, found {pid}.");
            }
        }
    }
}
