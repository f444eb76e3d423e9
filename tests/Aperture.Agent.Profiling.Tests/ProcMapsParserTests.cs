using Aperture.Agent.Profiling.Symbols;

namespace Aperture.Agent.Profiling.Tests;

public sealed class ProcMapsParserTests
{
    private static List<MemoryMapping> Fixture()
    {
        using var reader = new StreamReader(Path.Combine(AppContext.BaseDirectory, "Fixtures", "maps-cat.txt"));
        return ProcMapsParser.Parse(reader);
    }

    [Fact]
    public void Parses_file_backed_mappings_with_their_offset_and_inode()
    {
        var maps = Fixture();

        var text = maps.Single(m => m.Path == "/usr/bin/sed" && m.IsExecutable);
        Assert.Equal(0x55b837520000UL, text.Start);
        Assert.Equal(0x55b837534000UL, text.End);
        Assert.Equal(0x3000UL, text.FileOffset);
        Assert.Equal("fe:00", text.Device);
        Assert.Equal(248149UL, text.Inode);
        Assert.Equal("sed", text.ModuleName);
        Assert.True(text.IsFile);
        Assert.Equal(5, maps.Count(m => m.ModuleName == "libc.so.6"));
    }

    [Fact]
    public void Recognises_deleted_files_and_paths_with_spaces()
    {
        var maps = Fixture();

        var deleted = maps.Single(m => m.Inode == 412345);
        Assert.True(deleted.IsDeleted);
        Assert.Equal("/app/bin/server", deleted.FilePath);
        Assert.Equal("server", deleted.ModuleName);

        var spaced = maps.Single(m => m.Inode == 412346);
        Assert.False(spaced.IsDeleted);
        Assert.Equal("/opt/My App/lib/libwork.so", spaced.FilePath);
    }

    [Fact]
    public void Recognises_anonymous_and_kernel_provided_regions()
    {
        var maps = Fixture();

        var jit = maps.Single(m => m.Start == 0x7f5cb2100000);
        Assert.True(jit.IsAnonymous);
        Assert.True(jit.IsExecutable);
        Assert.False(jit.IsFile);
        Assert.Equal("[anon]", jit.ModuleName);

        var vdso = maps.Single(m => m.Path == "[vdso]");
        Assert.True(vdso.IsPseudo);
        Assert.False(vdso.IsFile);
        Assert.Equal("[vdso]", vdso.ModuleName);
        Assert.Contains(maps, m => m.Path == "[anon:dotnet-loader-heap]");

        // .NET maps its JIT code twice (W^X) from a memfd: not a file to read symbols from.
        var doubleMapped = maps.Single(m => m.Inode == 2051);
        Assert.False(doubleMapped.IsFile);
        Assert.Equal("[memfd:doublemapper]", doubleMapped.ModuleName);
        Assert.Contains(maps, m => m.Path == "[stack]");
    }

    [Fact]
    public void Skips_lines_that_are_not_mappings_and_sorts_by_address()
    {
        var maps = Fixture();

        Assert.Equal(19, maps.Count);
        Assert.True(maps.Zip(maps.Skip(1)).All(p => p.First.Start < p.Second.Start));
        Assert.False(ProcMapsParser.TryParseLine("zzzz-1000 r-xp 0 00:00 0", out _));
        Assert.False(ProcMapsParser.TryParseLine("2000-1000 r-xp 0 00:00 0", out _));
    }

    [Fact]
    public void Parses_this_process_maps()
    {
        using var reader = new StreamReader("/proc/self/maps");
        var maps = ProcMapsParser.Parse(reader);

        Assert.Contains(maps, m => m.IsExecutable && m.ModuleName.StartsWith("libcoreclr", StringComparison.Ordinal));
    }
}
