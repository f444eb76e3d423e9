using System.Text;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>
/// One chdb connection. The engine runs one statement at a time per connection, so a connection
/// is used by one request at a time; <see cref="ChdbConnectionPool"/> hands them out.
/// </summary>
public sealed unsafe class ChdbConnection : IDisposable
{
    private nint* _handle;

    private ChdbConnection(nint* handle, IReadOnlyList<string> settings)
    {
        _handle = handle;
        Settings = settings;
    }

    /// <summary>The per-connection settings it was opened with, as <c>--name=value</c> arguments.</summary>
    public IReadOnlyList<string> Settings { get; }

    internal static ChdbConnection Open(string dataPath, IReadOnlyList<string> settings)
    {
        var args = new List<string>(settings.Count + 2) { "clickhouse", $"--path={dataPath}" };
        args.AddRange(settings);
        using var argv = new Utf8Block(args);
        var handle = ChdbNative.Connect(argv.Count, argv.Pointers);
        if (handle is null || *handle == 0)
        {
            throw new ChdbException(
                $"Code: 115. DB::Exception: the engine refused a connection with settings [{string.Join(' ', settings)}]. (UNKNOWN_SETTING)");
        }

        return new ChdbConnection(handle, settings);
    }

    /// <summary>Runs a statement and returns its whole output in the given format.</summary>
    public ChdbResult Query(string query, string format, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        ObjectDisposedException.ThrowIf(_handle is null, this);
        var queryBytes = Encoding.UTF8.GetBytes(query);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        using var names = new Utf8Block([.. parameters.Select(p => p.Key)]);
        using var values = new Utf8Block([.. parameters.Select(p => p.Value)]);
        nint result;
        fixed (byte* q = queryBytes)
        fixed (byte* f = formatBytes)
        {
            result = ChdbNative.QueryWithParams(
                *_handle, q, (nuint)queryBytes.Length, f, (nuint)formatBytes.Length,
                names.Pointers, names.Lengths, values.Pointers, values.Lengths, (nuint)parameters.Count);
        }

        return ChdbResult.TakeOrThrow(result);
    }

    /// <summary>Starts an INSERT whose data arrives in chunks; the statement must carry no FORMAT clause.</summary>
    public ChdbInsertStream BeginInsert(string insert, string format, IReadOnlyList<KeyValuePair<string, string>> parameters)
    {
        ObjectDisposedException.ThrowIf(_handle is null, this);
        var queryBytes = Encoding.UTF8.GetBytes(insert);
        var formatBytes = Encoding.UTF8.GetBytes(format);
        using var names = new Utf8Block([.. parameters.Select(p => p.Key)]);
        using var values = new Utf8Block([.. parameters.Select(p => p.Value)]);
        nint stream;
        fixed (byte* q = queryBytes)
        fixed (byte* f = formatBytes)
        {
            stream = ChdbNative.StreamInsertWithParams(
                *_handle, q, (nuint)queryBytes.Length, f, (nuint)formatBytes.Length,
                names.Pointers, names.Lengths, values.Pointers, values.Lengths, (nuint)parameters.Count);
        }

        return ChdbInsertStream.TakeOrThrow(stream);
    }

    public void Dispose()
    {
        if (_handle is not null)
        {
            ChdbNative.CloseConnection(_handle);
            _handle = null;
        }
    }
}
