using System.Globalization;
using System.Net;
using System.Text;
using Aperture.Testing;
using ClickHouse.Driver.ADO;

namespace Aperture.EmbeddedClickHouse.Tests;

/// <summary>Tests that start, stop and load their own endpoint.</summary>
public sealed class LifecycleTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static async Task<object?> ScalarAsync(ClickHouseEndpointServer server, string sql)
    {
        using var connection = new ClickHouseConnection(server.ConnectionString);
        await connection.OpenAsync(Cancel);
        using var command = connection.CreateCommand(sql);
        return await command.ExecuteScalarAsync(Cancel);
    }

    [Fact]
    public async Task Data_is_still_there_after_the_endpoint_restarts()
    {
        using var data = new TemporaryDirectory("aperture-ch");
        await using var server = await ClickHouseEndpointServer.StartAsync(data.Path);
        await ScalarAsync(server, "CREATE TABLE kept (id UInt64) ENGINE = MergeTree ORDER BY id");
        await ScalarAsync(server, "INSERT INTO kept SELECT number FROM numbers(12345)");

        await server.StopAsync();
        Assert.False(server.IsRunning);
        await server.StartAsync();

        Assert.Equal(12345UL, await ScalarAsync(server, "SELECT count() FROM kept"));
    }

    [Fact]
    public async Task An_insert_far_larger_than_memory_headroom_is_streamed_not_buffered()
    {
        using var data = new TemporaryDirectory("aperture-ch");
        await using var server = await ClickHouseEndpointServer.StartAsync(data.Path);
        await ScalarAsync(server, "CREATE TABLE big (id UInt64, payload String) ENGINE = MergeTree ORDER BY id");
        var before = ProcessMemory.ResidentBytes(server.ProcessId);

        const long rows = 12_000_000;
        using var http = new HttpClient { BaseAddress = server.Url, Timeout = TimeSpan.FromMinutes(5) };
        using var body = new StreamContent(new GeneratedCsv(rows));
        using var response = await http.PostAsync("/?query=INSERT%20INTO%20big%20FORMAT%20CSV", body, Cancel);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal((ulong)rows, await ScalarAsync(server, "SELECT count() FROM big"));
        var peak = ProcessMemory.PeakResidentBytes(server.ProcessId);
        // The body is about 1.4 GB; holding it whole would raise the peak by at least that much.
        Assert.True(peak - before < GeneratedCsv.BytesFor(rows) / 2,
            string.Create(CultureInfo.InvariantCulture, $"peak RSS grew by {(peak - before) >> 20} MiB for a {GeneratedCsv.BytesFor(rows) >> 20} MiB body"));
    }

    [Fact]
    public async Task Requests_past_the_concurrency_limit_are_refused_with_ClickHouses_code()
    {
        using var data = new TemporaryDirectory("aperture-ch");
        await using var server = await ClickHouseEndpointServer.StartAsync(data.Path, extraArguments: ["--max-concurrent-queries", "1"]);
        using var http = new HttpClient { BaseAddress = server.Url };

        // The slow query must hold the only slot before the probe asks; under load that can take a
        // moment, so try a few times rather than trust one delay.
        HttpResponseMessage? refused = null;
        for (var attempt = 0; attempt < 5 && refused is null; attempt++)
        {
            var slow = http.GetAsync("/?query=SELECT%20sleep(2)", Cancel);
            await Task.Delay(400, Cancel);
            var probe = await http.GetAsync("/?query=SELECT%201", Cancel);
            using var finished = await slow;
            if (probe.StatusCode == HttpStatusCode.ServiceUnavailable && finished.StatusCode == HttpStatusCode.OK)
            {
                refused = probe;
            }
            else
            {
                probe.Dispose();
            }
        }

        Assert.NotNull(refused);
        Assert.Equal("202", refused.Headers.GetValues("X-ClickHouse-Exception-Code").Single());
        refused.Dispose();
        Assert.Equal("1\n", await http.GetStringAsync("/?query=SELECT%201", Cancel));
    }

    /// <summary>CSV rows made as they are read, so the test itself holds none of them.</summary>
    private sealed class GeneratedCsv(long rows) : Stream
    {
        private const string Payload = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        private long _next;
        private byte[] _pending = [];
        private int _offset;

        public static long BytesFor(long rows) => rows * (Payload.Length + 10);

        public override int Read(byte[] buffer, int offset, int count)
        {
            var written = 0;
            while (written < count)
            {
                if (_offset == _pending.Length)
                {
                    if (_next == rows)
                    {
                        break;
                    }

                    _pending = Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{_next++},{Payload}\n"));
                    _offset = 0;
                }

                var n = Math.Min(count - written, _pending.Length - _offset);
                Array.Copy(_pending, _offset, buffer, offset + written, n);
                _offset += n;
                written += n;
            }

            return written;
        }

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
