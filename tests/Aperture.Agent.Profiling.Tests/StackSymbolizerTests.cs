using Aperture.Agent.Profiling.Symbols;
using Aperture.Testing;

namespace Aperture.Agent.Profiling.Tests;

public sealed class StackSymbolizerTests
{
    [Fact]
    public void Resolves_a_running_pie_program_address_through_its_maps_and_load_bias()
    {
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        var symbolizer = new StackSymbolizer();
        symbolizer.BeginPass();

        var frame = symbolizer.Resolve(program.Pid, program.HotLoopAddress + 8, kernel: false);

        Assert.Equal("aperture_hot_loop", frame.Function);
        Assert.Equal("aperture-hot", frame.Module);
        Assert.Equal(program.HotLoopAddress + 8, frame.Ip);
        // The binary is position-independent: the run-time address is not the one in the file.
        Assert.NotEqual(ElfSymbolTableTests.NmFunctions(Path.Combine(directory.Path, "aperture-hot"))["aperture_hot_loop"], program.HotLoopAddress);
    }

    [Fact]
    public void Resolves_a_program_whose_binary_was_deleted_after_it_started()
    {
        using var directory = new TemporaryDirectory();
        var binary = HotProgram.Compile(directory.Path, "aperture-gone");
        using var program = HotProgram.Run(binary);
        File.Delete(binary);
        var symbolizer = new StackSymbolizer();
        symbolizer.BeginPass();

        var frame = symbolizer.Resolve(program.Pid, program.HotLoopAddress, kernel: false);

        Assert.Equal("aperture_hot_loop", frame.Function);
        Assert.Equal("aperture-gone", frame.Module);
    }

    [Fact]
    public void Resolves_jit_code_from_the_process_perf_map()
    {
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        var perfMap = $"/tmp/perf-{program.Pid}.map";
        // The captured .NET map, as if this process had written it: its addresses are not mapped in the C program.
        File.Copy(Path.Combine(AppContext.BaseDirectory, "Fixtures", "perf-dotnet.map"), perfMap, overwrite: true);
        try
        {
            var symbolizer = new StackSymbolizer();
            symbolizer.BeginPass();

            var frame = symbolizer.Resolve(program.Pid, 0x7feb9e081c60 + 0x10, kernel: false);

            Assert.Equal("int32 [System.Private.CoreLib] System.SpanHelpers::SequenceCompareTo(char&,int32,char&,int32)[QuickJitted]", frame.Function);
            Assert.Equal($"perf-{program.Pid}.map", frame.Module);
        }
        finally
        {
            File.Delete(perfMap);
        }
    }

    [Fact]
    public void Unknown_addresses_name_their_module_or_fall_back_to_hex()
    {
        using var directory = new TemporaryDirectory();
        using var program = HotProgram.Run(HotProgram.Compile(directory.Path));
        var symbolizer = new StackSymbolizer();
        symbolizer.BeginPass();
        var stack = File.ReadLines($"/proc/{program.Pid}/maps").Select(l => ProcMapsParser.TryParseLine(l, out var m) ? m : null).First(m => m?.Path == "[stack]")!;

        var onStack = symbolizer.Resolve(program.Pid, stack.Start + 16, kernel: false);
        var nowhere = symbolizer.Resolve(program.Pid, 0x10, kernel: false);

        Assert.Equal(new SampledFrame(stack.Start + 16, "[unknown]", "[stack]"), onStack);
        Assert.Equal(new SampledFrame(0x10, "0x10", "[unknown]"), nowhere);
    }

    [Fact]
    public void Kernel_addresses_resolve_through_kallsyms_when_it_is_readable()
    {
        using var reader = new StreamReader("/proc/kallsyms");
        var kallsyms = KallsymsParser.Parse(reader);
        if (kallsyms == null)
        {
            Assert.Skip("/proc/kallsyms hides its addresses here (kernel.kptr_restrict)");
        }

        var schedule = File.ReadLines("/proc/kallsyms").Select(l => l.Split(' ')).First(f => f.Length >= 3 && f[2] == "schedule");
        var address = Convert.ToUInt64(schedule[0], 16);
        var symbolizer = new StackSymbolizer();

        var frame = symbolizer.Resolve(Environment.ProcessId, address + 1, kernel: true);

        Assert.Equal(new SampledFrame(address + 1, "schedule", "[kernel.kallsyms]"), frame);
    }
}
