using System.Globalization;

namespace Aperture.Testing;

/// <summary>Resident memory of a process as Linux reports it in /proc/PID/status.</summary>
public static class ProcessMemory
{
    public static long ResidentBytes(int pid) => Read(pid, "VmRSS:");

    /// <summary>The high-water mark of resident memory since the process started.</summary>
    public static long PeakResidentBytes(int pid) => Read(pid, "VmHWM:");

    private static long Read(int pid, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                var kib = line[field.Length..].Trim().Split(' ')[0];
                return long.Parse(kib, CultureInfo.InvariantCulture) * 1024;
            }
        }

        throw new InvalidOperationException($"{field} not in /proc/{pid}/status");
    }
}
