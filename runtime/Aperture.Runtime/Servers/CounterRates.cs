namespace Aperture.Runtime.Servers;

/// <summary>The cumulative counters of a server's last sample, kept (in Redis) to derive the next sample's rates.</summary>
public sealed record CounterState(
    long CollectedAtMs,
    ulong? NetworkRxBytesTotal,
    ulong? NetworkTxBytesTotal,
    IReadOnlyDictionary<string, DiskCounters> Disks)
{
    public static CounterState Of(ServerSample sample) => new(
        sample.CollectedAt.ToUnixTimeMilliseconds(),
        sample.NetworkRxBytesTotal,
        sample.NetworkTxBytesTotal,
        sample.Disks.ToDictionary(d => d.Device, d => new DiskCounters(d.ReadBytesTotal, d.WriteBytesTotal, d.BusyTimeMsTotal), StringComparer.Ordinal));
}

public sealed record DiskCounters(ulong? ReadBytesTotal, ulong? WriteBytesTotal, ulong? BusyTimeMsTotal);

/// <summary>
/// Rates from the counter deltas of two consecutive samples of one server.
/// <list type="bullet">
/// <item>A counter lower than before was reset (host reboot, driver reload, 64-bit wrap): the new
/// value is taken as the delta from zero, as Prometheus' <c>rate()</c> does, so the interval still
/// has a rate (at worst an underestimate).</item>
/// <item>An agent restart keeps the host's counters, so the next sample's rates span the gap; a gap
/// longer than <c>maxInterval</c>, or a sample not newer than the previous one, gives no rates.</item>
/// <item>A device or counter absent from either sample has no rate (null), never a guess.</item>
/// </list>
/// Disk utilisation is busy-time delta over wall-time delta, clamped to 0..100; the server's disk
/// utilisation is its busiest device's (one saturated disk stalls whoever waits on it), its byte
/// rates the sum over devices.
/// </summary>
public static class CounterRates
{
    public static SnapshotRates Derive(CounterState? previous, ServerSample sample, TimeSpan maxInterval, out double? intervalSeconds)
    {
        intervalSeconds = null;
        if (previous is null)
        {
            return SnapshotRates.Unknown(sample.Disks);
        }

        var elapsedMs = sample.CollectedAt.ToUnixTimeMilliseconds() - previous.CollectedAtMs;
        if (elapsedMs <= 0 || elapsedMs > maxInterval.TotalMilliseconds)
        {
            return SnapshotRates.Unknown(sample.Disks);
        }

        var seconds = elapsedMs / 1000.0;
        intervalSeconds = seconds;
        var disks = new List<DiskRates>(sample.Disks.Count);
        foreach (var disk in sample.Disks)
        {
            if (!previous.Disks.TryGetValue(disk.Device, out var before))
            {
                disks.Add(new DiskRates(disk.Device, null, null, null));
                continue;
            }

            var busy = Delta(before.BusyTimeMsTotal, disk.BusyTimeMsTotal);
            disks.Add(new DiskRates(
                disk.Device,
                Delta(before.ReadBytesTotal, disk.ReadBytesTotal) / seconds,
                Delta(before.WriteBytesTotal, disk.WriteBytesTotal) / seconds,
                busy is null ? null : Math.Clamp(busy.Value / elapsedMs * 100.0, 0, 100)));
        }

        return new SnapshotRates(
            Sum(disks.Select(d => d.ReadBps)),
            Sum(disks.Select(d => d.WriteBps)),
            disks.Select(d => d.UtilPercent).Where(u => u is not null).Max(),
            Delta(previous.NetworkRxBytesTotal, sample.NetworkRxBytesTotal) / seconds,
            Delta(previous.NetworkTxBytesTotal, sample.NetworkTxBytesTotal) / seconds,
            disks);
    }

    /// <summary>The increase of a counter; a lower value means it was reset and counts from zero.</summary>
    public static double? Delta(ulong? before, ulong? after) =>
        before is null || after is null ? null : after >= before ? after.Value - before.Value : after.Value;

    private static double? Sum(IEnumerable<double?> values)
    {
        double? total = null;
        foreach (var value in values)
        {
            if (value is not null)
            {
                total = (total ?? 0) + value;
            }
        }

        return total;
    }
}
