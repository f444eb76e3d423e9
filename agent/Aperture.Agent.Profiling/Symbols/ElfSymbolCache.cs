namespace Aperture.Agent.Profiling.Symbols;

/// <summary>
/// Parsed ELF files shared by every process that maps them, keyed by build-id where the file has one and otherwise
/// by (device, inode, mtime, size), so a library replaced on disk is read again and one mapped by a hundred
/// processes is read once.
/// </summary>
internal sealed class ElfSymbolCache(string debugRoot = "/usr/lib/debug")
{
    private readonly string _debugRoot = debugRoot;
    private const int MaxFiles = 4096;
    private readonly Dictionary<(string Device, ulong Inode, long MtimeTicks, long Length), ElfSymbolTable?> _byFile = [];
    private readonly Dictionary<string, ElfSymbolTable> _byBuildId = new(StringComparer.Ordinal);

    public int Count => _byFile.Count;

    /// <summary>The symbols of the first candidate path that opens; null when none opens or it is not ELF.</summary>
    public ElfSymbolTable? Get(MemoryMapping mapping, IEnumerable<string> candidatePaths)
    {
        foreach (var path in candidatePaths)
        {
            Microsoft.Win32.SafeHandles.SafeFileHandle handle;
            try
            {
                handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            using (handle)
            {
                try
                {
                    var key = (mapping.Device, mapping.Inode, File.GetLastWriteTimeUtc(handle).Ticks, RandomAccess.GetLength(handle));
                    if (_byFile.TryGetValue(key, out var cached))
                    {
                        return cached;
                    }

                    if (_byFile.Count >= MaxFiles)
                    {
                        _byFile.Clear();
                        _byBuildId.Clear();
                    }

                    var table = ElfSymbolTable.Load(handle);
                    if (table?.BuildId is { } buildId)
                    {
                        if (_byBuildId.TryGetValue(buildId, out var same))
                        {
                            table = same;
                        }
                        else
                        {
                            table.DebugSymbols = LoadDebugFile(buildId);
                            _byBuildId[buildId] = table;
                        }
                    }

                    _byFile[key] = table;
                    return table;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    continue;
                }
            }
        }

        return null;
    }

    private ElfSymbolTable? LoadDebugFile(string buildId)
    {
        if (buildId.Length < 3)
        {
            return null;
        }

        var path = Path.Combine(_debugRoot, ".build-id", buildId[..2], buildId[2..] + ".debug");
        try
        {
            return File.Exists(path) ? ElfSymbolTable.Load(path) : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
