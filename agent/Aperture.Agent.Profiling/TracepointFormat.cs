using System.Globalization;

namespace Aperture.Agent.Profiling;

/// <summary>One field of a tracepoint's raw record, as its tracefs format file describes it.</summary>
public sealed record TracepointField(string Name, int Offset, int Size, bool IsSigned);

/// <summary>
/// A tracefs <c>events/&lt;sys&gt;/&lt;name&gt;/format</c> file: the tracepoint id and where each field of the raw
/// record lies. Offsets are read at run time because they differ between kernels.
/// </summary>
public sealed record TracepointFormat(string Name, int Id, IReadOnlyDictionary<string, TracepointField> Fields)
{
    /// <summary>Parses a format file; null when it has no ID line.</summary>
    public static TracepointFormat? Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        string name = string.Empty;
        int? id = null;
        var fields = new Dictionary<string, TracepointField>(StringComparer.Ordinal);
        foreach (var rawLine in text.Split('\n'))
        {
            var line = rawLine.Trim();
            if (line.StartsWith("name:", StringComparison.Ordinal))
            {
                name = line[5..].Trim();
            }
            else if (line.StartsWith("ID:", StringComparison.Ordinal)
                && int.TryParse(line[3..].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                id = parsed;
            }
            else if (line.StartsWith("field:", StringComparison.Ordinal))
            {
                var field = ParseField(line);
                if (field != null)
                {
                    fields[field.Name] = field;
                }
            }
        }

        return id is null ? null : new TracepointFormat(name, id.Value, fields);
    }

    /// <summary>"field:u32 * uaddr;	offset:16;	size:8;	signed:0;"</summary>
    private static TracepointField? ParseField(string line)
    {
        var parts = line.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length < 3)
        {
            return null;
        }

        var declaration = parts[0]["field:".Length..].Trim();
        var bracket = declaration.IndexOf('[', StringComparison.Ordinal);
        if (bracket >= 0)
        {
            declaration = declaration[..bracket];
        }

        var fieldName = declaration.Split(' ', '*').LastOrDefault(t => t.Length > 0);
        int? offset = null, size = null;
        var signed = false;
        foreach (var part in parts.Skip(1))
        {
            var colon = part.IndexOf(':', StringComparison.Ordinal);
            if (colon < 0 || !int.TryParse(part.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                continue;
            }

            switch (part[..colon])
            {
                case "offset":
                    offset = value;
                    break;
                case "size":
                    size = value;
                    break;
                case "signed":
                    signed = value != 0;
                    break;
            }
        }

        return fieldName is null || offset is null || size is null ? null : new TracepointField(fieldName, offset.Value, size.Value, signed);
    }

    /// <summary>Reads a field of 1, 2, 4 or 8 bytes from a raw record as a 64-bit value (sign-extended when signed); null when it does not fit.</summary>
    public long? Read(ReadOnlySpan<byte> raw, string field)
    {
        if (!Fields.TryGetValue(field, out var f) || f.Offset < 0 || f.Offset + f.Size > raw.Length)
        {
            return null;
        }

        var bytes = raw.Slice(f.Offset, f.Size);
        return f.Size switch
        {
            8 => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(bytes),
            4 => f.IsSigned ? System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes) : System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(bytes),
            2 => f.IsSigned ? System.Buffers.Binary.BinaryPrimitives.ReadInt16LittleEndian(bytes) : System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes),
            1 => f.IsSigned ? (sbyte)bytes[0] : bytes[0],
            _ => null,
        };
    }
}

/// <summary>x86_64 syscall numbers of the common calls; others are named "sys_&lt;nr&gt;".</summary>
public static class SyscallNames
{
    private static readonly Dictionary<long, string> X8664 = new()
    {
        [0] = "read",
        [1] = "write",
        [2] = "open",
        [3] = "close",
        [4] = "stat",
        [5] = "fstat",
        [6] = "lstat",
        [7] = "poll",
        [8] = "lseek",
        [9] = "mmap",
        [10] = "mprotect",
        [11] = "munmap",
        [12] = "brk",
        [13] = "rt_sigaction",
        [14] = "rt_sigprocmask",
        [16] = "ioctl",
        [17] = "pread64",
        [18] = "pwrite64",
        [19] = "readv",
        [20] = "writev",
        [21] = "access",
        [22] = "pipe",
        [23] = "select",
        [24] = "sched_yield",
        [28] = "madvise",
        [32] = "dup",
        [33] = "dup2",
        [35] = "nanosleep",
        [39] = "getpid",
        [41] = "socket",
        [42] = "connect",
        [43] = "accept",
        [44] = "sendto",
        [45] = "recvfrom",
        [46] = "sendmsg",
        [47] = "recvmsg",
        [48] = "shutdown",
        [49] = "bind",
        [50] = "listen",
        [54] = "setsockopt",
        [55] = "getsockopt",
        [56] = "clone",
        [57] = "fork",
        [59] = "execve",
        [60] = "exit",
        [61] = "wait4",
        [62] = "kill",
        [72] = "fcntl",
        [74] = "fsync",
        [75] = "fdatasync",
        [77] = "ftruncate",
        [78] = "getdents",
        [79] = "getcwd",
        [82] = "rename",
        [83] = "mkdir",
        [87] = "unlink",
        [89] = "readlink",
        [96] = "gettimeofday",
        [102] = "getuid",
        [186] = "gettid",
        [202] = "futex",
        [213] = "epoll_create",
        [217] = "getdents64",
        [228] = "clock_gettime",
        [230] = "clock_nanosleep",
        [231] = "exit_group",
        [232] = "epoll_wait",
        [233] = "epoll_ctl",
        [257] = "openat",
        [262] = "newfstatat",
        [270] = "pselect6",
        [271] = "ppoll",
        [281] = "epoll_pwait",
        [284] = "eventfd",
        [288] = "accept4",
        [290] = "eventfd2",
        [291] = "epoll_create1",
        [293] = "pipe2",
        [302] = "prlimit64",
        [318] = "getrandom",
        [332] = "statx",
        [435] = "clone3",
        [441] = "epoll_pwait2",
    };

    public static string Name(long nr) => X8664.TryGetValue(nr, out var name) ? name : $"sys_{nr}";
}
