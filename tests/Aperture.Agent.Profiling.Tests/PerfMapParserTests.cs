using Aperture.Agent.Profiling.Symbols;

namespace Aperture.Agent.Profiling.Tests;

public sealed class PerfMapParserTests
{
    private static AddressSymbols Load(string fixture)
    {
        using var reader = new StreamReader(Path.Combine(AppContext.BaseDirectory, "Fixtures", fixture));
        return PerfMapParser.Parse(reader);
    }

    [Fact]
    public void Reads_a_dotnet_perf_map_with_0x_addresses_and_names_with_spaces()
    {
        // Captured from `DOTNET_PerfMapEnabled=1 dotnet --info` (first 400 lines).
        var map = Load("perf-dotnet.map");

        Assert.Equal(400, map.Count);
        Assert.True(map.TryLookup(0x7feb9e081c60 + 0x100, out var name, out _));
        Assert.Equal("int32 [System.Private.CoreLib] System.SpanHelpers::SequenceCompareTo(char&,int32,char&,int32)[QuickJitted]", name);
        Assert.True(map.TryLookup(0x7feb9d030000, out var stub, out _));
        Assert.Equal("stub InitThreadManagerPerfMapData<JIT_CopiedWriteBarriers>", stub);
        Assert.False(map.TryLookup(0x7feb9e081c60 + 0x2b1 + 0x100000000, out _, out _));
    }

    [Fact]
    public void Reads_a_node_perf_map_with_bare_hex_addresses()
    {
        // Captured from `node --perf-basic-prof -e ...` running a function named apertureNodeHot.
        var map = Load("perf-node.map");

        Assert.True(map.TryLookup(0x7ff818005900 + 0x10, out var name, out _));
        Assert.Equal("JS:*apertureNodeHot [eval]:1:25", name);
        Assert.True(map.TryLookup(0x18c4000, out var builtin, out _));
        Assert.Equal("Builtin:DeoptimizationEntry_Eager", builtin);
    }

    [Fact]
    public void The_end_of_an_entry_is_exclusive()
    {
        using var reader = new StringReader("1000 10 first\n1010 10 second\nnot a line\n2000 0 empty\n");
        var map = PerfMapParser.Parse(reader);

        Assert.True(map.TryLookup(0x100f, out var first, out _));
        Assert.Equal("first", first);
        Assert.True(map.TryLookup(0x1010, out var second, out _));
        Assert.Equal("second", second);
        Assert.False(map.TryLookup(0x1020, out _, out _));
        Assert.False(map.TryLookup(0x2000, out _, out _));
    }

    [Fact]
    public void Kallsyms_gives_text_symbols_and_their_modules_and_nothing_when_addresses_are_hidden()
    {
        using var visible = new StringReader("""
            ffffffff81000000 T _stext
            ffffffff81001000 t do_one_initcall
            ffffffff81002000 D some_data
            ffffffff81003000 T schedule
            ffffffffc0001000 t nf_hook	[nf_tables]
            ffffffffc0002000 t nf_other	[nf_tables]
            """);
        var symbols = KallsymsParser.Parse(visible)!;

        Assert.True(symbols.TryLookup(0xffffffff81001010, out var name, out var module));
        Assert.Equal("do_one_initcall", name);
        Assert.Null(module);
        Assert.True(symbols.TryLookup(0xffffffffc0001004, out var hook, out var hookModule));
        Assert.Equal("nf_hook", hook);
        Assert.Equal("[nf_tables]", hookModule);

        using var hidden = new StringReader("0000000000000000 T _stext\n0000000000000000 T schedule\n");
        Assert.Null(KallsymsParser.Parse(hidden));
    }
}
