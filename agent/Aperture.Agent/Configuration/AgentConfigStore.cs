using Microsoft.Extensions.Logging;

namespace Aperture.Agent.Configuration;

/// <summary>
/// The configuration in force, and its reload: from the file on change (watched) or on request
/// (/admin/reload). A file that does not load or validate leaves the configuration in force as it was.
/// Listen addresses are bound at start, so a change to them waits for a restart (the status says so).
/// </summary>
public sealed partial class AgentConfigStore : IDisposable
{
    private readonly Func<IReadOnlyDictionary<string, string?>> _environment;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly TimeProvider _time;
    private FileSystemWatcher? _watcher;
    private Timer? _debounce;
    private volatile AgentConfig _current;
    private string? _loadedContent;

    public AgentConfigStore(string? path, Func<IReadOnlyDictionary<string, string?>> environment, TimeProvider time, ILogger logger)
    {
        Path = path is null ? null : System.IO.Path.GetFullPath(path);
        _environment = environment;
        _time = time;
        _logger = logger;
        _loadedContent = ReadContent();
        _current = AgentConfigLoader.Load(Path, environment());
        LoadedAt = time.GetUtcNow();
    }

    public string? Path { get; }

    public AgentConfig Current => _current;

    /// <summary>A variable of the environment the configuration is read with (the process's, or a test's).</summary>
    public string? EnvironmentVariable(string name) => _environment().GetValueOrDefault(name);

    public DateTimeOffset LoadedAt { get; private set; }

    public int Reloads { get; private set; }

    public string? LastReloadError { get; private set; }

    /// <summary>Raised after a new configuration took effect.</summary>
    public event Action<AgentConfig>? Changed;

    /// <exception cref="AgentConfigException">The file is invalid; the configuration in force is kept.</exception>
    public AgentConfig Reload()
    {
        lock (_gate)
        {
            AgentConfig next;
            var content = ReadContent();
            try
            {
                next = AgentConfigLoader.Load(Path, _environment());
            }
            catch (AgentConfigException error)
            {
                LastReloadError = error.Message;
                LogReloadRejected(_logger, error.Message);
                throw;
            }

            _current = next;
            _loadedContent = content;
            LoadedAt = _time.GetUtcNow();
            Reloads++;
            LastReloadError = null;
            LogReloaded(_logger, Path ?? "(defaults)");
        }

        Changed?.Invoke(_current);
        return _current;
    }

    /// <summary>Reloads when the file changes (editors and ConfigMap updates write in bursts, hence the short debounce).</summary>
    public void Watch()
    {
        if (Path is null || _watcher is not null)
        {
            return;
        }

        _debounce = new Timer(_ => ReloadFromWatch(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(System.IO.Path.GetDirectoryName(Path)!)
        {
            // A Kubernetes ConfigMap volume swaps a symlinked directory, so watch the whole directory.
            IncludeSubdirectories = false,
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        var fileName = System.IO.Path.GetFileName(Path);
        void OnEvent(FileSystemEventArgs change)
        {
            // ConfigMap volumes swap the "..data" link; anything else in the directory is not ours.
            if (change.Name == fileName || change.Name?.StartsWith("..", StringComparison.Ordinal) == true)
            {
                _debounce.Change(250, Timeout.Infinite);
            }
        }

        _watcher.Changed += (_, e) => OnEvent(e);
        _watcher.Created += (_, e) => OnEvent(e);
        _watcher.Renamed += (_, e) => OnEvent(e);
        _watcher.EnableRaisingEvents = true;
    }

    private void ReloadFromWatch()
    {
        var content = ReadContent();
        if (content is null || content == _loadedContent)
        {
            return; // touched, not changed
        }

        try
        {
            Reload();
        }
        catch (AgentConfigException)
        {
            // Logged by Reload; the configuration in force stays.
        }
    }

    private string? ReadContent()
    {
        try
        {
            return Path is null ? null : File.ReadAllText(Path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Configuration reloaded from {Path}")]
    private static partial void LogReloaded(ILogger logger, string path);

    [LoggerMessage(EventId = 101, Level = LogLevel.Error, Message = "Configuration reload rejected, keeping the configuration in force: {Error}")]
    private static partial void LogReloadRejected(ILogger logger, string error);

    public void Dispose()
    {
        _watcher?.Dispose();
        _debounce?.Dispose();
    }
}
