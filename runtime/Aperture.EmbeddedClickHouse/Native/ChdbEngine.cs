using System.Runtime.InteropServices;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>
/// The process's one chdb engine, bound to one data directory. chdb boots the engine with the
/// first connection and shuts it down with the last, so the engine keeps an anchor connection
/// open for its whole life and never lets the count reach zero between requests.
/// </summary>
public sealed unsafe class ChdbEngine : IDisposable
{
    private readonly ChdbConnection _anchor;

    private ChdbEngine(string libraryPath, string dataPath)
    {
        LibraryPath = libraryPath;
        DataPath = dataPath;
        // The .NET runtime turns SIGSEGV into NullReferenceException and owns SIGINT/SIGTERM;
        // chdb must not replace those handlers.
        ChdbNative.SetSignalHandlersEnabled(0);
        Version = Marshal.PtrToStringUTF8((nint)ChdbNative.Version()) ?? "unknown";
        _anchor = ChdbConnection.Open(dataPath, []);
    }

    public string LibraryPath { get; }

    public string DataPath { get; }

    /// <summary>The engine's version, as chdb reports it (e.g. 26.7.3).</summary>
    public string Version { get; }

    public static ChdbEngine Start(string libraryPath, string dataPath)
    {
        if (!File.Exists(libraryPath))
        {
            throw new FileNotFoundException($"libchdb.so not found at '{libraryPath}' (run 'make deps')", libraryPath);
        }

        Directory.CreateDirectory(dataPath);
        ChdbNative.UseLibrary(libraryPath);
        return new ChdbEngine(libraryPath, Path.GetFullPath(dataPath));
    }

    /// <summary>Opens a connection whose session carries the given settings (<c>--name=value</c>).</summary>
    public ChdbConnection Connect(IReadOnlyList<string> settings) => ChdbConnection.Open(DataPath, settings);

    public void Dispose() => _anchor.Dispose();
}
