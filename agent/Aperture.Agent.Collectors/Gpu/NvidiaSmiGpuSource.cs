using System.Diagnostics;
using System.Globalization;
using Aperture.Agent.Collectors.Host;

namespace Aperture.Agent.Collectors.Gpu;

/// <summary>GPU readings from <c>nvidia-smi --query-gpu</c>, for hosts where NVML cannot be loaded into the agent.</summary>
public sealed class NvidiaSmiGpuSource(string executable, string reason) : IGpuSource
{
    public const string QueryFields = "index,name,uuid,utilization.gpu,utilization.memory,memory.total,memory.used,temperature.gpu,power.draw,power.limit";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public string Name => "nvidia-smi";

    public bool Available => true;

    public string Reason { get; private set; } = reason;

    public static string? Find(string nameOrPath)
    {
        if (nameOrPath.Contains('/', StringComparison.Ordinal))
        {
            return File.Exists(nameOrPath) ? nameOrPath : null;
        }

        var path = Environment.GetEnvironmentVariable("PATH") ?? string.Empty;
        return path.Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, nameOrPath))
            .FirstOrDefault(File.Exists);
    }

    public IReadOnlyList<GpuSample> Read()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(executable, [$"--query-gpu={QueryFields}", "--format=csv,noheader,nounits"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            }) ?? throw new InvalidOperationException($"{executable} did not start");
            var output = process.StandardOutput.ReadToEndAsync();
            if (!process.WaitForExit(Timeout))
            {
                process.Kill(entireProcessTree: true);
                Reason = $"{executable} did not answer within {Timeout.TotalSeconds} s";
                return [];
            }

            if (process.ExitCode != 0)
            {
                Reason = $"{executable} exited with {process.ExitCode}";
                return [];
            }

            return Parse(output.GetAwaiter().GetResult());
        }
        catch (Exception error) when (error is InvalidOperationException or System.ComponentModel.Win32Exception or IOException)
        {
            Reason = $"{executable} failed: {error.Message}";
            return [];
        }
    }

    /// <summary>
    /// Parses <c>--format=csv,noheader,nounits</c> output of <see cref="QueryFields"/>. Fields a GPU does not
    /// report (<c>[N/A]</c>, <c>[Not Supported]</c>, <c>[Unknown Error]</c>) become null; memory is in MiB.
    /// </summary>
    public static IReadOnlyList<GpuSample> Parse(string output)
    {
        var gpus = new List<GpuSample>();
        foreach (var raw in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var fields = raw.Split(',', StringSplitOptions.TrimEntries);
            if (fields.Length < 10)
            {
                continue;
            }

            // A name with a comma in it spreads over several fields; the nine others are fixed.
            var nameParts = fields.Length - 9;
            string F(int i) => i == 0 ? fields[0] : fields[i + nameParts - 1];
            var memoryTotal = Number(F(5));
            var memoryUsed = Number(F(6));
            gpus.Add(new GpuSample
            {
                GpuIndex = int.TryParse(F(0), NumberStyles.Integer, CultureInfo.InvariantCulture, out var index) ? index : gpus.Count,
                Name = string.Join(", ", fields[1..(1 + nameParts)]),
                Uuid = Text(F(2)),
                UtilizationGpuPercent = Number(F(3)),
                UtilizationMemoryPercent = Number(F(4)),
                MemoryTotalBytes = memoryTotal is { } total ? (long)(total * 1024 * 1024) : null,
                MemoryUsedBytes = memoryUsed is { } used ? (long)(used * 1024 * 1024) : null,
                MemoryPercent = memoryTotal is > 0 && memoryUsed is { } u ? Math.Round(100.0 * u / memoryTotal.Value, 2) : null,
                TemperatureC = Number(F(7)),
                PowerW = Number(F(8)),
                PowerLimitW = Number(F(9)),
            });
        }

        return gpus;
    }

    private static string? Text(string field) => field.StartsWith('[') || field.Length == 0 ? null : field;

    private static double? Number(string field) =>
        double.TryParse(field, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) ? value : null;
}
