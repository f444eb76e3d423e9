using Aperture.Agent.Collectors.Host;

namespace Aperture.Agent.Collectors.Gpu;

/// <summary>Where GPU readings come from on this host (NVML, nvidia-smi, or nowhere, with the reason).</summary>
public interface IGpuSource
{
    /// <summary><c>nvml</c>, <c>nvidia-smi</c> or <c>none</c>.</summary>
    string Name { get; }

    bool Available { get; }

    /// <summary>Why the source is what it is (e.g. "libnvidia-ml.so.1 not found").</summary>
    string Reason { get; }

    /// <summary>One reading per GPU; empty when there is none or the read failed (the reason says why).</summary>
    IReadOnlyList<GpuSample> Read();
}

public sealed class NoGpuSource(string reason) : IGpuSource
{
    public string Name => "none";

    public bool Available => false;

    public string Reason { get; } = reason;

    public IReadOnlyList<GpuSample> Read() => [];
}

/// <summary>NVML first, nvidia-smi when the library is missing, none otherwise.</summary>
public static class GpuSources
{
    public static IGpuSource Detect(bool enabled, string nvidiaSmi)
    {
        if (!enabled)
        {
            return new NoGpuSource("GPU collection is disabled in the configuration (collectors.gpu.enabled: false)");
        }

        var nvml = NvmlGpuSource.TryOpen(out var nvmlReason);
        if (nvml is not null)
        {
            return nvml;
        }

        var smi = NvidiaSmiGpuSource.Find(nvidiaSmi);
        return smi is not null
            ? new NvidiaSmiGpuSource(smi, $"{nvmlReason}; using {smi}")
            : new NoGpuSource($"no GPU: {nvmlReason}, and {nvidiaSmi} is not on PATH");
    }
}
