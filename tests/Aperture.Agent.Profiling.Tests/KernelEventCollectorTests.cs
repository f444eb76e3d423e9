using System.Buffers.Binary;
using Aperture.Testing;

namespace Aperture.Agent.Profiling.Tests;

public sealed class KernelEventCollectorTests
{
    private static string Fixture(string name) => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Fixtures", "tracefs", name));

    [Fact]
    public void Parses_the_format_files_captured_from_a_kernel()
    {
        var enter = TracepointFormat.Parse(Fixture("raw_syscalls_sys_enter.format"))!;
        Assert.Equal("sys_enter", enter.Name);
        Assert.Equal(443, enter.Id);
        Assert.Equal(new TracepointField("id", 8, 8, true), enter.Fields["id"]);
        Assert.Equal(new TracepointField("args", 16, 48, false), enter.Fields["args"]);
        Assert.Equal(new TracepointField("common_type", 0, 2, false), enter.Fields["common_type"]);

        var exit = TracepointFormat.Parse(Fixture("raw_syscalls_sys_exit.format"))!;
        Assert.Equal(new TracepointField("ret", 16, 8, true), exit.Fields["ret"]);

        var futex = TracepointFormat.Parse(Fixture("syscalls_sys_enter_futex.format"))!;
        Assert.Equal("sys_enter_futex", futex.Name);
        Assert.Equal(new TracepointField("uaddr", 16, 8, false), futex.Fields["uaddr"]);
        Assert.Equal(new TracepointField("op", 24, 8, false), futex.Fields["op"]);
        Assert.NotNull(TracepointFormat.Parse(Fixture("syscalls_sys_exit_futex.format")));
        Assert.Null(TracepointFormat.Parse("name: broken\nformat:\n"));
    }

    [Fact]
    public void Decodes_a_crafted_raw_sample_and_pairs_enter_with_exit()
    {
        var enter = TracepointFormat.Parse(Fixture("raw_syscalls_sys_enter.format"))!;
        var exit = TracepointFormat.Parse(Fixture("raw_syscalls_sys_exit.format"))!;
        var aggregator = new KernelEventAggregator(0, 100, 100);
        var sink = new KernelEventCollector.RecordSink(aggregator, 127);
        sink.Configure(enter, exit, null, null);

        Assert.True(PerfRecordReader.DispatchRaw(Sample(1234, 1235, 1_000, [0x401000, 0x402000], Raw(enter.Id, 0)), sink));
        Assert.True(PerfRecordReader.DispatchRaw(Sample(1234, 1235, 1_500, [], Raw(exit.Id, 0)), sink));
        Assert.False(PerfRecordReader.DispatchRaw(Sample(1, 1, 1, [1, 2], Raw(exit.Id, 0)).AsSpan(0, 30), sink));

        var (syscalls, locks) = aggregator.Take();
        Assert.Empty(locks);
        var (key, totals) = Assert.Single(syscalls);
        Assert.Equal((1234, 1235, 0L), (key.Pid, key.Tid, key.Value));
        Assert.Equal([0x401000UL, 0x402000UL], key.Stack);
        Assert.Equal((1L, 500L, 1_000L), (totals.Count, totals.TotalNs, totals.First));
        Assert.Equal("read", SyscallNames.Name(key.Value));
        Assert.Equal("futex", SyscallNames.Name(202));
        Assert.Equal("sys_9999", SyscallNames.Name(9999));
    }

    [Fact]
    public void A_missing_exit_is_replaced_by_the_next_entry_and_short_calls_are_filtered()
    {
        var aggregator = new KernelEventAggregator(minLatencyNs: 100, maxPending: 100, maxAggregates: 100);
        aggregator.OnSyscallEnter(1, 2, 1_000, 0, [1], [false]);
        // The exit of that read was lost: the next entry replaces it, and its exit pairs with the new one.
        aggregator.OnSyscallEnter(1, 2, 5_000, 1, [1], [false]);
        aggregator.OnSyscallExit(2, 5_400, 1);
        // An exit with no entry, and an exit of another syscall, count nothing.
        aggregator.OnSyscallExit(3, 6_000, 0);
        aggregator.OnSyscallEnter(1, 2, 7_000, 0, [1], [false]);
        aggregator.OnSyscallExit(2, 7_050, 0);
        aggregator.OnFutexEnter(1, 2, 8_000, 0xdead0, 128 /* FUTEX_WAIT|FUTEX_PRIVATE_FLAG */, [1], [false]);
        aggregator.OnFutexExit(2, 9_000);
        aggregator.OnFutexEnter(1, 2, 10_000, 0xdead0, 129 /* FUTEX_WAKE|FUTEX_PRIVATE_FLAG */, [1], [false]);
        aggregator.OnFutexExit(2, 20_000);

        var (syscalls, locks) = aggregator.Take();
        var (key, totals) = Assert.Single(syscalls);
        Assert.Equal(1, key.Value);
        Assert.Equal((1L, 400L), (totals.Count, totals.TotalNs));
        var (lockKey, lockTotals) = Assert.Single(locks);
        Assert.Equal(0xdead0, lockKey.Value);
        Assert.Equal((1L, 1_000L), (lockTotals.Count, lockTotals.TotalNs));
        Assert.Empty(aggregator.Take().Syscalls);
    }

    [Fact]
    public void A_full_pending_map_drops_new_entries_until_old_ones_are_stale()
    {
        var aggregator = new KernelEventAggregator(minLatencyNs: 0, maxPending: 1, maxAggregates: 100);
        aggregator.OnSyscallEnter(1, 2, 1_000, 231 /* exit_group: never returns, never pending */, [1], [false]);
        aggregator.OnSyscallEnter(1, 3, 1_000, 0, [1], [false]);
        aggregator.OnSyscallEnter(1, 4, 2_000, 0, [1], [false]);
        Assert.Equal(1, aggregator.Dropped);
        aggregator.OnSyscallExit(4, 3_000, 0);
        Assert.Empty(aggregator.Take().Syscalls);

        // Thread 3 never exited (it died mid-call): once stale it makes room.
        var later = 1_000 + KernelEventAggregator.StalePendingNs + 1;
        aggregator.OnSyscallEnter(1, 4, later, 0, [1], [false]);
        aggregator.OnSyscallExit(4, later + 700, 0);
        var (_, totals) = Assert.Single(aggregator.Take().Syscalls);
        Assert.Equal(700, totals.TotalNs);
        Assert.Equal(1, aggregator.Dropped);
    }

    [Fact]
    public void Reports_a_missing_tracefs_as_unavailable()
    {
        using var directory = new TemporaryDirectory();
        using var collector = new KernelEventCollector(new KernelEventOptions { TracefsRoots = [directory.Path] });
        var error = Assert.Throws<ProfilerUnavailableException>(collector.Start);
        Assert.Contains("tracefs is not mounted", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Collects_the_syscalls_and_futex_waits_of_a_running_program()
    {
        using var directory = new TemporaryDirectory();
        using var program = ContendedProgram.Run(ContendedProgram.Compile(directory.Path), seconds: 30);
        var process = program.Process;
        using var collector = new KernelEventCollector(new KernelEventOptions { Pids = [process.Id] });
        try
        {
            collector.Start();
        }
        catch (ProfilerUnavailableException e)
        {
            Assert.Skip($"the kernel refuses tracepoints here: {e.Message}");
        }

        var syscalls = new List<SyscallAggregate>();
        var locks = new List<LockAggregate>();
        for (var i = 0; i < 20 && !(syscalls.Any(s => s.Syscall == "read") && locks.Any(l => l.TotalWaitNs > 0)); i++)
        {
            await Task.Delay(250, TestContext.Current.CancellationToken);
            var batch = collector.Collect();
            syscalls.AddRange(batch.Syscalls);
            locks.AddRange(batch.Locks);
        }

        Assert.Contains(syscalls, s => s.Syscall == "read" && s.Pid == process.Id && s.Count > 0);
        Assert.Contains(syscalls, s => s.Syscall is "nanosleep" or "clock_nanosleep" && s.TotalLatencyNs > 0);
        Assert.True(locks.Count > 0, $"locks {locks.Count}, malformed {collector.MalformedRecords}, lost {collector.LostRecords}, syscalls {string.Join(",", syscalls.Select(s => s.Syscall).Distinct())}");
        var waits = locks.Where(l => l.Pid == process.Id && l.TotalWaitNs > 0 && l.LockAddress != 0).ToList();
        Assert.NotEmpty(waits);
        Assert.Contains(waits, l => l.Tid != process.Id);
    }

    private static byte[] Raw(int type, long id)
    {
        var raw = new byte[64];
        BinaryPrimitives.WriteUInt16LittleEndian(raw, (ushort)type);
        BinaryPrimitives.WriteInt64LittleEndian(raw.AsSpan(8), id);
        return raw;
    }

    private static byte[] Sample(int pid, int tid, ulong time, ulong[] callchain, byte[] raw)
    {
        var body = new byte[24 + (callchain.Length * 8) + 4 + raw.Length];
        BinaryPrimitives.WriteInt32LittleEndian(body, pid);
        BinaryPrimitives.WriteInt32LittleEndian(body.AsSpan(4), tid);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8), time);
        BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(16), (ulong)callchain.Length);
        for (var i = 0; i < callchain.Length; i++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(24 + (i * 8)), callchain[i]);
        }

        BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(24 + (callchain.Length * 8)), (uint)raw.Length);
        raw.CopyTo(body.AsSpan(28 + (callchain.Length * 8)));
        return body;
    }
}
