using System.Globalization;

namespace Aperture.Runtime.Servers;

/// <summary>What limits a server now: a label, its title, a confidence in 0..1 and the reason in words.</summary>
public sealed record BottleneckVerdict(string Label, string Title, double Confidence, string Reason);

/// <summary>The classifier's inputs: one snapshot's utilisations (null where unknown).</summary>
public sealed record BottleneckInputs(
    double? CpuUsagePercent,
    double? CpuIowaitPercent,
    double? MemoryPercent,
    double? SwapPercent,
    double? DiskUtilPercent,
    double? GpuTopUtilPercent,
    double? NetworkRxBps,
    double? NetworkTxBps)
{
    public static BottleneckInputs Of(ServerSample sample, SnapshotRates rates) => new(
        sample.CpuUsagePercent, sample.CpuIowaitPercent, sample.MemoryPercent, sample.SwapPercent,
        rates.DiskUtilPercent, sample.GpuTopUtilPercent, rates.NetworkRxBps, rates.NetworkTxBps);
}

/// <summary>
/// Classifies a snapshot by fixed rules, in this order (a threshold is reached at equality):
/// <list type="number">
/// <item><c>memory-bound</c>: memory ≥ <see cref="MemoryCriticalPercent"/>, or memory ≥
/// <see cref="MemoryHighPercent"/> while swap ≥ <see cref="SwapActivePercent"/> (the host pages).</item>
/// <item>Each of GPU (busiest GPU ≥ <see cref="GpuSaturatedPercent"/>), disk (busiest disk ≥
/// <see cref="DiskSaturatedPercent"/> or CPU iowait ≥ <see cref="IowaitSaturatedPercent"/>), CPU
/// (≥ <see cref="CpuSaturatedPercent"/>) and network (receive or transmit ≥
/// <see cref="NetworkSaturatedBytesPerSecond"/>) is saturated or not. One saturated: <c>gpu-bound</c>,
/// <c>io-bound</c>, <c>cpu-bound</c> or <c>network-bound</c>; two or more: <c>mixed</c>.</item>
/// <item><c>idle</c>: CPU, busiest GPU and busiest disk all below <see cref="IdlePercent"/> and the
/// network below <see cref="IdleNetworkBytesPerSecond"/> each way.</item>
/// <item><c>balanced</c>: busy, but nothing saturated.</item>
/// </list>
/// Unknown inputs count as zero. Confidence grows from <see cref="BaseConfidence"/> at the threshold
/// to 1 at full saturation (for idle: from the threshold down to zero use).
/// </summary>
public static class BottleneckClassifier
{
    public const double GpuSaturatedPercent = 85;
    public const double CpuSaturatedPercent = 85;
    public const double DiskSaturatedPercent = 80;
    public const double IowaitSaturatedPercent = 20;
    public const double MemoryCriticalPercent = 95;
    public const double MemoryHighPercent = 90;
    public const double SwapActivePercent = 10;
    /// <summary>About 80% of a 1 Gbit/s link.</summary>
    public const double NetworkSaturatedBytesPerSecond = 100_000_000;
    public const double IdlePercent = 10;
    public const double IdleNetworkBytesPerSecond = 1_000_000;
    public const double BaseConfidence = 0.6;
    public const double MixedConfidence = 0.5;
    public const double BalancedConfidence = 0.5;

    public const string GpuBound = "gpu-bound";
    public const string CpuBound = "cpu-bound";
    public const string IoBound = "io-bound";
    public const string MemoryBound = "memory-bound";
    public const string NetworkBound = "network-bound";
    public const string Mixed = "mixed";
    public const string Idle = "idle";
    public const string Balanced = "balanced";

    public static IReadOnlyList<string> Labels { get; } = [GpuBound, CpuBound, IoBound, MemoryBound, NetworkBound, Mixed, Idle, Balanced];

    public static BottleneckVerdict Classify(BottleneckInputs inputs)
    {
        var cpu = inputs.CpuUsagePercent ?? 0;
        var iowait = inputs.CpuIowaitPercent ?? 0;
        var memory = inputs.MemoryPercent ?? 0;
        var swap = inputs.SwapPercent ?? 0;
        var disk = inputs.DiskUtilPercent ?? 0;
        var gpu = inputs.GpuTopUtilPercent;
        var network = Math.Max(inputs.NetworkRxBps ?? 0, inputs.NetworkTxBps ?? 0);

        if (memory >= MemoryCriticalPercent || (memory >= MemoryHighPercent && swap >= SwapActivePercent))
        {
            var confidence = memory >= MemoryCriticalPercent
                ? Ramp(memory, MemoryCriticalPercent, 100)
                : Ramp(Math.Max(memory, MemoryHighPercent), MemoryHighPercent, 100);
            return Verdict(MemoryBound, confidence, swap >= SwapActivePercent
                ? $"Memory {P(memory)} used and swap {P(swap)} in use: the host is paging"
                : $"Memory {P(memory)} used, little headroom before the host pages or kills processes");
        }

        var saturated = new List<(string Label, string Name, double Confidence)>();
        if (gpu >= GpuSaturatedPercent)
        {
            saturated.Add((GpuBound, $"GPU {P(gpu.Value)}", Ramp(gpu.Value, GpuSaturatedPercent, 100)));
        }

        if (disk >= DiskSaturatedPercent || iowait >= IowaitSaturatedPercent)
        {
            var confidence = Math.Max(
                disk >= DiskSaturatedPercent ? Ramp(disk, DiskSaturatedPercent, 100) : 0,
                iowait >= IowaitSaturatedPercent ? Ramp(iowait, IowaitSaturatedPercent, 100) : 0);
            saturated.Add((IoBound, disk >= DiskSaturatedPercent ? $"disk {P(disk)} busy" : $"CPU iowait {P(iowait)}", confidence));
        }

        if (cpu >= CpuSaturatedPercent)
        {
            saturated.Add((CpuBound, $"CPU {P(cpu)}", Ramp(cpu, CpuSaturatedPercent, 100)));
        }

        if (network >= NetworkSaturatedBytesPerSecond)
        {
            saturated.Add((NetworkBound, $"network {Rate(network)}", Ramp(network, NetworkSaturatedBytesPerSecond, 2 * NetworkSaturatedBytesPerSecond)));
        }

        if (saturated.Count == 1)
        {
            var (label, name, confidence) = saturated[0];
            var others = new List<string>();
            if (label != CpuBound)
            {
                others.Add($"CPU {P(cpu)}");
            }

            if (label != GpuBound && gpu is not null)
            {
                others.Add($"GPU {P(gpu.Value)}");
            }

            if (label != IoBound)
            {
                others.Add($"disk {P(disk)}");
            }

            var verb = label == IoBound && disk < DiskSaturatedPercent ? "high" : "saturated";
            return Verdict(label, confidence, $"{name} {verb} while {Join(others)} {(others.Count == 1 ? "is" : "are")} lower");
        }

        if (saturated.Count > 1)
        {
            return Verdict(Mixed, MixedConfidence, $"Several resources saturated at once: {Join([.. saturated.Select(s => s.Name)])}");
        }

        var top = Math.Max(cpu, Math.Max(gpu ?? 0, disk));
        if (top < IdlePercent && network < IdleNetworkBytesPerSecond)
        {
            return Verdict(Idle, Ramp(IdlePercent - top, 0, IdlePercent),
                $"Nothing busy: CPU {P(cpu)}, {(gpu is null ? string.Empty : $"GPU {P(gpu.Value)}, ")}disk {P(disk)}, network {Rate(network)}");
        }

        return Verdict(Balanced, BalancedConfidence,
            $"Busy but nothing saturated: CPU {P(cpu)}, {(gpu is null ? string.Empty : $"GPU {P(gpu.Value)}, ")}disk {P(disk)}, memory {P(memory)}");
    }

    /// <summary>"gpu-bound" → "Gpu Bound", as the spec's example titles it.</summary>
    public static string Title(string label) =>
        string.Join(' ', label.Split('-').Select(word => word.Length == 0 ? word : char.ToUpperInvariant(word[0]) + word[1..]));

    private static BottleneckVerdict Verdict(string label, double confidence, string reason) =>
        new(label, Title(label), Math.Round(Math.Clamp(confidence, 0, 1), 2), reason);

    /// <summary><see cref="BaseConfidence"/> at <paramref name="from"/>, rising linearly to 1 at <paramref name="to"/>.</summary>
    private static double Ramp(double value, double from, double to) =>
        BaseConfidence + ((1 - BaseConfidence) * Math.Clamp((value - from) / (to - from), 0, 1));

    private static string P(double percent) => percent.ToString("0.#", CultureInfo.InvariantCulture) + "%";

    private static string Rate(double bytesPerSecond) =>
        bytesPerSecond >= 1_000_000
            ? (bytesPerSecond / 1_000_000).ToString("0.#", CultureInfo.InvariantCulture) + " MB/s"
            : (bytesPerSecond / 1_000).ToString("0.#", CultureInfo.InvariantCulture) + " kB/s";

    private static string Join(List<string> parts) =>
        parts.Count <= 1 ? string.Concat(parts) : $"{string.Join(", ", parts.Take(parts.Count - 1))} and {parts[^1]}";
}
