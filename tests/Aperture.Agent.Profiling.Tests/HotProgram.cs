using System.Diagnostics;
using System.Globalization;

namespace Aperture.Agent.Profiling.Tests;

/// <summary>
/// A small C program compiled at test time (-O0 -fno-omit-frame-pointer) that spins in aperture_hot_loop, called
/// from aperture_outer, called from main; it prints the run-time address of aperture_hot_loop first.
/// </summary>
internal sealed class HotProgram : IDisposable
{
    public const string Source = """
        #include <stdio.h>
        #include <stdint.h>
        #include <stdlib.h>
        #include <time.h>
        volatile uint64_t aperture_sink;
        __attribute__((noinline)) void aperture_hot_loop(uint64_t n) { for (uint64_t i = 0; i < n; i++) aperture_sink += i * 7; }
        __attribute__((noinline)) void aperture_outer(void) { aperture_hot_loop(20000000ULL); }
        int main(int argc, char **argv) {
            printf("%p\n", (void *)&aperture_hot_loop);
            fflush(stdout);
            time_t end = time(NULL) + (argc > 1 ? atoi(argv[1]) : 30);
            while (time(NULL) < end) aperture_outer();
            return 0;
        }
        """;

    private readonly Process _process;

    private HotProgram(Process process, ulong hotLoopAddress)
    {
        _process = process;
        HotLoopAddress = hotLoopAddress;
    }

    public int Pid => _process.Id;

    /// <summary>Where aperture_hot_loop lies in the running process (after the PIE load bias).</summary>
    public ulong HotLoopAddress { get; }

    /// <summary>Compiles the program into <paramref name="directory"/>; skips the test when gcc is not installed.</summary>
    public static string Compile(string directory, string name = "aperture-hot", params string[] extraFlags) =>
        CompileC(directory, name, Source, ["-O0", "-fno-omit-frame-pointer", "-g0", .. extraFlags]);

    /// <summary>Compiles a C program with gcc into <paramref name="directory"/>; skips the test when gcc is not installed.</summary>
    public static string CompileC(string directory, string name, string source, string[] flags)
    {
        var sourcePath = Path.Combine(directory, name + ".c");
        File.WriteAllText(sourcePath, source);
        var binary = Path.Combine(directory, name);
        var start = new ProcessStartInfo("gcc") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var argument in (string[])[.. flags, "-o", binary, sourcePath])
        {
            start.ArgumentList.Add(argument);
        }

        Process gcc;
        try
        {
            gcc = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip("gcc is not installed; this test compiles a C program at test time");
            throw;
        }

        using (gcc)
        {
            var errors = gcc.StandardError.ReadToEnd();
            if (!gcc.WaitForExit(60_000) || gcc.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc failed: {errors}");
            }
        }

        return binary;
    }

    public static HotProgram Run(string binary, int seconds = 30)
    {
        var start = new ProcessStartInfo(binary) { RedirectStandardOutput = true };
        start.ArgumentList.Add(seconds.ToString(CultureInfo.InvariantCulture));
        var process = Process.Start(start)!;
        var line = process.StandardOutput.ReadLine() ?? throw new InvalidOperationException("the hot program printed nothing");
        var address = ulong.Parse(line.AsSpan(line.StartsWith("0x", StringComparison.Ordinal) ? 2 : 0), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        return new HotProgram(process, address);
    }

    public static string Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            Assert.Skip($"{tool} is not installed (binutils); the ELF tests compare with it");
            throw;
        }

        using var started = process;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit(60_000);
        return output;
    }

    public void Dispose()
    {
        try
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        _process.Dispose();
    }
}
