using System.Globalization;
using System.Runtime;

namespace Aperture.Agent.Profiling.Symbols;

/// <summary>
/// Turns instruction pointers into functions: user addresses through /proc/PID/maps and the mapped file's ELF
/// symbols, JIT code through the process's perf map, kernel addresses through /proc/kallsyms. Not thread-safe;
/// the profiler calls it from one collection at a time.
/// </summary>
internal sealed class StackSymbolizer
{
    public const string KernelModule = "[kernel.kallsyms]";
    public const string UnknownFunction = "[unknown]";
    public const string UnknownModule = "[unknown]";
    private const int ForgetAfterPasses = 30;
    private const long MaxPerfMapBytes = 256L * 1024 * 1024;

    private readonly string _procRoot;
    private readonly string _kallsymsPath;
    private readonly ElfSymbolCache _elf = new();
    private readonly Dictionary<int, ProcessSymbols> _processes = [];
    private AddressSymbols? _kernel;
    private bool _kernelLoaded;
    private int _pass;

    public StackSymbolizer(string procRoot = "/proc")
    {
        _procRoot = procRoot;
        _kallsymsPath = Path.Combine(procRoot, "kallsyms");
    }

    public int CachedFiles => _elf.Count;

    /// <summary>Starts a collection pass: each process's maps and perf map may be re-read once per pass, on a miss.</summary>
    public void BeginPass()
    {
        _pass++;
        foreach (var (pid, process) in _processes.ToList())
        {
            if (_pass - process.LastUsedPass > ForgetAfterPasses)
            {
                _processes.Remove(pid);
            }
        }
    }

    /// <summary>Reads a process's maps while it is alive, so a short-lived process can still be symbolised later.</summary>
    public void Remember(int pid) => _ = GetProcess(pid);

    public SampledFrame Resolve(int pid, ulong ip, bool kernel) => kernel ? ResolveKernel(ip) : ResolveUser(pid, ip);

    private SampledFrame ResolveKernel(ulong ip)
    {
        if (!_kernelLoaded)
        {
            _kernelLoaded = true;
            _kernel = KernelSymbolTables.Get(_kallsymsPath);
        }

        return _kernel != null && _kernel.TryLookup(ip, out var name, out var module)
            ? new SampledFrame(ip, name, module ?? KernelModule)
            : new SampledFrame(ip, Hex(ip), KernelModule);
    }

    private SampledFrame ResolveUser(int pid, ulong ip)
    {
        var process = GetProcess(pid);
        var mapping = Find(process.Maps, ip);
        if (mapping == null && process.MapsPass != _pass)
        {
            // A miss may be a library loaded since the maps were read.
            process.Maps = ReadMaps(pid);
            process.MapsPass = _pass;
            mapping = Find(process.Maps, ip);
        }

        if (mapping is { IsFile: true })
        {
            var elf = _elf.Get(mapping, CandidatePaths(pid, mapping));
            if (elf != null && elf.FileOffsetToVirtualAddress(ip - mapping.Start + mapping.FileOffset) is { } address && elf.Lookup(address) is { } function)
            {
                return new SampledFrame(ip, function, mapping.ModuleName);
            }
        }

        if (LookupPerfMap(pid, process, ip) is { } jitted)
        {
            return new SampledFrame(ip, jitted, mapping is { IsFile: true } ? mapping.ModuleName : $"perf-{pid}.map");
        }

        return mapping != null
            ? new SampledFrame(ip, UnknownFunction, mapping.ModuleName)
            : new SampledFrame(ip, Hex(ip), UnknownModule);
    }

    private string? LookupPerfMap(int pid, ProcessSymbols process, ulong ip)
    {
        if (process.PerfMap != null && process.PerfMap.TryLookup(ip, out var name, out _))
        {
            return name;
        }

        if (process.PerfMapPass == _pass)
        {
            return null;
        }

        process.PerfMapPass = _pass;
        foreach (var path in PerfMapPaths(pid))
        {
            try
            {
                var length = new FileInfo(path).Length;
                if (length == process.PerfMapLength || length > MaxPerfMapBytes)
                {
                    break;
                }

                using var reader = new StreamReader(path);
                process.PerfMap = PerfMapParser.Parse(reader);
                process.PerfMapLength = length;
                break;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not there under this path; the next candidate may be.
            }
        }

        return process.PerfMap != null && process.PerfMap.TryLookup(ip, out name, out _) ? name : null;
    }

    private IEnumerable<string> PerfMapPaths(int pid)
    {
        // A containerised runtime names the file after its pid inside its own pid namespace, under its own /tmp.
        var nsPid = ReadNamespacePid(pid);
        yield return $"{_procRoot}/{pid}/root/tmp/perf-{nsPid}.map";
        if (nsPid != pid)
        {
            yield return $"{_procRoot}/{pid}/root/tmp/perf-{pid}.map";
        }

        yield return $"/tmp/perf-{pid}.map";
    }

    private int ReadNamespacePid(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"{_procRoot}/{pid}/status"))
            {
                if (line.StartsWith("NSpid:", StringComparison.Ordinal))
                {
                    var fields = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                    return int.TryParse(fields[^1], NumberStyles.None, CultureInfo.InvariantCulture, out var nsPid) ? nsPid : pid;
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Gone or hidden: the host pid is the best guess.
        }

        return pid;
    }

    private IEnumerable<string> CandidatePaths(int pid, MemoryMapping mapping)
    {
        var mapFile = $"{_procRoot}/{pid}/map_files/{mapping.Start:x}-{mapping.End:x}";
        if (mapping.IsDeleted)
        {
            yield return mapFile;
        }

        // Through the process's root, so a container's files are read, not the host's files of the same name.
        yield return $"{_procRoot}/{pid}/root{mapping.FilePath}";
        yield return mapping.FilePath;
        if (!mapping.IsDeleted)
        {
            yield return mapFile;
        }
    }

    private ProcessSymbols GetProcess(int pid)
    {
        if (!_processes.TryGetValue(pid, out var process))
        {
            process = new ProcessSymbols { Maps = ReadMaps(pid), MapsPass = _pass };
            _processes[pid] = process;
        }

        process.LastUsedPass = _pass;
        return process;
    }

    private List<MemoryMapping> ReadMaps(int pid)
    {
        try
        {
            using var reader = new StreamReader($"{_procRoot}/{pid}/maps");
            return ProcMapsParser.Parse(reader);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }

    private static MemoryMapping? Find(List<MemoryMapping> maps, ulong ip)
    {
        int low = 0, high = maps.Count - 1;
        while (low <= high)
        {
            var middle = (low + high) >>> 1;
            var mapping = maps[middle];
            if (ip < mapping.Start)
            {
                high = middle - 1;
            }
            else if (ip >= mapping.End)
            {
                low = middle + 1;
            }
            else
            {
                return mapping;
            }
        }

        return null;
    }

    private static string Hex(ulong ip) => "0x" + ip.ToString("x", CultureInfo.InvariantCulture);

    private sealed class ProcessSymbols
    {
        public List<MemoryMapping> Maps { get; set; } = [];

        public int MapsPass { get; set; }

        public AddressSymbols? PerfMap { get; set; }

        public long PerfMapLength { get; set; } = -1;

        public int PerfMapPass { get; set; } = -1;

        public int LastUsedPass { get; set; }
    }
}

/// <summary>
/// /proc/kallsyms read once for every symbolizer in the process (the CPU profiler and the kernel-event collector
/// each have one, and a reload starts new ones): the table is megabytes. It is read again after a while, since
/// modules come and go.
/// </summary>
internal static class KernelSymbolTables
{
    private static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(10);
    private static readonly Dictionary<string, (long LoadedAt, AddressSymbols? Table)> Tables = new(StringComparer.Ordinal);
    private static readonly Lock Gate = new();

    public static AddressSymbols? Get(string kallsymsPath)
    {
        lock (Gate)
        {
            if (Tables.TryGetValue(kallsymsPath, out var held) && Environment.TickCount64 - held.LoadedAt < MaxAge.TotalMilliseconds)
            {
                return held.Table;
            }

            AddressSymbols? table;
            try
            {
                using var reader = new StreamReader(kallsymsPath);
                table = KallsymsParser.Parse(reader);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                table = null;
            }

            Tables[kallsymsPath] = (Environment.TickCount64, table);

            // Reading the table leaves megabytes of large-object garbage that only a full, compacting collection
            // returns; the agent is held to a small resident size, and this happens once in ten minutes at most.
            GCSettings.LargeObjectHeapCompactionMode = GCLargeObjectHeapCompactionMode.CompactOnce;
            GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            return table;
        }
    }
}
