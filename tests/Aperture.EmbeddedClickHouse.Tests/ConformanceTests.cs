using System.Data.Common;
using System.Globalization;
using System.IO.Compression;
using System.Net;
using System.Text;
using Aperture.Testing;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;
using K4os.Compression.LZ4.Streams;

namespace Aperture.EmbeddedClickHouse.Tests;

/// <summary>
/// Drives the embedded endpoint with ClickHouse.Driver the way the runtime does, and with plain
/// HTTP where the driver hides the wire (compressed bodies, settings, error headers).
/// </summary>
public sealed class ConformanceTests(EndpointFixture fixture) : IClassFixture<EndpointFixture>
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private ClickHouseConnection Connect() => new(fixture.Server.ConnectionString);

    private static string UniqueName(string prefix) => $"{prefix}_{Guid.NewGuid():N}";

    private async Task<object?> ScalarAsync(string sql)
    {
        using var connection = Connect();
        await connection.OpenAsync(Cancel);
        using var command = connection.CreateCommand(sql);
        return await command.ExecuteScalarAsync(Cancel);
    }

    private async Task ExecuteAsync(string sql)
    {
        using var connection = Connect();
        await connection.OpenAsync(Cancel);
        using var command = connection.CreateCommand(sql);
        await command.ExecuteNonQueryAsync(Cancel);
    }

    [Fact]
    public async Task Ddl_creates_a_database_and_a_table_that_the_engine_then_lists()
    {
        var database = UniqueName("db");
        await ExecuteAsync($"CREATE DATABASE {database}");
        await ExecuteAsync($"CREATE TABLE {database}.events (id UInt64, name String) ENGINE = MergeTree ORDER BY id");

        var tables = await ScalarAsync($"SELECT arrayStringConcat(groupArray(name), ',') FROM system.tables WHERE database = '{database}'");
        Assert.Equal("events", tables);

        await ExecuteAsync($"DROP DATABASE {database}");
        Assert.Equal(0UL, await ScalarAsync($"SELECT count() FROM system.databases WHERE name = '{database}'"));
    }

    [Fact]
    public async Task A_parameterised_select_is_read_through_a_DbDataReader_with_its_types()
    {
        var table = UniqueName("readers");
        await ExecuteAsync($"CREATE TABLE {table} (id UInt32, name String, score Float64, at DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY id");
        await ExecuteAsync($"INSERT INTO {table} VALUES (1, 'a', 0.5, '2026-01-01 00:00:00.000'), (2, 'b''s', 1.5, '2026-01-02 00:00:00.250'), (3, 'c', 2.5, '2026-01-03 00:00:00.000')");

        using var connection = Connect();
        await connection.OpenAsync(Cancel);
        using var command = connection.CreateCommand(
            $"SELECT id, name, score, at FROM {table} WHERE id >= {{min:UInt32}} AND name != {{skip:String}} ORDER BY id");
        command.AddParameter("min", 2u);
        command.AddParameter("skip", "c");
        using DbDataReader reader = await command.ExecuteReaderAsync(Cancel);

        Assert.Equal(["id", "name", "score", "at"], Enumerable.Range(0, reader.FieldCount).Select(reader.GetName));
        Assert.True(await reader.ReadAsync(Cancel));
        Assert.Equal(2u, reader.GetFieldValue<uint>(0));
        Assert.Equal("b's", reader.GetString(1));
        Assert.Equal(1.5, reader.GetDouble(2));
        Assert.Equal(new DateTime(2026, 1, 2, 0, 0, 0, 250, DateTimeKind.Utc), reader.GetDateTime(3).ToUniversalTime());
        Assert.False(await reader.ReadAsync(Cancel));
    }

    [Fact]
    public async Task Bulk_copy_of_a_million_rows_arrives_whole()
    {
        const int rows = 1_000_000;
        var table = UniqueName("bulk");
        await ExecuteAsync($"CREATE TABLE {table} (id UInt64, agent String, value Float64) ENGINE = MergeTree ORDER BY id");

        // InsertBinaryAsync is ClickHouseBulkCopy's successor in ClickHouse.Driver 1.5 (BulkCopy is
        // obsolete there): RowBinary batches, compressed, posted in parallel.
        using var client = new ClickHouseClient(fixture.Server.ConnectionString);
        var written = await client.InsertBinaryAsync(
            table,
            ["id", "agent", "value"],
            Enumerable.Range(0, rows).Select(i => new object[] { (ulong)i, $"agent-{i % 7}", i * 0.5 }),
            new InsertOptions { BatchSize = 250_000, MaxDegreeOfParallelism = 2 },
            Cancel);

        Assert.Equal((long)rows, written);
        Assert.Equal((ulong)rows, await ScalarAsync($"SELECT count() FROM {table}"));
        Assert.Equal((ulong)rows * (rows - 1) / 2, await ScalarAsync($"SELECT sum(id) FROM {table}"));
        Assert.Equal(7UL, await ScalarAsync($"SELECT uniqExact(agent) FROM {table}"));
    }

    [Theory]
    [InlineData("SELEC 1", 62)]
    [InlineData("SELECT * FROM table_that_does_not_exist", 60)]
    [InlineData("SELECT throwIf(1, 'boom')", 395)]
    public async Task A_bad_query_surfaces_as_the_drivers_exception_with_ClickHouses_code(string sql, int code)
    {
        var error = await Assert.ThrowsAsync<ClickHouseServerException>(() => ScalarAsync(sql));
        Assert.Equal(code, error.ErrorCode);
        Assert.Contains(string.Create(CultureInfo.InvariantCulture, $"Code: {code}."), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_parameter_far_longer_than_a_default_url_limit_is_accepted_as_ClickHouse_accepts_it()
    {
        var ids = Enumerable.Range(0, 20_000).Select(i => (ulong)i * 7919).ToArray();
        using var connection = Connect();
        await connection.OpenAsync(Cancel);
        using var command = connection.CreateCommand("SELECT length({ids:Array(UInt64)})");
        command.AddParameter("ids", ids);

        Assert.Equal(20_000UL, await command.ExecuteScalarAsync(Cancel));
    }

    [Fact]
    public async Task Two_clients_query_at_once_and_each_gets_its_own_answer()
    {
        async Task<ulong> SumAsync(int upTo)
        {
            using var connection = Connect();
            await connection.OpenAsync(Cancel);
            using var command = connection.CreateCommand("SELECT sum(number) FROM numbers({n:UInt64})");
            command.AddParameter("n", (ulong)upTo);
            return (ulong)(await command.ExecuteScalarAsync(Cancel))!;
        }

        var tasks = Enumerable.Range(0, 8).Select(i => SumAsync(5_000_000 + i)).ToArray();
        var sums = await Task.WhenAll(tasks);

        for (var i = 0; i < sums.Length; i++)
        {
            var n = (ulong)(5_000_000 + i);
            Assert.Equal(n * (n - 1) / 2, sums[i]);
        }
    }

    [Fact]
    public async Task Settings_of_one_request_never_reach_another()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };
        var withSetting = await http.GetStringAsync("/?query=SELECT%20getSetting('max_threads')&max_threads=3", Cancel);
        var after = await http.GetStringAsync("/?query=SELECT%20getSetting('max_threads')", Cancel);

        Assert.Equal("3\n", withSetting);
        Assert.NotEqual("3\n", after);

        using var connection = Connect();
        connection.CustomSettings["max_result_rows"] = 5;
        connection.CustomSettings["result_overflow_mode"] = "break";
        await connection.OpenAsync(Cancel);
        using var limited = connection.CreateCommand("SELECT getSetting('max_result_rows')");
        Assert.Equal(5UL, Convert.ToUInt64(await limited.ExecuteScalarAsync(Cancel), CultureInfo.InvariantCulture));
        Assert.Equal(0UL, Convert.ToUInt64(await ScalarAsync("SELECT getSetting('max_result_rows')"), CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task An_unknown_setting_is_refused_as_ClickHouse_refuses_it()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };
        using var response = await http.GetAsync("/?query=SELECT%201&no_such_setting_at_all=1", Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("115", response.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        Assert.Contains("no_such_setting_at_all", await response.Content.ReadAsStringAsync(Cancel), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_get_request_cannot_change_data()
    {
        var table = UniqueName("readonly");
        await ExecuteAsync($"CREATE TABLE {table} (id UInt32) ENGINE = MergeTree ORDER BY id");
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };

        using var response = await http.GetAsync($"/?query=INSERT%20INTO%20{table}%20VALUES%20(1)", Cancel);

        Assert.Equal("164", response.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        Assert.Equal(0UL, await ScalarAsync($"SELECT count() FROM {table}"));
    }

    public static TheoryData<string> Codings => ["identity", "gzip", "deflate", "br", "zstd", "lz4"];

    [Theory]
    [MemberData(nameof(Codings))]
    public async Task An_insert_body_in_each_content_coding_is_decoded(string coding)
    {
        var table = UniqueName("coded");
        await ExecuteAsync($"CREATE TABLE {table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id");
        var csv = string.Join("", Enumerable.Range(1, 1000).Select(i => $"{i},name-{i}\n"));

        using var http = new HttpClient { BaseAddress = fixture.Server.Url };
        using var content = new ByteArrayContent(Encode(Encoding.UTF8.GetBytes(csv), coding));
        if (coding != "identity")
        {
            content.Headers.ContentEncoding.Add(coding);
        }

        using var response = await http.PostAsync($"/?query=INSERT%20INTO%20{table}%20FORMAT%20CSV", content, Cancel);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(500500UL, await ScalarAsync($"SELECT sum(id) FROM {table}"));
    }

    [Fact]
    public async Task A_corrupt_compressed_body_is_a_client_error_not_a_crash()
    {
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };
        using var content = new ByteArrayContent("this is not gzip"u8.ToArray());
        content.Headers.ContentEncoding.Add("gzip");

        using var response = await http.PostAsync("/?query=SELECT%201", content, Cancel);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("271", response.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        Assert.Equal("1\n", await http.GetStringAsync("/?query=SELECT%201", Cancel));
    }

    [Fact]
    public async Task An_insert_statement_and_its_data_can_both_come_in_the_body()
    {
        var table = UniqueName("inbody");
        await ExecuteAsync($"CREATE TABLE {table} (id UInt32, name String) ENGINE = MergeTree ORDER BY id");
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };

        using var content = new StringContent($"INSERT INTO {table} FORMAT TabSeparated\n1\tone\n2\ttwo\n");
        using var response = await http.PostAsync("/", content, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"written_rows\":\"2\"", response.Headers.GetValues("X-ClickHouse-Summary").Single(), StringComparison.Ordinal);
        Assert.Equal("one,two", await ScalarAsync($"SELECT arrayStringConcat(groupArray(name), ',') FROM (SELECT name FROM {table} ORDER BY id)"));
    }

    [Fact]
    public async Task The_response_is_compressed_when_the_client_asks_for_it()
    {
        using var handler = new HttpClientHandler { AutomaticDecompression = DecompressionMethods.None };
        using var http = new HttpClient(handler) { BaseAddress = fixture.Server.Url };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/?query=SELECT%20number%20FROM%20numbers(1000)&enable_http_compression=1");
        request.Headers.AcceptEncoding.ParseAdd("gzip");

        using var response = await http.SendAsync(request, Cancel);

        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        await using var gzip = new GZipStream(await response.Content.ReadAsStreamAsync(Cancel), CompressionMode.Decompress);
        var text = await new StreamReader(gzip).ReadToEndAsync(Cancel);
        Assert.Equal(1000, text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public async Task Ping_answers_as_a_ClickHouse_server_does()
    {
        using var client = new ClickHouseClient(fixture.Server.ConnectionString);
        Assert.True(await client.PingAsync(cancellationToken: Cancel));
        using var http = new HttpClient { BaseAddress = fixture.Server.Url };
        Assert.Equal("Ok.\n", await http.GetStringAsync("/ping", Cancel));
    }

    private static byte[] Encode(byte[] data, string coding)
    {
        using var output = new MemoryStream();
        using (Stream encoder = coding switch
        {
            "identity" => new MemoryStream(),
            "gzip" => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "deflate" => new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "br" => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true),
            "zstd" => new ZstdSharp.CompressionStream(output, leaveOpen: true),
            "lz4" => LZ4Stream.Encode(output, leaveOpen: true),
            _ => throw new ArgumentOutOfRangeException(nameof(coding)),
        })
        {
            if (coding == "identity")
            {
                return data;
            }

            encoder.Write(data);
        }

        return output.ToArray();
    }
}
