using System.Diagnostics;
using Aperture.Testing;

namespace Aperture.Agent.Profiling.Tests;

public sealed class PerfCpuProfilerTests
{
    private static void SkipUnlessPermitted()
    {
        var availability = PerfCpuProfiler.Probe();
        if (!availability.Available)
        {
            Assert.Skip($"the kernel refuses CPU sampling here: {availability.Reason}");
        }
    }

    [Fact]
    public void Probe_answers_in_words_either_way()
    {
        var availability = PerfCpuProfiler.Probe();

        Assert.Contains("perf_event", availability.Reason, StringComparison.Ordinal);
        Assert.Contains("perf_event_paranoid", availability.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Finds_the_test_program_hot_function_in_its_top_stack()
    {
        SkipUnlessPermitted();
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        using var profiler = new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = 199, Pids = [program.Pid] });
        profiler.Start();

        var stacks = CollectUntil(profiler, s => s.Sum(x => x.Count) >= 100);

        Assert.All(stacks, s => Assert.Equal(program.Pid, s.Pid));
        var top = stacks[0];
        TestContext.Current.TestOutputHelper?.WriteLine($"{top.Count} of {stacks.Sum(s => s.Count)} samples: {string.Join(" > ", top.FramesRootFirst.Select(f => $"{f.Module}!{f.Function}"))}; {PerfCpuProfiler.Probe().Reason}");
        var names = top.FramesRootFirst.Select(f => f.Function).ToList();
        Assert.Equal("aperture_hot_loop", names[^1]);
        Assert.Equal("aperture-hot", top.FramesRootFirst[^1].Module);
        // Frame pointers give the whole chain, root first: main calls aperture_outer calls aperture_hot_loop.
        var outer = names.IndexOf("aperture_outer");
        Assert.True(outer >= 0 && outer == names.Count - 2, string.Join(" > ", names));
        Assert.True(names.IndexOf("main") is >= 0 and var main && main < outer, string.Join(" > ", names));
        Assert.True(top.Count > stacks.Skip(1).Sum(s => s.Count), "the hot loop holds most samples");
        Assert.True(top.FirstTimestampNs <= top.LastTimestampNs);
        // Timestamps are wall-clock (CLOCK_REALTIME) Unix nanoseconds, within a minute of now.
        var nowNs = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
        Assert.InRange(top.LastTimestampNs, nowNs - 60_000_000_000, nowNs + 60_000_000_000);
        Assert.Equal(0, profiler.MalformedRecords);
    }

    [Fact]
    public void Samples_every_process_per_cpu_and_finds_the_test_program_among_them()
    {
        SkipUnlessPermitted();
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        using var profiler = new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = 99 });
        try
        {
            profiler.Start();
        }
        catch (ProfilerUnavailableException e)
        {
            Assert.Skip($"system-wide sampling is refused here: {e.Message}");
        }

        var stacks = CollectUntil(profiler, s => s.Where(x => x.Pid == program.Pid).Sum(x => x.Count) >= 50);

        var hot = stacks.Where(s => s.Pid == program.Pid).MaxBy(s => s.Count)!;
        foreach (var stack in stacks.Take(10))
        {
            TestContext.Current.TestOutputHelper?.WriteLine($"{stack.Count} pid {stack.Pid}/{stack.Tid}: {string.Join(" > ", stack.FramesRootFirst.Select(f => $"{f.Module}!{f.Function}"))}");
        }

        Assert.Equal("aperture_hot_loop", hot.FramesRootFirst[^1].Function);
        Assert.True(profiler.SamplesRead >= 50);
    }

    [Fact]
    public void Finds_a_node_function_through_the_perf_map_node_writes()
    {
        SkipUnlessPermitted();
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true };
        foreach (var argument in (string[])["--perf-basic-prof", "-e", "function apertureNodeHot(n){let s=0;for(let i=0;i<n;i++)s+=i%7;return s}; const end=Date.now()+30000; console.log('up'); while(Date.now()<end) apertureNodeHot(1e6);"])
        {
            start.ArgumentList.Add(argument);
        }

        Process node;
        try
        {
            node = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("node is not installed");
            throw;
        }

        using (node)
        {
            try
            {
                node.StandardOutput.ReadLine();
                using var profiler = new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = 199, Pids = [node.Id] });
                profiler.Start();

                var stacks = CollectUntil(profiler, s => s.Any(x => x.FramesRootFirst.Any(f => f.Function.Contains("apertureNodeHot", StringComparison.Ordinal))));

                var hot = stacks.First(x => x.FramesRootFirst.Any(f => f.Function.Contains("apertureNodeHot", StringComparison.Ordinal)));
                var frame = hot.FramesRootFirst.First(f => f.Function.Contains("apertureNodeHot", StringComparison.Ordinal));
                Assert.Equal($"perf-{node.Id}.map", frame.Module);
                Assert.StartsWith("JS:", frame.Function, StringComparison.Ordinal);
            }
            finally
            {
                node.Kill();
                node.WaitForExit(10_000);
                File.Delete($"/tmp/perf-{node.Id}.map");
            }
        }
    }

    [Fact]
    public void Collect_returns_each_sample_once()
    {
        SkipUnlessPermitted();
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        using var profiler = new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = 199, Pids = [program.Pid] });
        profiler.Start();

        var first = CollectUntil(profiler, s => s.Sum(x => x.Count) >= 20);
        // The program ends, so no sample arrives after the second collection to make the totals race.
        program.Dispose();
        Thread.Sleep(TimeSpan.FromMilliseconds(500));
        var second = profiler.Collect();

        var firstLast = first.Max(s => s.LastTimestampNs);
        Assert.All(second, s => Assert.True(s.FirstTimestampNs > firstLast, "a sample came back twice"));
        Assert.Equal(profiler.SamplesRead, first.Sum(s => s.Count) + second.Sum(s => s.Count));
    }

    [Fact]
    public void A_ring_buffer_that_overflows_counts_what_the_kernel_dropped_and_keeps_reading_across_laps()
    {
        SkipUnlessPermitted();
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        // One 4 KiB data page at 4 kHz, drained only by Collect: it fills within a fraction of a second.
        using var profiler = new PerfCpuProfiler(new CpuProfilerOptions
        {
            FrequencyHz = 4000,
            Pids = [program.Pid],
            RingBufferPages = 1,
            DrainInterval = TimeSpan.FromMinutes(1),
        });
        profiler.Start();

        var laps = new List<IReadOnlyList<SampledStack>>();
        for (var i = 0; i < 20 && (profiler.LostSamples == 0 || laps.Count < 5); i++)
        {
            Thread.Sleep(300);
            laps.Add(profiler.Collect());
        }

        Assert.True(profiler.LostSamples > 0, $"no PERF_RECORD_LOST after {laps.Count} collections of {profiler.SamplesRead} samples");
        // A sample of main > aperture_outer > aperture_hot_loop is at least 80 bytes: this many went round the 4 KiB buffer twice.
        Assert.True(profiler.SamplesRead * 80 > 2 * 4096, $"only {profiler.SamplesRead} samples: the buffer never wrapped");
        Assert.Equal(0, profiler.MalformedRecords);
        Assert.All(laps.Where(l => l.Count > 0), l => Assert.Equal("aperture_hot_loop", l[0].FramesRootFirst[^1].Function));
    }

    [Fact]
    public void Start_on_a_process_that_does_not_exist_throws_unavailable()
    {
        SkipUnlessPermitted();
        using var profiler = new PerfCpuProfiler(new CpuProfilerOptions { Pids = [int.MaxValue - 1] });

        var error = Assert.Throws<ProfilerUnavailableException>(profiler.Start);

        Assert.Contains("none of the processes", error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => profiler.Collect());
    }

    [Fact]
    public void Invalid_options_are_refused_at_construction()
    {
        Assert.Throws<ArgumentException>(() => new PerfCpuProfiler(new CpuProfilerOptions { FrequencyHz = 0 }));
        Assert.Throws<ArgumentException>(() => new PerfCpuProfiler(new CpuProfilerOptions { RingBufferPages = 3 }));
        Assert.Throws<ArgumentException>(() => new PerfCpuProfiler(new CpuProfilerOptions { Pids = [-4] }));
    }

    [Fact]
    public void Cpu_lists_from_sysfs_are_expanded()
    {
        Assert.Equal([0, 1, 2, 3, 8, 10, 11], PerfCpuProfiler.ParseCpuList("0-3,8,10-11\n"));
        Assert.Empty(PerfCpuProfiler.ParseCpuList(""));
    }

    private static List<SampledStack> CollectUntil(PerfCpuProfiler profiler, Func<List<SampledStack>, bool> enough)
    {
        // Accumulate collections until the condition holds, for at most 20 s of sampling.
        var all = new List<SampledStack>();
        for (var attempt = 0; attempt < 40 && !enough(all); attempt++)
        {
            Thread.Sleep(500);
            all.AddRange(profiler.Collect());
        }

        Assert.True(enough(all), $"not enough samples after 20 s: {all.Sum(s => s.Count)} in {all.Count} stacks");
        return [.. all.GroupBy(s => (s.Pid, s.Tid, Key: string.Join(';', s.FramesRootFirst.Select(f => f.Module + "!" + f.Function))))
            .Select(g => g.First() with { Count = g.Sum(s => s.Count), FirstTimestampNs = g.Min(s => s.FirstTimestampNs), LastTimestampNs = g.Max(s => s.LastTimestampNs) })
            .OrderByDescending(s => s.Count)];
    }
}
