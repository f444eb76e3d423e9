using System.Globalization;
using Aperture.Agent.Profiling.Symbols;
using Aperture.Testing;

namespace Aperture.Agent.Profiling.Tests;

public sealed class ElfSymbolTableTests
{
    [Fact]
    public void Finds_the_functions_of_a_program_compiled_in_the_test_at_the_addresses_nm_reports()
    {
        using var directory = new TemporaryDirectory();
        var binary = HotProgram.Compile(directory.Path);

        var elf = ElfSymbolTable.Load(binary);

        Assert.NotNull(elf);
        var nm = NmFunctions(binary);
        Assert.Contains("aperture_hot_loop", nm.Keys);
        foreach (var name in (string[])["aperture_hot_loop", "aperture_outer", "main"])
        {
            Assert.Equal(name, elf.Lookup(nm[name]));
            Assert.Equal(name, elf.Lookup(nm[name] + 4));
        }

        Assert.NotEmpty(elf.Segments);
        Assert.NotNull(elf.BuildId);
        Assert.Equal(BuildIdFromFile(binary), elf.BuildId);
    }

    [Fact]
    public void A_stripped_program_keeps_only_its_dynamic_symbols()
    {
        using var directory = new TemporaryDirectory();
        // -rdynamic exports every function into .dynsym, which strip keeps.
        var binary = HotProgram.Compile(directory.Path, "aperture-hot-dynamic", "-rdynamic");
        var nm = NmFunctions(binary);
        HotProgram.Run("strip", binary);

        var elf = ElfSymbolTable.Load(binary);

        Assert.NotNull(elf);
        Assert.Contains("no symbols", HotProgram.Run("nm", binary) + StandardError("nm", binary), StringComparison.Ordinal);
        Assert.Equal("aperture_hot_loop", elf.Lookup(nm["aperture_hot_loop"] + 1));
    }

    [Fact]
    public void Reads_the_dynamic_symbols_of_the_system_c_library()
    {
        var libc = File.ReadLines("/proc/self/maps").Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f.Length >= 6 && Path.GetFileName(f[5]).StartsWith("libc.so", StringComparison.Ordinal)).Select(f => f[5]).FirstOrDefault();
        if (libc == null)
        {
            Assert.Skip("this process does not map a glibc libc.so");
        }

        var elf = ElfSymbolTable.Load(libc);
        var nm = NmFunctions(libc, "-D");

        Assert.NotNull(elf);
        Assert.True(elf.SymbolCount > 500, $"only {elf.SymbolCount} function symbols in {libc}");
        Assert.Contains(elf.Lookup(nm["getpid"]), (string[])["getpid", "__getpid"]);
    }

    [Fact]
    public void Local_symbols_stripped_from_a_library_come_from_its_build_id_debug_file()
    {
        var libc = File.ReadLines("/proc/self/maps").Select(l => Symbols.ProcMapsParser.TryParseLine(l, out var m) ? m : null)
            .FirstOrDefault(m => m is { IsFile: true } && m.ModuleName.StartsWith("libc.so", StringComparison.Ordinal));
        var buildId = libc == null ? null : ElfSymbolTable.Load(libc.FilePath)?.BuildId;
        var debugFile = buildId == null ? null : $"/usr/lib/debug/.build-id/{buildId[..2]}/{buildId[2..]}.debug";
        if (libc == null || debugFile == null || !File.Exists(debugFile))
        {
            Assert.Skip("no glibc with a separate debug file (libc6-dbg) here");
        }

        var local = NmFunctions(debugFile).First(f => f.Key == "__libc_start_call_main");
        var cache = new ElfSymbolCache();

        var elf = cache.Get(libc, [libc.FilePath]);

        Assert.NotNull(elf);
        Assert.NotEqual("__libc_start_call_main", ElfSymbolTable.Load(libc.FilePath)!.Lookup(local.Value + 1));
        Assert.Equal("__libc_start_call_main", elf.Lookup(local.Value + 1));
    }

    [Fact]
    public void A_file_that_is_not_elf_gives_no_symbol_table()
    {
        using var directory = new TemporaryDirectory();
        var path = Path.Combine(directory.Path, "not-elf");
        File.WriteAllText(path, new string('x', 200));

        Assert.Null(ElfSymbolTable.Load(path));
    }

    [Fact]
    public void A_pie_segment_maps_file_offsets_to_virtual_addresses()
    {
        using var directory = new TemporaryDirectory();
        var binary = HotProgram.Compile(directory.Path);
        var elf = ElfSymbolTable.Load(binary)!;
        var text = elf.Segments.First(s => s.FileOffset > 0);

        Assert.Equal(text.VirtualAddress + 0x10, elf.FileOffsetToVirtualAddress(text.FileOffset + 0x10));
        Assert.Null(elf.FileOffsetToVirtualAddress(ulong.MaxValue - 1));
    }

    private static string StandardError(string tool, string argument)
    {
        var start = new System.Diagnostics.ProcessStartInfo(tool, [argument]) { RedirectStandardError = true, RedirectStandardOutput = true };
        using var process = System.Diagnostics.Process.Start(start)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit(60_000);
        return error;
    }

    internal static Dictionary<string, ulong> NmFunctions(string binary, string flag = "--defined-only")
    {
        var functions = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var line in HotProgram.Run("nm", flag, binary).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 3 && fields[1] is "T" or "t" or "W" or "i"
                && ulong.TryParse(fields[0], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var address))
            {
                var name = fields[2].Split('@')[0];
                functions.TryAdd(name, address);
            }
        }

        return functions;
    }

    private static string BuildIdFromFile(string binary)
    {
        var notes = HotProgram.Run("readelf", "-n", binary);
        var marker = "Build ID: ";
        var index = notes.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(index >= 0, "readelf shows no build id");
        return notes[(index + marker.Length)..].Split('\n')[0].Trim();
    }
}
