using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Aperture.Testing;

namespace Aperture.Benchmarks;

/// <summary>
/// The node agent's cost while it profiles a busy process at 99 Hz, beside <c>perf record -F 99 -g</c> on the same
/// process for the same time: CPU as a share of one core over the window and
/// resident memory (VmRSS sampled each second, and VmHWM). The agent runs as deployed: its own build, host
/// samples every 10 s, lock and syscall tracing on, pushing to a real runtime. Targets: under 1% of one core,
/// under 80 MB resident. AGENT_BUILD picks the build measured: <c>aot</c> (the Native AOT binary that
/// scripts/publish-agent-aot.sh leaves in .artifacts/agent-aot), <c>jit</c> (<c>dotnet aperture-agent.dll</c>), or
/// <c>auto</c> (the default: the AOT binary when it is there, the JIT build otherwise).
/// </summary>
public static class AgentOverheadBenchmark
{
    private const string BusyProgram = """
        #include <stdint.h>
        #include <stdio.h>
        __attribute__((noinline)) uint64_t aperture_busy_leaf(uint64_t x) { for (int i = 0; i < 1000; i++) x = x * 6364136223846793005ULL + 1442695040888963407ULL; return x; }
        __attribute__((noinline)) uint64_t aperture_busy_mid(uint64_t x) { return aperture_busy_leaf(x) ^ aperture_busy_leaf(x + 1); }
        int main(void) { uint64_t x = 1; for (;;) { x = aperture_busy_mid(x); if (x == 42) puts("42"); } }
        """;

    public static async Task RunAsync(int seconds)
    {
        Console.WriteLine($"## agent-overhead: the agent profiling one busy process at 99 Hz for {seconds} s, beside perf record -F 99 -g");
        var paranoid = File.Exists("/proc/sys/kernel/perf_event_paranoid") ? File.ReadAllText("/proc/sys/kernel/perf_event_paranoid").Trim() : "?";
        using var work = new TemporaryDirectory("aperture-agent-overhead");
        var busyPath = Compile(work.Path);
        using var busy = Process.Start(new ProcessStartInfo(busyPath) { RedirectStandardOutput = true })!;
        try
        {
            var build = AgentBuild();
            Console.WriteLine($"agent build: {build.Name} ({build.Describe})");
            var agent = await MeasureAgentAsync(work.Path, busy.Id, seconds, build);
            Console.WriteLine($"agent ({build.Name}): cpu {agent.CpuPercent:F2}% of one core, rss mean {agent.RssMeanMb:F1} MB, max {agent.RssMaxMb:F1} MB, peak (VmHWM, start-up included) {agent.HwmMb:F1} MB (at the end: {agent.AnonymousMb:F1} MB anonymous, {agent.FileMb:F1} MB files and shared), {agent.Samples} samples of the busy process");
            var perf = await MeasurePerfAsync(work.Path, busy.Id, seconds);
            if (perf is null)
            {
                Console.WriteLine("perf: not found on PATH (Debian: apt-get install linux-perf); no ratio");
            }
            else
            {
                Console.WriteLine($"perf record -F 99 -g: cpu {perf.CpuPercent:F3}% of one core, rss mean {perf.RssMeanMb:F1} MB, max {perf.RssMaxMb:F1} MB, {perf.Samples}");
                Console.WriteLine($"ratio agent/perf: cpu {Ratio(agent.CpuPercent, perf.CpuPercent)}, rss {Ratio(agent.RssMeanMb, perf.RssMeanMb)}");
            }

            Console.WriteLine($"targets: cpu < 1% of one core: {(agent.CpuPercent < 1 ? "met" : "NOT met")}; rss < 80 MB: {(agent.RssMaxMb < 80 ? "met" : "NOT met")} (kernel.perf_event_paranoid={paranoid})");
        }
        finally
        {
            busy.Kill();
            await busy.WaitForExitAsync();
        }
    }

    private static string Ratio(double a, double b) => b <= 0 ? "n/a" : (a / b).ToString("F2", CultureInfo.InvariantCulture);

    private static string Compile(string directory)
    {
        var source = Path.Combine(directory, "busy.c");
        var binary = Path.Combine(directory, "aperture-busy");
        File.WriteAllText(source, BusyProgram);
        using var gcc = Process.Start(new ProcessStartInfo("gcc", ["-O1", "-fno-omit-frame-pointer", "-o", binary, source]) { RedirectStandardError = true })!;
        var errors = gcc.StandardError.ReadToEnd();
        gcc.WaitForExit();
        return gcc.ExitCode == 0 ? binary : throw new InvalidOperationException($"gcc failed: {errors}");
    }

    private sealed record AgentBuildChoice(string Name, string FileName, string[] Arguments)
    {
        public string Describe => string.Join(' ', [FileName, .. Arguments]);
    }

    private static AgentBuildChoice AgentBuild()
    {
        var aot = Path.Combine(RepositoryLayout.Root, ".artifacts", "agent-aot", "aperture-agent");
        var jit = new AgentBuildChoice("jit", "dotnet", [Path.Combine(RepositoryLayout.Root, "agent", "Aperture.Agent", "bin", "Release", "net10.0", "aperture-agent.dll")]);
        return (Environment.GetEnvironmentVariable("AGENT_BUILD") ?? "auto") switch
        {
            "jit" => jit,
            "aot" => File.Exists(aot) ? new AgentBuildChoice("aot", aot, []) : throw new InvalidOperationException($"AGENT_BUILD=aot but {aot} is missing: run scripts/publish-agent-aot.sh"),
            "auto" or "" => File.Exists(aot) ? new AgentBuildChoice("aot", aot, []) : jit,
            var other => throw new InvalidOperationException($"AGENT_BUILD is aot, jit or auto, not '{other}'"),
        };
    }

    private static async Task<Usage> MeasureAgentAsync(string directory, int busyPid, int seconds, AgentBuildChoice build)
    {
        await using var runtime = await RuntimeUnderTest.StartAsync();
        var port = FreePort.Next();
        var config = Path.Combine(directory, "agent.yaml");
        File.WriteAllText(config, $$"""
            agent: {id: "bench-agent-overhead"}
            self_telemetry: {listen: "127.0.0.1:{{port}}"}
            collectors: {interval_seconds: 10}
            profiling: {sample_rate: 99, interval_seconds: 10, pids: [{{busyPid}}]}
            export:
              aggregator: {endpoint: "http://127.0.0.1:{{runtime.GrpcPort}}"}
            spool: {dir: "{{Path.Combine(directory, "spool")}}"}
            sidecar: {enabled: false}
            """);
        using var agent = Process.Start(new ProcessStartInfo(build.FileName, [.. build.Arguments, "--config", config]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        agent.OutputDataReceived += (_, _) => { };
        agent.ErrorDataReceived += (_, _) => { };
        agent.BeginOutputReadLine();
        agent.BeginErrorReadLine();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(5) };
            await Eventually.HoldsAsync(async () => await AnswersAsync(http), TimeSpan.FromSeconds(60), "the agent answering /healthz");

            // Past start-up and the first batches, so that the window shows the steady cost.
            await Task.Delay(TimeSpan.FromSeconds(30));
            var before = await SamplesAsync(http);
            var usage = await WatchAsync(agent.Id, seconds);
            var samples = await SamplesAsync(http) - before;
            return usage with { Samples = samples.ToString(CultureInfo.InvariantCulture) };
        }
        finally
        {
            agent.Kill();
            await agent.WaitForExitAsync();
        }
    }

    private static async Task<bool> AnswersAsync(HttpClient http)
    {
        try
        {
            using var response = await http.GetAsync("/healthz");
            return response.IsSuccessStatusCode;
        }
        catch (HttpRequestException)
        {
            return false;
        }
    }

    private static async Task<long> SamplesAsync(HttpClient http)
    {
        using var status = JsonDocument.Parse(await http.GetStringAsync("/status"));
        return status.RootElement.GetProperty("profiling").GetProperty("samples_collected").GetInt64();
    }

    private static async Task<Usage?> MeasurePerfAsync(string directory, int busyPid, int seconds)
    {
        var perfPath = Environment.GetEnvironmentVariable("PATH")?.Split(':').Select(p => Path.Combine(p, "perf")).FirstOrDefault(File.Exists);
        if (perfPath is null)
        {
            return null;
        }

        var output = Path.Combine(directory, "perf.data");
        using var perf = Process.Start(new ProcessStartInfo(perfPath, ["record", "-F", "99", "-g", "-p", busyPid.ToString(CultureInfo.InvariantCulture), "-o", output])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = perf.StandardError.ReadToEndAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));
        var usage = await WatchAsync(perf.Id, seconds);
        // SIGINT makes perf write its header and exit, as Ctrl-C would.
        using (var kill = Process.Start("kill", ["-INT", perf.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        if (!perf.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            perf.Kill();
        }

        var summary = (await stderr).Split('\n').LastOrDefault(l => l.Contains("samples", StringComparison.Ordinal))?.Trim() ?? "no summary";
        return usage with { Samples = summary };
    }

    /// <summary>CPU time and resident size of a process over a window.</summary>
    private static async Task<Usage> WatchAsync(int pid, int seconds)
    {
        var (startTicks, startNs) = (CpuTicks(pid), CpuNs(pid));
        var clock = Stopwatch.StartNew();
        var rss = new List<double>();
        while (clock.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            rss.Add(StatusKb(pid, "VmRSS") / 1024.0);
        }

        // Ticks count the threads that ended in the window too, but only to 10 ms; the run time of the threads
        // still there is exact. Each undercounts in its own way, so the larger is the better figure.
        var cpuSeconds = Math.Max((CpuTicks(pid) - startTicks) / 100.0, (CpuNs(pid) - startNs) / 1e9);
        return new Usage(100 * cpuSeconds / clock.Elapsed.TotalSeconds, rss.Average(), rss.Max(), StatusKb(pid, "VmHWM") / 1024.0, string.Empty)
        {
            AnonymousMb = StatusKb(pid, "RssAnon") / 1024.0,
            FileMb = (StatusKb(pid, "RssFile") + StatusKb(pid, "RssShmem")) / 1024.0,
        };
    }

    /// <summary>utime + stime in clock ticks (USER_HZ, 100), the ended threads included.</summary>
    private static long CpuTicks(int pid)
    {
        // The command may hold spaces and parentheses: the fields start after the last ')'.
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the command.
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Time on CPU of the process's present threads in nanoseconds (the first field of each task's schedstat): clock
    /// ticks (10 ms) are too coarse for perf, which spends milliseconds a minute here.
    /// </summary>
    private static long CpuNs(int pid)
    {
        long total = 0;
        foreach (var task in Directory.EnumerateDirectories($"/proc/{pid}/task"))
        {
            try
            {
                total += long.Parse(File.ReadAllText(Path.Combine(task, "schedstat")).Split(' ')[0], CultureInfo.InvariantCulture);
            }
            catch (IOException)
            {
                // The thread ended between the listing and the read.
            }
        }

        return total;
    }

    private static long StatusKb(int pid, string key)
    {
        var line = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith(key + ":", StringComparison.Ordinal));
        return line is null ? 0 : long.Parse(line[(key.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
    }

    private sealed record Usage(double CpuPercent, double RssMeanMb, double RssMaxMb, double HwmMb, string Samples)
    {
        /// <summary>At the end of the window: the process's own memory (heaps, stacks)...</summary>
        public double AnonymousMb { get; init; }

        /// <summary>...and mapped files and shared memory (the runtime's code, JIT output), shared with other processes where they map the same.</summary>
        public double FileMb { get; init; }
    }
}
