using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Aperture.Agent.Diagnostics;

/// <summary>
/// The agent's own counters. They are plain fields read by two exporters: the Prometheus text of
/// /metrics (<see cref="Services.AgentRuntime.WritePrometheus"/>) and OpenTelemetry's OTLP exporter through
/// the observable instruments of <see cref="Meter"/>, so both always show the same numbers.
/// </summary>
public sealed class AgentMetrics : IDisposable
{
    public const string MeterName = "Aperture.Agent";
    private long _hostSamples;
    private long _hostSampleErrors;
    private long _profileBatches;
    private long _profileSamples;
    private long _sidecarEvents;
    private long _sidecarRejected;
    private long _rateLimited;
    private long _unauthorized;
    private long _reloads;
    private long _reloadErrors;

    public AgentMetrics(string version)
    {
        Meter = new Meter(MeterName, version);
    }

    public Meter Meter { get; }

    public long HostSamples => Interlocked.Read(ref _hostSamples);

    public long HostSampleErrors => Interlocked.Read(ref _hostSampleErrors);

    public long ProfileBatches => Interlocked.Read(ref _profileBatches);

    public long ProfileSamples => Interlocked.Read(ref _profileSamples);

    public long SidecarEvents => Interlocked.Read(ref _sidecarEvents);

    public long SidecarRejected => Interlocked.Read(ref _sidecarRejected);

    public long RateLimited => Interlocked.Read(ref _rateLimited);

    public long Unauthorized => Interlocked.Read(ref _unauthorized);

    public long Reloads => Interlocked.Read(ref _reloads);

    public long ReloadErrors => Interlocked.Read(ref _reloadErrors);

    public void HostSampleCollected() => Interlocked.Increment(ref _hostSamples);

    public void HostSampleFailed() => Interlocked.Increment(ref _hostSampleErrors);

    public void ProfileBatchMade(long samples)
    {
        Interlocked.Increment(ref _profileBatches);
        Interlocked.Add(ref _profileSamples, samples);
    }

    public void SidecarReceived(long events) => Interlocked.Add(ref _sidecarEvents, events);

    public void SidecarRejectedRequest() => Interlocked.Increment(ref _sidecarRejected);

    public void RequestRateLimited() => Interlocked.Increment(ref _rateLimited);

    public void RequestUnauthorized() => Interlocked.Increment(ref _unauthorized);

    public void Reloaded() => Interlocked.Increment(ref _reloads);

    public void ReloadFailed() => Interlocked.Increment(ref _reloadErrors);

    public static double ProcessCpuSeconds()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime.TotalSeconds;
    }

    public static long ProcessResidentBytes()
    {
        using var process = Process.GetCurrentProcess();
        return process.WorkingSet64;
    }

    public void Dispose() => Meter.Dispose();
}
