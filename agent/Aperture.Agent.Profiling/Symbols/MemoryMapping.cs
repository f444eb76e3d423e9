using System.Globalization;

namespace Aperture.Agent.Profiling.Symbols;

/// <summary>One line of /proc/PID/maps.</summary>
internal sealed record MemoryMapping(ulong Start, ulong End, string Permissions, ulong FileOffset, string Device, ulong Inode, string Path)
{
    private const string DeletedSuffix = " (deleted)";

    public bool IsExecutable => Permissions.Length > 2 && Permissions[2] == 'x';

    /// <summary>Anonymous memory (JIT code lives here) has no path and inode 0.</summary>
    public bool IsAnonymous => Path.Length == 0;

    /// <summary>Kernel-provided regions such as [vdso], [stack], [heap], [anon:name].</summary>
    public bool IsPseudo => Path.StartsWith('[');

    /// <summary>The file was unlinked (or replaced) after it was mapped; its bytes stay reachable only through map_files.</summary>
    public bool IsDeleted => Path.EndsWith(DeletedSuffix, StringComparison.Ordinal);

    /// <summary>A file on disk; not a memfd, which .NET uses to map its JIT code twice (W^X) as "/memfd:doublemapper".</summary>
    public bool IsFile => Path.StartsWith('/') && !Path.StartsWith("/memfd:", StringComparison.Ordinal);

    /// <summary>The path without the " (deleted)" suffix.</summary>
    public string FilePath => IsDeleted ? Path[..^DeletedSuffix.Length] : Path;

    /// <summary>What a frame in this mapping names as its module.</summary>
    public string ModuleName => IsFile ? System.IO.Path.GetFileName(FilePath) : IsAnonymous ? "[anon]" : IsMemfd ? $"[{FilePath[1..]}]" : Path;

    private bool IsMemfd => Path.StartsWith("/memfd:", StringComparison.Ordinal);

    public bool Contains(ulong address) => address >= Start && address < End;
}

internal static class ProcMapsParser
{
    public static List<MemoryMapping> Parse(TextReader reader)
    {
        var mappings = new List<MemoryMapping>();
        while (reader.ReadLine() is { } line)
        {
            if (TryParseLine(line, out var mapping))
            {
                mappings.Add(mapping);
            }
        }

        mappings.Sort((a, b) => a.Start.CompareTo(b.Start));
        return mappings;
    }

    /// <summary>"start-end perms offset dev inode    path", where the path may hold spaces or be absent.</summary>
    public static bool TryParseLine(string line, out MemoryMapping mapping)
    {
        mapping = null!;
        var rest = line.AsSpan();
        if (!NextField(ref rest, out var range) || !NextField(ref rest, out var perms) || !NextField(ref rest, out var offset)
            || !NextField(ref rest, out var device) || !NextField(ref rest, out var inode))
        {
            return false;
        }

        var dash = range.IndexOf('-');
        if (dash <= 0
            || !ulong.TryParse(range[..dash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var start)
            || !ulong.TryParse(range[(dash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var end)
            || !ulong.TryParse(offset, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var fileOffset)
            || !ulong.TryParse(inode, NumberStyles.None, CultureInfo.InvariantCulture, out var inodeNumber)
            || end < start)
        {
            return false;
        }

        mapping = new MemoryMapping(start, end, perms.ToString(), fileOffset, device.ToString(), inodeNumber, rest.TrimStart(' ').ToString());
        return true;
    }

    private static bool NextField(ref ReadOnlySpan<char> rest, out ReadOnlySpan<char> field)
    {
        rest = rest.TrimStart(' ');
        var space = rest.IndexOf(' ');
        if (rest.IsEmpty)
        {
            field = default;
            return false;
        }

        field = space < 0 ? rest : rest[..space];
        rest = space < 0 ? [] : rest[space..];
        return true;
    }
}
