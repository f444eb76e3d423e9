namespace Aperture.Agent.Collectors.Profiling;

/// <summary>Whether CPU profiling can run on this host, and if not, why (e.g. perf_event_paranoid, a missing capability).</summary>
public sealed record CpuProfileProbe(bool Available, string Reason);

/// <summary>One frame of a stack: the instruction pointer and what it symbolises to ("" when unknown).</summary>
public sealed record CpuProfileFrame(ulong Ip, string Function, string Module);

/// <summary>
/// One aggregated stack: how many samples hit it between <see cref="FirstTimestampNs"/> and
/// <see cref="LastTimestampNs"/>, in one thread. Frames are root first, as the aggregator's Push wants them.
/// </summary>
public sealed record CpuProfileStack(
    IReadOnlyList<CpuProfileFrame> Frames,
    ulong Count,
    uint Pid,
    uint Tid,
    ulong FirstTimestampNs,
    ulong LastTimestampNs);

/// <summary>Syscalls of one stack (at entry, root first) of one thread: how many, and their summed latency.</summary>
public sealed record SyscallProfileEvent(
    IReadOnlyList<CpuProfileFrame> Frames,
    ulong Count,
    uint Pid,
    uint Tid,
    ulong FirstTimestampNs,
    ulong LatencyNs,
    string Syscall);

/// <summary>Waits of one stack (root first) of one thread on one lock (the futex word's address): how many, and the summed wait.</summary>
public sealed record LockProfileEvent(
    IReadOnlyList<CpuProfileFrame> Frames,
    ulong Count,
    uint Pid,
    uint Tid,
    ulong FirstTimestampNs,
    ulong WaitNs,
    ulong LockAddress);

/// <summary>
/// What one collection gives: the stacks since the previous one, and the sampling period used; and, where the
/// kernel allows tracepoints, the lock waits and syscalls completed meanwhile.
/// </summary>
public sealed record CpuProfile(IReadOnlyList<CpuProfileStack> Stacks, ulong SamplePeriodNs)
{
    public IReadOnlyList<LockProfileEvent> Locks { get; init; } = [];

    public IReadOnlyList<SyscallProfileEvent> Syscalls { get; init; } = [];

    public bool IsEmpty => Stacks.Count == 0 && Locks.Count == 0 && Syscalls.Count == 0;
}

/// <summary>What the configuration asks of the profiler: samples per second per CPU, and which processes (all when empty).</summary>
public sealed record CpuProfilerSettings(int SampleRateHz, IReadOnlyList<int> Pids)
{
    /// <summary>False when profiling is switched off: nothing is opened, not even the kernel-event tracepoints.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Trace futex waits (tracepoints syscalls/sys_enter_futex, sys_exit_futex).</summary>
    public bool LockEvents { get; init; }

    /// <summary>Trace syscalls (tracepoints raw_syscalls/sys_enter, sys_exit).</summary>
    public bool SyscallEvents { get; init; }

    /// <summary>Syscalls and waits shorter than this are not counted.</summary>
    public long MinLatencyNs { get; init; }

    /// <summary>
    /// Whether CPU sampling runs: profiling targets that select no process turn it off (where an empty
    /// <see cref="Pids"/> would mean every process).
    /// </summary>
    public bool CpuSampling { get; init; } = true;

    /// <summary>The processes whose futex waits are traced when they differ from <see cref="Pids"/>; empty is every process.</summary>
    public IReadOnlyList<int>? LockPids { get; init; }

    /// <summary>The processes whose syscalls are traced when they differ from <see cref="Pids"/>; empty is every process.</summary>
    public IReadOnlyList<int>? SyscallPids { get; init; }

    /// <summary>Why a kind of collection is off although asked for (targets whose pods have no process here yet).</summary>
    public string? IdleReason { get; init; }

    public IReadOnlyList<int> EffectiveLockPids => LockPids ?? Pids;

    public IReadOnlyList<int> EffectiveSyscallPids => SyscallPids ?? Pids;

    /// <summary>Whether the two ask for the same collection (a profiler restarts only when they do not).</summary>
    public bool SameAs(CpuProfilerSettings? other) =>
        other is not null && other.Enabled == Enabled && other.SampleRateHz == SampleRateHz && other.Pids.SequenceEqual(Pids)
        && other.LockEvents == LockEvents && other.SyscallEvents == SyscallEvents && other.MinLatencyNs == MinLatencyNs
        && other.CpuSampling == CpuSampling && other.EffectiveLockPids.SequenceEqual(EffectiveLockPids)
        && other.EffectiveSyscallPids.SequenceEqual(EffectiveSyscallPids) && other.IdleReason == IdleReason;
}

/// <summary>Whether one kind of kernel event (lock_events, syscall_events) is collected, is permitted here, and why.</summary>
public sealed record KernelEventState(string Name, bool Loaded, bool Permitted, string Reason);

/// <summary>
/// The seam between the agent and a CPU profiler (perf_event_open sampling with call chains and
/// symbolisation, built as its own library). The agent probes once at start and after a reload, and
/// calls <see cref="Collect"/> once per profiling interval.
/// </summary>
public interface ICpuProfileSource
{
    /// <summary>Called at start and after every reload, before <see cref="Probe"/>.</summary>
    void Configure(CpuProfilerSettings settings)
    {
    }

    CpuProfileProbe Probe();

    /// <summary>Drains what was sampled since the last call; empty when nothing was.</summary>
    CpuProfile Collect();

    /// <summary>The lock and syscall event collectors, as the collectors status lists them.</summary>
    IReadOnlyList<KernelEventState> KernelEvents() =>
    [
        new("lock_events", false, false, UnlinkedCpuProfileSource.KernelEventsReason),
        new("syscall_events", false, false, UnlinkedCpuProfileSource.KernelEventsReason),
    ];
}

/// <summary>The profiler of a build that has none linked in: it says so and collects nothing.</summary>
public sealed class UnlinkedCpuProfileSource : ICpuProfileSource
{
    public const string Reason = "cpu profiler not linked in this build";
    public const string KernelEventsReason = "kernel event collector not linked in this build";

    public CpuProfileProbe Probe() => new(false, Reason);

    public CpuProfile Collect() => new([], 0);
}
