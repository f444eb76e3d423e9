using System.Runtime.InteropServices;
using System.Text;
using Aperture.Agent.Collectors.Host;

namespace Aperture.Agent.Collectors.Gpu;

/// <summary>
/// GPU readings through NVML (<c>libnvidia-ml.so.1</c>, which the NVIDIA driver installs), loaded at run
/// time only where it exists, so the agent runs unchanged on hosts without a GPU.
/// </summary>
public sealed unsafe class NvmlGpuSource : IGpuSource
{
    public const string LibraryName = "libnvidia-ml.so.1";
    private const int Success = 0;
    private const int NameLength = 96;

    private readonly delegate* unmanaged<uint*, int> _getCount;
    private readonly delegate* unmanaged<uint, nint*, int> _getHandle;
    private readonly delegate* unmanaged<nint, byte*, uint, int> _getName;
    private readonly delegate* unmanaged<nint, byte*, uint, int> _getUuid;
    private readonly delegate* unmanaged<nint, Utilization*, int> _getUtilization;
    private readonly delegate* unmanaged<nint, MemoryInfo*, int> _getMemory;
    private readonly delegate* unmanaged<nint, int, uint*, int> _getTemperature;
    private readonly delegate* unmanaged<nint, uint*, int> _getPower;
    private readonly delegate* unmanaged<nint, uint*, int> _getPowerLimit;

    private NvmlGpuSource(nint library)
    {
        _getCount = (delegate* unmanaged<uint*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetCount_v2");
        _getHandle = (delegate* unmanaged<uint, nint*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetHandleByIndex_v2");
        _getName = (delegate* unmanaged<nint, byte*, uint, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetName");
        _getUuid = (delegate* unmanaged<nint, byte*, uint, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetUUID");
        _getUtilization = (delegate* unmanaged<nint, Utilization*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetUtilizationRates");
        _getMemory = (delegate* unmanaged<nint, MemoryInfo*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetMemoryInfo");
        _getTemperature = (delegate* unmanaged<nint, int, uint*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetTemperature");
        _getPower = (delegate* unmanaged<nint, uint*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetPowerUsage");
        _getPowerLimit = (delegate* unmanaged<nint, uint*, int>)NativeLibrary.GetExport(library, "nvmlDeviceGetEnforcedPowerLimit");
    }

    public string Name => "nvml";

    public bool Available => true;

    public string Reason { get; private set; } = $"{LibraryName} loaded";

    /// <summary>Loads and initialises NVML, or says why it could not.</summary>
    public static NvmlGpuSource? TryOpen(out string reason)
    {
        if (!NativeLibrary.TryLoad(LibraryName, out var library))
        {
            reason = $"{LibraryName} not found";
            return null;
        }

        try
        {
            var init = (delegate* unmanaged<int>)NativeLibrary.GetExport(library, "nvmlInit_v2");
            var status = init();
            if (status != Success)
            {
                reason = $"nvmlInit_v2 failed with NVML error {status}";
                return null;
            }

            reason = $"{LibraryName} loaded";
            return new NvmlGpuSource(library);
        }
        catch (EntryPointNotFoundException error)
        {
            reason = $"{LibraryName} lacks an NVML function: {error.Message}";
            return null;
        }
    }

    public IReadOnlyList<GpuSample> Read()
    {
        uint count;
        var status = _getCount(&count);
        if (status != Success)
        {
            Reason = $"nvmlDeviceGetCount_v2 failed with NVML error {status}";
            return [];
        }

        var gpus = new List<GpuSample>((int)count);
        var text = stackalloc byte[NameLength];
        for (uint index = 0; index < count; index++)
        {
            nint device;
            if (_getHandle(index, &device) != Success)
            {
                continue;
            }

            var name = _getName(device, text, NameLength) == Success ? Utf8(text) : string.Empty;
            var uuid = _getUuid(device, text, NameLength) == Success ? Utf8(text) : null;
            Utilization utilization;
            var hasUtilization = _getUtilization(device, &utilization) == Success;
            MemoryInfo memory;
            var hasMemory = _getMemory(device, &memory) == Success;
            uint temperature, power, limit;
            var hasTemperature = _getTemperature(device, 0, &temperature) == Success;
            var hasPower = _getPower(device, &power) == Success;
            var hasLimit = _getPowerLimit(device, &limit) == Success;
            gpus.Add(new GpuSample
            {
                GpuIndex = (int)index,
                Name = name,
                Uuid = uuid,
                UtilizationGpuPercent = hasUtilization ? utilization.Gpu : null,
                UtilizationMemoryPercent = hasUtilization ? utilization.Memory : null,
                MemoryTotalBytes = hasMemory ? (long)memory.Total : null,
                MemoryUsedBytes = hasMemory ? (long)memory.Used : null,
                MemoryPercent = hasMemory && memory.Total > 0 ? Math.Round(100.0 * memory.Used / memory.Total, 2) : null,
                TemperatureC = hasTemperature ? temperature : null,
                PowerW = hasPower ? power / 1000.0 : null,
                PowerLimitW = hasLimit ? limit / 1000.0 : null,
            });
        }

        Reason = $"{LibraryName} loaded; {count} GPU(s)";
        return gpus;
    }

    private static string Utf8(byte* text)
    {
        var length = 0;
        while (length < NameLength && text[length] != 0)
        {
            length++;
        }

        return Encoding.UTF8.GetString(text, length);
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct Utilization
    {
        public uint Gpu;
        public uint Memory;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct MemoryInfo
    {
        public ulong Total;
        public ulong Free;
        public ulong Used;
    }
}
