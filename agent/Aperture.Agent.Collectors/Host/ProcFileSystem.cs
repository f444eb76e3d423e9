using System.Globalization;

namespace Aperture.Agent.Collectors.Host;

/// <summary>A /proc or /sys file that the host must have is missing or not in the expected form.</summary>
public sealed class HostReadException(string message) : Exception(message);

/// <summary>
/// Reads the host's counters from /proc and /sys under a root directory: <c>/</c> on a host, the
/// host's root mounted into a pod (e.g. <c>/host</c>), or a directory of captured files in tests.
/// </summary>
public sealed class ProcFileSystem(string root)
{
    private const int SectorBytes = 512; // /proc/diskstats counts 512-byte sectors whatever the device's block size

    public string Root { get; } = root;

    public HostCounters Read()
    {
        var (cpu, logical) = ReadStat();
        var (load1, load5, load15) = ReadLoadAverage();
        var memory = ReadMemInfo();
        var (rx, tx) = ReadNetworkTotals();
        var (frequency, physical) = ReadCpuInfo();
        return new HostCounters
        {
            Cpu = cpu,
            LogicalCpus = logical,
            PhysicalCores = physical,
            FrequencyMhz = ReadScalingFrequency(logical) ?? frequency,
            Load1 = load1,
            Load5 = load5,
            Load15 = load15,
            MemoryTotalBytes = memory.GetValueOrDefault("MemTotal"),
            MemoryAvailableBytes = memory.TryGetValue("MemAvailable", out var available)
                ? available
                : memory.GetValueOrDefault("MemFree") + memory.GetValueOrDefault("Buffers") + memory.GetValueOrDefault("Cached"),
            SwapTotalBytes = memory.GetValueOrDefault("SwapTotal"),
            SwapFreeBytes = memory.GetValueOrDefault("SwapFree"),
            NetworkRxBytes = rx,
            NetworkTxBytes = tx,
            ProcessCount = CountProcesses(),
            Disks = ReadDisks(),
        };
    }

    private string PathOf(string relative) => Path.Combine(Root, relative);

    private string[] ReadLines(string relative, bool required)
    {
        var path = PathOf(relative);
        try
        {
            return File.ReadAllLines(path);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException && !required)
        {
            return [];
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new HostReadException($"{path} is missing; is the host's /proc mounted under {Root}?");
        }
    }

    private (CpuTimes Cpu, int Logical) ReadStat()
    {
        CpuTimes? total = null;
        var logical = 0;
        foreach (var line in ReadLines("proc/stat", required: true))
        {
            if (!line.StartsWith("cpu", StringComparison.Ordinal))
            {
                continue;
            }

            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields[0] == "cpu")
            {
                long Field(int i) => i < fields.Length ? ParseLong(fields[i], "proc/stat") : 0;
                total = new CpuTimes(Field(1), Field(2), Field(3), Field(4), Field(5), Field(6), Field(7), Field(8));
            }
            else
            {
                logical++;
            }
        }

        return (total ?? throw new HostReadException($"{PathOf("proc/stat")} has no aggregate cpu line"), logical);
    }

    private (double, double, double) ReadLoadAverage()
    {
        var lines = ReadLines("proc/loadavg", required: true);
        var fields = lines.Length > 0 ? lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries) : [];
        if (fields.Length < 3)
        {
            throw new HostReadException($"{PathOf("proc/loadavg")} is not in the form '1.00 0.50 0.25 ...'");
        }

        return (ParseDouble(fields[0], "proc/loadavg"), ParseDouble(fields[1], "proc/loadavg"), ParseDouble(fields[2], "proc/loadavg"));
    }

    /// <summary>/proc/meminfo in bytes (the file says kB and means KiB).</summary>
    private Dictionary<string, long> ReadMemInfo()
    {
        var values = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in ReadLines("proc/meminfo", required: true))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var rest = line[(colon + 1)..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (rest.Length == 0 || !long.TryParse(rest[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            values[line[..colon]] = rest.Length > 1 && rest[1] == "kB" ? value * 1024 : value;
        }

        if (!values.ContainsKey("MemTotal"))
        {
            throw new HostReadException($"{PathOf("proc/meminfo")} has no MemTotal");
        }

        return values;
    }

    /// <summary>Bytes received and sent by every interface but loopback, since boot.</summary>
    private (long Rx, long Tx) ReadNetworkTotals()
    {
        long rx = 0, tx = 0;
        foreach (var line in ReadLines("proc/net/dev", required: false))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue; // the two header lines
            }

            var name = line[..colon].Trim();
            if (name == "lo")
            {
                continue;
            }

            var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length >= 9)
            {
                rx += ParseLong(fields[0], "proc/net/dev");
                tx += ParseLong(fields[8], "proc/net/dev");
            }
        }

        return (rx, tx);
    }

    /// <summary>The mean "cpu MHz" and the number of distinct (physical id, core id) pairs, where cpuinfo has them.</summary>
    private (double? FrequencyMhz, int? PhysicalCores) ReadCpuInfo()
    {
        var frequencies = new List<double>();
        var cores = new HashSet<(string, string)>();
        var physicalId = "0";
        foreach (var line in ReadLines("proc/cpuinfo", required: false))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "cpu MHz" when double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var mhz):
                    frequencies.Add(mhz);
                    break;
                case "physical id":
                    physicalId = value;
                    break;
                case "core id":
                    cores.Add((physicalId, value));
                    break;
                default:
                    break;
            }
        }

        return (frequencies.Count > 0 ? Math.Round(frequencies.Average(), 3) : null, cores.Count > 0 ? cores.Count : null);
    }

    /// <summary>The mean current frequency from cpufreq, where the kernel exposes it (kHz in the file).</summary>
    private double? ReadScalingFrequency(int logical)
    {
        var sum = 0.0;
        var count = 0;
        for (var cpu = 0; cpu < Math.Max(logical, 1); cpu++)
        {
            var lines = ReadLines($"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", required: false);
            if (lines.Length > 0 && double.TryParse(lines[0].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var khz))
            {
                sum += khz / 1000.0;
                count++;
            }
        }

        return count > 0 ? Math.Round(sum / count, 3) : null;
    }

    private int CountProcesses()
    {
        var proc = PathOf("proc");
        return Directory.Exists(proc)
            ? Directory.EnumerateDirectories(proc).Count(path => Path.GetFileName(path).All(char.IsAsciiDigit))
            : 0;
    }

    /// <summary>
    /// Whole disks only: the devices /sys/block lists (partitions live below their disk there), without
    /// loop and RAM devices. Without /sys, a name that is another listed name plus a partition suffix is
    /// taken for a partition.
    /// </summary>
    private List<DiskCounters> ReadDisks()
    {
        var all = new List<DiskCounters>();
        foreach (var line in ReadLines("proc/diskstats", required: false))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 14)
            {
                continue;
            }

            all.Add(new DiskCounters(
                fields[2],
                ParseLong(fields[3], "proc/diskstats"),
                ParseLong(fields[5], "proc/diskstats") * SectorBytes,
                ParseLong(fields[7], "proc/diskstats"),
                ParseLong(fields[9], "proc/diskstats") * SectorBytes,
                ParseLong(fields[12], "proc/diskstats")));
        }

        var sysBlock = PathOf("sys/block");
        HashSet<string>? wholeDisks = Directory.Exists(sysBlock)
            ? [.. Directory.EnumerateFileSystemEntries(sysBlock).Select(Path.GetFileName).OfType<string>()]
            : null;
        var names = all.Select(d => d.Device).ToHashSet(StringComparer.Ordinal);
        return
        [
            .. all.Where(d => !d.Device.StartsWith("loop", StringComparison.Ordinal) && !d.Device.StartsWith("ram", StringComparison.Ordinal))
                  .Where(d => wholeDisks?.Contains(d.Device) ?? !LooksLikePartition(d.Device, names)),
        ];
    }

    private static bool LooksLikePartition(string device, HashSet<string> names)
    {
        var end = device.Length;
        while (end > 0 && char.IsAsciiDigit(device[end - 1]))
        {
            end--;
        }

        if (end == device.Length || end == 0)
        {
            return false;
        }

        var parent = device[..end];
        // nvme0n1p1 → nvme0n1, mmcblk0p1 → mmcblk0; sda1 → sda
        return names.Contains(parent) || (parent.EndsWith('p') && names.Contains(parent[..^1]));
    }

    private long ParseLong(string text, string file) =>
        long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new HostReadException($"{PathOf(file)}: '{text}' is not a number");

    private double ParseDouble(string text, string file) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new HostReadException($"{PathOf(file)}: '{text}' is not a number");
}
