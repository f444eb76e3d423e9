using System.Reflection;
using System.Runtime.InteropServices;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>
/// The C API of the chdb library (chdb.h, 26.7). Only what the endpoint uses is bound.
/// Opaque handles are carried as <see cref="nint"/>.
/// </summary>
internal static unsafe partial class ChdbNative
{
    public const string LibraryName = "chdb";

    private static string? s_libraryPath;

    /// <summary>Points the loader at the libchdb.so this process should use. Call once, before any other member.</summary>
    public static void UseLibrary(string path)
    {
        if (Interlocked.CompareExchange(ref s_libraryPath, path, null) is not null)
        {
            return;
        }

        NativeLibrary.SetDllImportResolver(typeof(ChdbNative).Assembly, Resolve);
    }

    private static nint Resolve(string name, Assembly assembly, DllImportSearchPath? searchPath) =>
        name == LibraryName && s_libraryPath is { } path ? NativeLibrary.Load(path) : 0;

    [LibraryImport(LibraryName, EntryPoint = "chdb_version")]
    public static partial byte* Version();

    [LibraryImport(LibraryName, EntryPoint = "chdb_set_signal_handlers_enabled")]
    public static partial void SetSignalHandlersEnabled(int enabled);

    /// <returns>A pointer to a connection handle (chdb_connection*), or null.</returns>
    [LibraryImport(LibraryName, EntryPoint = "chdb_connect")]
    public static partial nint* Connect(int argc, byte** argv);

    [LibraryImport(LibraryName, EntryPoint = "chdb_close_conn")]
    public static partial void CloseConnection(nint* connection);

    [LibraryImport(LibraryName, EntryPoint = "chdb_query_with_params_n")]
    public static partial nint QueryWithParams(
        nint connection,
        byte* query, nuint queryLength,
        byte* format, nuint formatLength,
        byte** names, nuint* nameLengths,
        byte** values, nuint* valueLengths,
        nuint count);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_insert_with_params_n")]
    public static partial nint StreamInsertWithParams(
        nint connection,
        byte* query, nuint queryLength,
        byte* format, nuint formatLength,
        byte** names, nuint* nameLengths,
        byte** values, nuint* valueLengths,
        nuint count);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_append")]
    public static partial int StreamAppend(nint stream, byte* data, nuint length);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_done")]
    public static partial nint StreamDone(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_cancel_insert")]
    public static partial void StreamCancelInsert(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_stream_insert_error")]
    public static partial byte* StreamInsertError(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_destroy_insert_stream")]
    public static partial void DestroyInsertStream(nint stream);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_buffer")]
    public static partial byte* ResultBuffer(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_length")]
    public static partial nuint ResultLength(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_elapsed")]
    public static partial double ResultElapsed(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_rows_read")]
    public static partial ulong ResultRowsRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_bytes_read")]
    public static partial ulong ResultBytesRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_storage_rows_read")]
    public static partial ulong ResultStorageRowsRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_storage_bytes_read")]
    public static partial ulong ResultStorageBytesRead(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_rows_written")]
    public static partial ulong ResultRowsWritten(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_bytes_written")]
    public static partial ulong ResultBytesWritten(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_result_error")]
    public static partial byte* ResultError(nint result);

    [LibraryImport(LibraryName, EntryPoint = "chdb_destroy_query_result")]
    public static partial void DestroyQueryResult(nint result);
}
