using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Aperture.EmbeddedClickHouse.Native;

namespace Aperture.EmbeddedClickHouse;

/// <summary>
/// ClickHouse's HTTP interface over the embedded engine: the query in the URL or the body,
/// settings and <c>param_*</c> per request, compressed bodies, streamed INSERT data, and errors
/// with <c>X-ClickHouse-Exception-Code</c>. Every request gets its own engine connection, so the
/// settings of one request can never reach another.
/// </summary>
public sealed partial class ClickHouseHttpInterface(ChdbEngine engine, EndpointOptions options, ILogger<ClickHouseHttpInterface> logger) : IDisposable
{
    private const int ChunkBytes = 1024 * 1024;
    private readonly SemaphoreSlim _slots = new(options.MaxConcurrentQueries, options.MaxConcurrentQueries);
    private readonly string _timezone = QueryScalar(engine, "SELECT timezone()");
    private readonly string _version = QueryScalar(engine, "SELECT version()");
    private readonly string _displayName = Environment.MachineName;

    // The engine ignores a connection argument it does not know, where a server answers
    // UNKNOWN_SETTING; checking names against system.settings keeps a typo from passing silently.
    private readonly HashSet<string> _knownSettings = [.. QueryScalar(engine, "SELECT arrayStringConcat(groupArray(name), ',') FROM system.settings").Split(',')];

    public async Task HandleAsync(HttpContext context)
    {
        var request = context.Request;
        var response = context.Response;
        var queryId = request.Query["query_id"].ToString() is { Length: > 0 } given ? given : Guid.NewGuid().ToString();
        response.Headers["X-ClickHouse-Query-Id"] = queryId;
        response.Headers["X-ClickHouse-Server-Display-Name"] = _displayName;
        response.Headers["X-ClickHouse-Timezone"] = _timezone;

        if (!_slots.Wait(0))
        {
            await WriteErrorAsync(context, queryId, new EndpointException(
                ExceptionCodes.TooManySimultaneousQueries,
                string.Create(CultureInfo.InvariantCulture, $"Too many simultaneous queries. Maximum: {options.MaxConcurrentQueries}")));
            return;
        }

        try
        {
            var query = HttpQuery.From(request.Query);
            if (query.SessionId is not null)
            {
                throw new EndpointException(ExceptionCodes.NotImplemented, "Sessions (session_id) are not supported by the embedded endpoint");
            }

            if (query.UrlQuery is null && request.ContentLength is null or 0 && !HttpMethods.IsPost(request.Method))
            {
                // A bare GET of / is ClickHouse's liveness answer.
                await response.WriteAsync("Ok.\n", context.RequestAborted);
                return;
            }

            foreach (var setting in query.Settings)
            {
                var name = setting[2..setting.IndexOf('=', StringComparison.Ordinal)];
                if (!_knownSettings.Contains(name))
                {
                    throw new EndpointException(ExceptionCodes.UnknownSetting, $"Unknown setting '{name}'");
                }
            }

            var settings = HttpMethods.IsGet(request.Method) ? [.. query.Settings, "--readonly=2"] : query.Settings;
            var stopwatch = Stopwatch.StartNew();
            using var connection = engine.Connect(settings);
            if (query.Database is { } database && database != "default")
            {
                connection.Query($"USE `{database.Replace("`", "\\`", StringComparison.Ordinal)}`", "TabSeparated", []).Dispose();
            }

            await using var body = ContentCoding.Decode(request.Body, request.Headers.ContentEncoding);
            var statement = await ReadStatementAsync(query, body, context.RequestAborted);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                LogQuery(queryId, statement.Text.Length > 120 ? statement.Text[..120] : statement.Text);
            }

            if (statement.InsertFormat is { } insertFormat)
            {
                using var insert = connection.BeginInsert(statement.Text, insertFormat, query.Parameters);
                if (statement.DataPrefix.Length > 0)
                {
                    insert.Append(statement.DataPrefix.Span);
                }

                await PumpAsync(body, insert, context.RequestAborted);
                using var written = insert.Complete();
                WriteSummary(response, written, stopwatch.Elapsed);
                response.Headers["X-ClickHouse-Format"] = insertFormat;
                return;
            }

            using var result = connection.Query(statement.Text, query.DefaultFormat, query.Parameters);
            WriteSummary(response, result, stopwatch.Elapsed);
            var format = OutputFormat().Match(statement.Text) is { Success: true } m ? m.Groups[1].Value : query.DefaultFormat;
            response.Headers["X-ClickHouse-Format"] = format;
            response.ContentType = ContentTypeOf(format);
            await using var output = result.OpenRead();
            var coding = query.CompressResponse ? ContentCoding.ChooseResponseCoding(request.Headers.AcceptEncoding) : null;
            if (coding is null)
            {
                response.ContentLength = result.Length;
                await output.CopyToAsync(response.Body, context.RequestAborted);
            }
            else
            {
                response.Headers.ContentEncoding = coding;
                await using var encoded = ContentCoding.Encode(response.Body, coding);
                await output.CopyToAsync(encoded, context.RequestAborted);
            }
        }
        catch (ChdbException e)
        {
            await WriteErrorAsync(context, queryId, e.Code, e.Message);
        }
        catch (EndpointException e)
        {
            await WriteErrorAsync(context, queryId, e);
        }
        catch (InvalidDataException e)
        {
            await WriteErrorAsync(context, queryId, new EndpointException(ExceptionCodes.CannotDecompress, $"Cannot decompress the request body: {e.Message}"));
        }
        catch (OperationCanceledException) when (context.RequestAborted.IsCancellationRequested)
        {
            // The client went away; an unfinished INSERT was cancelled by disposing its stream.
        }
        finally
        {
            _slots.Release();
        }
    }

    /// <summary>Where the statement is and, for an INSERT with data, its format and the data read so far.</summary>
    private sealed record Statement(string Text, string? InsertFormat, ReadOnlyMemory<byte> DataPrefix);

    private async Task<Statement> ReadStatementAsync(HttpQuery query, Stream body, CancellationToken cancellationToken)
    {
        if (query.UrlQuery is { } urlQuery)
        {
            if (InsertStatement.TrySplit(urlQuery, out var insert, out var format))
            {
                return new Statement(insert, format, ReadOnlyMemory<byte>.Empty);
            }

            var rest = await ReadBoundedAsync(body, options.MaxQueryBytes - Encoding.UTF8.GetByteCount(urlQuery), cancellationToken);
            return new Statement(rest.Length == 0 ? urlQuery : urlQuery + "\n" + Encoding.UTF8.GetString(rest.Span), null, ReadOnlyMemory<byte>.Empty);
        }

        // The statement is in the body. Look at its head for INSERT … FORMAT x; the data follows it.
        var head = await ReadUpToAsync(body, Math.Min(ChunkBytes, options.MaxQueryBytes), cancellationToken);
        if (head.Length == 0)
        {
            throw new EndpointException(ExceptionCodes.SyntaxError, "Empty query");
        }

        // Latin-1 maps each byte to one char, so offsets in the text are offsets in the bytes.
        var headText = Encoding.Latin1.GetString(head.Span);
        if (InsertStatement.TrySplitPrefix(headText, out var statementLatin1, out var insertFormat, out var dataOffset))
        {
            var start = headText.IndexOf(statementLatin1, StringComparison.Ordinal);
            var statementText = Encoding.UTF8.GetString(head.Span.Slice(start, statementLatin1.Length));
            return new Statement(statementText, insertFormat, head[dataOffset..]);
        }

        var remainder = await ReadBoundedAsync(body, options.MaxQueryBytes - head.Length, cancellationToken);
        var whole = new byte[head.Length + remainder.Length];
        head.Span.CopyTo(whole);
        remainder.Span.CopyTo(whole.AsSpan(head.Length));
        return new Statement(Encoding.UTF8.GetString(whole), null, ReadOnlyMemory<byte>.Empty);
    }

    private static async Task PumpAsync(Stream body, ChdbInsertStream insert, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkBytes);
        try
        {
            while (true)
            {
                // Fill a whole chunk before handing it over: the engine parses each append as a unit
                // of work, and many tiny appends cost more than the copy.
                var filled = 0;
                int read;
                while (filled < ChunkBytes && (read = await body.ReadAsync(buffer.AsMemory(filled, ChunkBytes - filled), cancellationToken)) > 0)
                {
                    filled += read;
                }

                if (filled == 0)
                {
                    return;
                }

                insert.Append(buffer.AsSpan(0, filled));
                if (filled < ChunkBytes)
                {
                    return;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task<ReadOnlyMemory<byte>> ReadUpToAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        var buffer = new byte[limit];
        var filled = 0;
        int read;
        while (filled < limit && (read = await body.ReadAsync(buffer.AsMemory(filled), cancellationToken)) > 0)
        {
            filled += read;
        }

        return buffer.AsMemory(0, filled);
    }

    private static async Task<ReadOnlyMemory<byte>> ReadBoundedAsync(Stream body, int limit, CancellationToken cancellationToken)
    {
        using var collected = new MemoryStream();
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0)
            {
                if (collected.Length + read > limit)
                {
                    throw new EndpointException(ExceptionCodes.SyntaxError, "Max query size exceeded");
                }

                collected.Write(buffer, 0, read);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return collected.ToArray();
    }

    private static void WriteSummary(HttpResponse response, ChdbResult result, TimeSpan elapsed)
    {
        // The same keys, and values as strings, as ClickHouse's own X-ClickHouse-Summary.
        var summary = string.Create(CultureInfo.InvariantCulture,
            $$"""{"read_rows":"{{result.StorageRowsRead}}","read_bytes":"{{result.StorageBytesRead}}","written_rows":"{{result.RowsWritten}}","written_bytes":"{{result.BytesWritten}}","total_rows_to_read":"{{result.StorageRowsRead}}","result_rows":"{{result.RowsRead}}","result_bytes":"{{result.BytesRead}}","elapsed_ns":"{{(long)(elapsed.TotalMilliseconds * 1_000_000)}}"}""");
        response.Headers["X-ClickHouse-Summary"] = summary;
    }

    private Task WriteErrorAsync(HttpContext context, string queryId, EndpointException error) =>
        WriteErrorAsync(context, queryId, error.Code, error.Message);

    private async Task WriteErrorAsync(HttpContext context, string queryId, int code, string message)
    {
        LogQueryFailed(queryId, code);
        var response = context.Response;
        if (response.HasStarted)
        {
            return;
        }

        response.StatusCode = ExceptionCodes.ToHttpStatus(code);
        response.Headers["X-ClickHouse-Exception-Code"] = code.ToString(CultureInfo.InvariantCulture);
        response.ContentType = "text/plain; charset=UTF-8";
        response.ContentLength = null;
        var text = message.Contains("(version ", StringComparison.Ordinal) ? message : $"{message.TrimEnd()} (version {_version})";
        await response.WriteAsync(text + "\n", context.RequestAborted);
    }

    private static string ContentTypeOf(string format) => format switch
    {
        _ when format.StartsWith("JSON", StringComparison.OrdinalIgnoreCase) => "application/json; charset=UTF-8",
        _ when format.StartsWith("TabSeparated", StringComparison.OrdinalIgnoreCase) || format.StartsWith("TSV", StringComparison.OrdinalIgnoreCase)
            => "text/tab-separated-values; charset=UTF-8",
        _ when format.StartsWith("CSV", StringComparison.OrdinalIgnoreCase) => "text/csv; charset=UTF-8; header=absent",
        _ when format.StartsWith("Pretty", StringComparison.OrdinalIgnoreCase) || format is "Vertical" or "Markdown"
            => "text/plain; charset=UTF-8",
        _ => "application/octet-stream",
    };

    private static string QueryScalar(ChdbEngine engine, string sql)
    {
        using var connection = engine.Connect([]);
        using var result = connection.Query(sql, "TabSeparated", []);
        using var reader = new StreamReader(result.OpenRead(), Encoding.UTF8);
        return reader.ReadToEnd().Trim();
    }

    public void Dispose() => _slots.Dispose();

    [GeneratedRegex(@"\bFORMAT\s+([A-Za-z][A-Za-z0-9_]*)\s*;?\s*\z", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex OutputFormat();

    [LoggerMessage(EventId = 2, Level = LogLevel.Debug, Message = "Query {QueryId}: {Statement}")]
    private partial void LogQuery(string queryId, string statement);

    [LoggerMessage(EventId = 1, Level = LogLevel.Information, Message = "Query {QueryId} failed with code {Code}")]
    private partial void LogQueryFailed(string queryId, int code);
}
