using Aperture.Agent.Collectors.Gpu;
using Aperture.Agent.Collectors.Host;

namespace Aperture.Agent.Tests;

/// <summary>The host collectors on captured /proc and /sys trees: this development machine's, and odd ones written for the tests.</summary>
public sealed class CollectorTests
{
    private static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    private static HostSampleCollector Collector(string root) => new(new ProcFileSystem(root), new NoGpuSource("test"), TimeProvider.System);

    [Fact]
    public void This_hosts_captured_files_give_a_whole_sample_without_swap_or_gpu()
    {
        var collector = Collector(Fixture("this-host", "t0"));
        var sample = collector.Collect();

        Assert.Equal(24684092L * 1024, sample.MemoryTotalBytes);
        Assert.Equal(23356116L * 1024, sample.MemoryAvailableBytes);
        Assert.Equal(sample.MemoryTotalBytes - sample.MemoryAvailableBytes, sample.MemoryUsedBytes);
        Assert.InRange(sample.MemoryPercent, 0.1, 100);
        Assert.Equal(0, sample.SwapTotalBytes);
        Assert.Equal(0.0, sample.SwapPercent);
        Assert.Equal(2, sample.CpuCountLogical);
        Assert.Equal(2, sample.CpuCountPhysical);
        Assert.Equal(2596.134, sample.CpuFrequencyMhz);
        Assert.Equal(349131998, sample.NetworkRxBytesTotal); // eth0 alone: lo is skipped, ifb0/ifb1 are zero
        Assert.Equal(402810, sample.NetworkTxBytesTotal);
        Assert.InRange(sample.ProcessCount, 50, 500);
        Assert.Empty(sample.Gpus);
        // Whole disks that /sys/block lists, loop devices left out.
        Assert.Equal(["vda", "zram0"], sample.Disks.Select(d => d.Device).Order());
        var vda = sample.Disks.Single(d => d.Device == "vda");
        Assert.Equal(2006498L * 512, vda.ReadBytesTotal);
        Assert.Equal(29751, vda.ReadCountTotal);
        Assert.Equal(3045864L * 512, vda.WriteBytesTotal);
        Assert.Equal(6000, vda.BusyTimeMsTotal);

        // The second capture was taken after a 50 MB direct write: the counters moved on.
        var next = new HostSampleCollector(new ProcFileSystem(Fixture("this-host", "t1")), new NoGpuSource("test"), TimeProvider.System);
        var later = next.Collect();
        Assert.True(later.Disks.Single(d => d.Device == "vda").WriteBytesTotal - vda.WriteBytesTotal >= 50L * 1024 * 1024);
    }

    [Fact]
    public void Cpu_shares_come_from_the_difference_between_two_reads()
    {
        using var root = new SwitchableRoot(Fixture("gpu-box", "t0"));
        var collector = new HostSampleCollector(root.FileSystem, new NoGpuSource("test"), TimeProvider.System);

        var first = collector.Collect(); // since boot: total 10000 ticks, idle 8000, iowait 200
        Assert.Equal(18.0, first.CpuUsagePercent);
        Assert.Equal(11.0, first.CpuUserPercent);
        Assert.Equal(6.0, first.CpuSystemPercent);
        Assert.Equal(2.0, first.CpuIowaitPercent);

        root.Switch(Fixture("gpu-box", "t1"));
        var second = collector.Collect(); // +1350 ticks: user 600, system 200+10+40, idle 400, iowait 100
        Assert.Equal(62.96, second.CpuUsagePercent);
        Assert.Equal(44.44, second.CpuUserPercent);
        Assert.Equal(18.52, second.CpuSystemPercent);
        Assert.Equal(7.41, second.CpuIowaitPercent);
        Assert.Equal(6.4, second.CpuLoad1);
        Assert.Equal(5.9, second.CpuLoad5);
        Assert.Equal(5.2, second.CpuLoad15);
    }

    [Fact]
    public void A_gpu_box_with_swap_partitions_and_a_hot_plugged_disk()
    {
        using var root = new SwitchableRoot(Fixture("gpu-box", "t0"));
        var collector = new HostSampleCollector(root.FileSystem, new NoGpuSource("test"), TimeProvider.System);
        var before = collector.Collect();

        Assert.Equal(274877906944, before.MemoryTotalBytes);
        Assert.Equal(76235669504, before.MemoryAvailableBytes);
        Assert.Equal(198642237440, before.MemoryUsedBytes);
        Assert.Equal(72.27, before.MemoryPercent);
        Assert.Equal(8589934592, before.SwapTotalBytes);
        Assert.Equal(2147483648, before.SwapUsedBytes);
        Assert.Equal(25.0, before.SwapPercent);
        Assert.Equal(124456789012, before.NetworkRxBytesTotal);
        Assert.Equal(23456789012, before.NetworkTxBytesTotal);
        Assert.Equal(3, before.ProcessCount); // "self-not-a-pid" is not a process
        Assert.Equal(4, before.CpuCountLogical);
        Assert.Equal(2, before.CpuCountPhysical);
        Assert.Equal(2860.0, before.CpuFrequencyMhz); // cpufreq wins over cpuinfo's "cpu MHz"
        // Without /sys/block, partitions are recognised by name; loop devices are left out.
        Assert.Equal(["nvme0n1", "sda"], before.Disks.Select(d => d.Device).Order());
        Assert.Equal(217013888L * 512, before.Disks.Single(d => d.Device == "nvme0n1").ReadBytesTotal);

        root.Switch(Fixture("gpu-box", "t1"));
        var after = collector.Collect();
        Assert.Equal(["nvme0n1", "nvme1n1", "sda"], after.Disks.Select(d => d.Device).Order());
        Assert.Equal(40L * 512, after.Disks.Single(d => d.Device == "nvme1n1").ReadBytesTotal);
        Assert.Equal(200000L * 512, after.Disks.Single(d => d.Device == "nvme0n1").ReadBytesTotal - before.Disks.Single(d => d.Device == "nvme0n1").ReadBytesTotal);
    }

    [Fact]
    public void A_root_without_proc_is_an_error_that_names_the_file()
    {
        using var empty = new Aperture.Testing.TemporaryDirectory("agent-empty-root");
        var error = Assert.Throws<HostReadException>(() => new ProcFileSystem(empty.Path).Read());
        Assert.Contains("proc/stat", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nvidia_smi_output_of_four_gpus()
    {
        var gpus = NvidiaSmiGpuSource.Parse(File.ReadAllText(Fixture("nvidia-smi", "four-a100.csv")));

        Assert.Equal(4, gpus.Count);
        Assert.Equal([0, 1, 2, 3], gpus.Select(g => g.GpuIndex));
        var first = gpus[0];
        Assert.Equal("NVIDIA A100-SXM4-80GB", first.Name);
        Assert.Equal("GPU-3f2a9c1e-0000-1111-2222-333344445555", first.Uuid);
        Assert.Equal(98.0, first.UtilizationGpuPercent);
        Assert.Equal(71.0, first.UtilizationMemoryPercent);
        Assert.Equal(81920L * 1024 * 1024, first.MemoryTotalBytes);
        Assert.Equal(65536L * 1024 * 1024, first.MemoryUsedBytes);
        Assert.Equal(80.0, first.MemoryPercent);
        Assert.Equal(64.0, first.TemperatureC);
        Assert.Equal(311.52, first.PowerW);
        Assert.Equal(400.0, first.PowerLimitW);
    }

    [Fact]
    public void Nvidia_smi_fields_a_gpu_does_not_report_become_null()
    {
        var gpus = NvidiaSmiGpuSource.Parse(File.ReadAllText(Fixture("nvidia-smi", "na-fields.csv")));

        Assert.Equal(2, gpus.Count);
        Assert.Equal("NVIDIA GeForce RTX 3060 Laptop GPU", gpus[0].Name);
        Assert.Null(gpus[0].UtilizationGpuPercent);
        Assert.Null(gpus[0].UtilizationMemoryPercent);
        Assert.Null(gpus[0].PowerW);
        Assert.Null(gpus[0].PowerLimitW);
        Assert.Equal(8.33, gpus[0].MemoryPercent);
        Assert.Equal(47.0, gpus[0].TemperatureC);
        Assert.Null(gpus[1].TemperatureC);
        Assert.Equal(27.45, gpus[1].PowerW);
        Assert.Equal(0.0, gpus[1].MemoryPercent);
    }

    [Fact]
    public void Without_nvml_or_nvidia_smi_the_gpu_source_says_why()
    {
        var source = GpuSources.Detect(enabled: true, nvidiaSmi: "/nonexistent/nvidia-smi");
        if (source.Name == "nvml")
        {
            Assert.Skip("this machine has NVML; the no-GPU path cannot be seen here");
        }

        Assert.False(source.Available);
        Assert.Contains("libnvidia-ml.so.1", source.Reason, StringComparison.Ordinal);
        Assert.Empty(source.Read());
        Assert.Contains("disabled", GpuSources.Detect(enabled: false, "nvidia-smi").Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void A_fake_nvidia_smi_on_the_path_is_run_with_the_query_and_parsed()
    {
        using var bin = new Aperture.Testing.TemporaryDirectory("agent-fake-smi");
        var script = Path.Combine(bin.Path, "nvidia-smi");
        var output = Fixture("nvidia-smi", "four-a100.csv");
        File.WriteAllText(script, $"#!/bin/sh\n[ \"$1\" = \"--query-gpu={NvidiaSmiGpuSource.QueryFields}\" ] && [ \"$2\" = \"--format=csv,noheader,nounits\" ] || exit 9\ncat '{output}'\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        }

        var gpus = new NvidiaSmiGpuSource(script, "test").Read();

        Assert.Equal(4, gpus.Count);
        Assert.Equal(97.0, gpus[1].UtilizationGpuPercent);
    }

    /// <summary>A root the test moves from one capture to the next, as time would move the real /proc.</summary>
    private sealed class SwitchableRoot : IDisposable
    {
        private readonly string _link;

        public SwitchableRoot(string target)
        {
            _link = Path.Combine(Path.GetTempPath(), $"agent-root-{Guid.NewGuid():N}");
            Directory.CreateSymbolicLink(_link, target);
            FileSystem = new ProcFileSystem(_link);
        }

        public ProcFileSystem FileSystem { get; }

        public void Switch(string target)
        {
            Directory.Delete(_link);
            Directory.CreateSymbolicLink(_link, target);
        }

        public void Dispose() => Directory.Delete(_link);
    }
}
