using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace Aperture.Agent.Profiling;

/// <summary>The few libc calls perf events need, and the perf_event_attr layout (ABI version 5, 112 bytes).</summary>
internal static unsafe partial class PerfEventInterop
{
    public const uint PerfTypeSoftware = 1;
    public const uint PerfTypeTracepoint = 2;
    public const ulong PerfCountSwCpuClock = 0;

    public const ulong SampleIp = 1UL << 0;
    public const ulong SampleTid = 1UL << 1;
    public const ulong SampleTime = 1UL << 2;
    public const ulong SampleCallchain = 1UL << 5;
    public const ulong SampleRaw = 1UL << 10;

    public const int AttrSize = 112;
    public const ulong FlagFdCloexec = 8;

    public const uint IocEnable = 0x2400;
    public const uint IocDisable = 0x2401;
    public const uint IocSetOutput = 0x2405;

    public const int ClockRealtime = 0;

    public const int Eperm = 1;
    public const int Enoent = 2;
    public const int Esrch = 3;
    public const int Eacces = 13;
    public const int Ebusy = 16;
    public const int Enodev = 19;
    public const int Einval = 22;
    public const int Emfile = 24;
    public const int Enosys = 38;
    public const int Eopnotsupp = 95;

    private const int ProtRead = 1;
    private const int ProtWrite = 2;
    private const int MapShared = 1;

    /// <summary>What goes into perf_event_attr; only the fields this profiler sets.</summary>
    public readonly record struct Attr(
        uint Type,
        ulong Config,
        ulong SamplePeriodOrFreq,
        bool Freq,
        ulong SampleType,
        bool Disabled,
        bool Inherit,
        bool ExcludeKernel,
        bool UseClockId,
        int ClockId,
        ushort SampleMaxStack);

    public static byte[] Encode(in Attr attr)
    {
        var bytes = new byte[AttrSize];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(span[0..], attr.Type);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], AttrSize);
        BinaryPrimitives.WriteUInt64LittleEndian(span[8..], attr.Config);
        BinaryPrimitives.WriteUInt64LittleEndian(span[16..], attr.SamplePeriodOrFreq);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], attr.SampleType);
        ulong flags = 0;
        if (attr.Disabled)
        {
            flags |= 1UL << 0;
        }

        if (attr.Inherit)
        {
            flags |= 1UL << 1;
        }

        if (attr.ExcludeKernel)
        {
            flags |= 1UL << 5;
            // Without kernel sampling rights the kernel also refuses kernel call chains.
            flags |= 1UL << 21;
        }

        // exclude_hv: hypervisor samples are not ours to see, and some VMs refuse events that include them.
        flags |= 1UL << 6;
        if (attr.Freq)
        {
            flags |= 1UL << 10;
        }

        if (attr.UseClockId)
        {
            flags |= 1UL << 25;
        }

        BinaryPrimitives.WriteUInt64LittleEndian(span[40..], flags);
        BinaryPrimitives.WriteInt32LittleEndian(span[92..], attr.ClockId);
        BinaryPrimitives.WriteUInt16LittleEndian(span[108..], attr.SampleMaxStack);
        return bytes;
    }

    /// <summary>perf_event_open; returns the fd, or -errno.</summary>
    public static int Open(in Attr attr, int pid, int cpu, int groupFd = -1)
    {
        if (!OperatingSystem.IsLinux())
        {
            return -Enosys;
        }

        var number = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 298L,
            Architecture.Arm64 => 241L,
            _ => -1L,
        };
        if (number < 0)
        {
            return -Enosys;
        }

        var bytes = Encode(attr);
        fixed (byte* p = bytes)
        {
            var fd = Syscall(number, (nint)p, pid, cpu, groupFd, (nint)FlagFdCloexec);
            return fd < 0 ? -Marshal.GetLastPInvokeError() : (int)fd;
        }
    }

    public static int Ioctl(int fd, uint request, nint argument)
    {
        var result = IoctlNative(fd, request, argument);
        return result < 0 ? -Marshal.GetLastPInvokeError() : result;
    }

    /// <summary>Maps the metadata page plus the data pages; null with the errno when the kernel refuses.</summary>
    public static byte* Map(int fd, nuint length, out int errno)
    {
        var address = MmapNative(0, length, ProtRead | ProtWrite, MapShared, fd, 0);
        if (address == -1)
        {
            errno = Marshal.GetLastPInvokeError();
            return null;
        }

        errno = 0;
        return (byte*)address;
    }

    public static void Unmap(byte* address, nuint length) => _ = MunmapNative((nint)address, length);

    public static void Close(int fd) => _ = CloseNative(fd);

    public static string ErrnoName(int errno) => errno switch
    {
        Eperm => "EPERM",
        Enoent => "ENOENT",
        Esrch => "ESRCH",
        Eacces => "EACCES",
        Ebusy => "EBUSY",
        Enodev => "ENODEV",
        Einval => "EINVAL",
        Emfile => "EMFILE",
        Enosys => "ENOSYS",
        Eopnotsupp => "EOPNOTSUPP",
        _ => $"errno {errno}",
    };

    // syscall(2) is variadic; every argument here is an integer register, which the x86-64 and AArch64 Linux
    // calling conventions pass the same way for variadic and fixed parameters.
    [LibraryImport("libc", EntryPoint = "syscall", SetLastError = true)]
    private static partial long Syscall(long number, nint a1, nint a2, nint a3, nint a4, nint a5);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    private static partial int IoctlNative(int fd, nuint request, nint argument);

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial nint MmapNative(nint address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int MunmapNative(nint address, nuint length);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int CloseNative(int fd);

    /// <summary>Stops the events, unmaps their ring buffers, then closes them (disabling first, so nothing is written to an unmapped buffer).</summary>
    public static void CloseAll(List<int> fds, List<PerfRingBuffer> buffers)
    {
        foreach (var fd in fds)
        {
            _ = Ioctl(fd, IocDisable, 0);
        }

        foreach (var buffer in buffers)
        {
            buffer.Dispose();
        }

        foreach (var fd in fds)
        {
            Close(fd);
        }

        buffers.Clear();
        fds.Clear();
    }
}
