using System.Collections.Concurrent;
using System.Diagnostics;

namespace Aperture.Testing;

/// <summary>
/// A server run as a child process for a test: its output is kept for the failure message, it
/// is stopped with SIGTERM (then killed) and never outlives the test run.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();
    private readonly TaskCompletionSource<string> _readyLine = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Func<string, bool> _isReadyLine;

    private ServerProcess(Process process, Func<string, bool> isReadyLine)
    {
        _process = process;
        _isReadyLine = isReadyLine;
    }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    public string Output => string.Join('\n', _output);

    /// <summary>Starts <paramref name="fileName"/> and waits for an output line that says it is ready.</summary>
    public static async Task<(ServerProcess Server, string ReadyLine)> StartAsync(
        string fileName, IEnumerable<string> arguments, Func<string, bool>? isReadyLine, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        // Without a ready line the caller has its own way to know (e.g. polling a probe).
        var server = new ServerProcess(process, isReadyLine ?? (_ => true));
        process.OutputDataReceived += (_, e) => server.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => server.OnLine(e.Data);
        process.Exited += (_, _) => server._readyLine.TrySetException(
            new InvalidOperationException($"{fileName} exited before it was ready:\n{server.Output}"));
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start {fileName}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (isReadyLine is null)
        {
            return (server, string.Empty);
        }

        try
        {
            var line = await server._readyLine.Task.WaitAsync(timeout);
            return (server, line);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue(line);
        while (_output.Count > 500 && _output.TryDequeue(out _))
        {
        }

        if (_isReadyLine(line))
        {
            _readyLine.TrySetResult(line);
        }
    }

    /// <summary>Stops the server with SIGTERM, as Kubernetes or Ctrl-C would.</summary>
    public Task StopAsync() => Signals.TerminateAsync(_process, TimeSpan.FromSeconds(20));

    /// <summary>Kills the server at once, as a crash would.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }

        _process.Dispose();
    }
}
