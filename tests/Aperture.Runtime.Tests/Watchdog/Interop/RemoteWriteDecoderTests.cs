using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Ingest;
using Snappier;

namespace Aperture.Runtime.Tests.Watchdog.Interop;

public sealed class RemoteWriteDecoderTests
{
    private static readonly (string, string)[] UpLabels = [("__name__", "up"), ("job", "checkout"), ("instance", "10.0.0.1:9100")];

    [Fact]
    public void Decodes_series_labels_and_samples_from_a_snappy_block()
    {
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(
            ProtoWriter.TimeSeries(UpLabels, [(1_764_600_000_000, 1), (1_764_600_015_000, 0)]),
            ProtoWriter.TimeSeries([("__name__", "http_requests_total"), ("service_id", "cart"), ("code", "500")], [(-5, 12.5)])));

        var series = RemoteWriteDecoder.Decode(body);

        Assert.Equal(2, series.Count);
        Assert.Equal(new Dictionary<string, string> { ["__name__"] = "up", ["job"] = "checkout", ["instance"] = "10.0.0.1:9100" }, series[0].Labels);
        Assert.Equal([(1_764_600_000_000L, 1d), (1_764_600_015_000L, 0d)], series[0].Samples);
        Assert.Equal("500", series[1].Labels["code"]);
        Assert.Equal([(-5L, 12.5d)], series[1].Samples);
    }

    [Fact]
    public void Keeps_special_float_values()
    {
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(
            ProtoWriter.TimeSeries(UpLabels, [(1, double.NaN), (2, double.PositiveInfinity), (3, -0.0)])));

        var samples = RemoteWriteDecoder.Decode(body)[0].Samples;

        Assert.True(double.IsNaN(samples[0].Value));
        Assert.Equal(double.PositiveInfinity, samples[1].Value);
        Assert.True(double.IsNegative(samples[2].Value));
    }

    [Fact]
    public void Skips_metadata_exemplars_histograms_and_unknown_fields()
    {
        var series = new ProtoWriter()
            .BytesField(1, ProtoWriter.Label("__name__", "rpc_seconds"))
            .BytesField(1, ProtoWriter.Label("job", "api"))
            .BytesField(2, ProtoWriter.Sample(0.25, 1000))
            // exemplars (3) and native histograms (4), with nested content the decoder must not read.
            .BytesField(3, new ProtoWriter().BytesField(1, ProtoWriter.Label("trace_id", "abc")).DoubleField(2, 1).VarintField(3, 5).ToArray())
            .BytesField(4, new ProtoWriter().VarintField(1, 7).DoubleField(3, 2.5).Fixed32Field(9, 1).ToArray())
            .VarintField(15, 99)
            .ToArray();
        var request = new ProtoWriter()
            .BytesField(1, series)
            .BytesField(3, new ProtoWriter().VarintField(1, 1).StringField(2, "rpc_seconds").StringField(4, "help").ToArray())
            .Fixed32Field(20, 3)
            .DoubleField(21, 4)
            .ToArray();

        var decoded = Assert.Single(RemoteWriteDecoder.Decode(Snappy.CompressToArray(request)));

        Assert.Equal("rpc_seconds", decoded.Labels["__name__"]);
        Assert.Equal([(1000L, 0.25d)], decoded.Samples);
    }

    [Fact]
    public void An_empty_write_request_has_no_series()
    {
        // Prometheus never sends one, but an empty message is valid protobuf (snappy of zero bytes is one byte).
        Assert.Empty(RemoteWriteDecoder.Decode(Snappy.CompressToArray([])));
    }

    public static TheoryData<string, byte[]> MalformedBodies() => new()
    {
        { "empty body", [] },
        { "not snappy", [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF] },
        { "framed snappy, not block", FramedSnappy() },
        { "snappy cut short", Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries(UpLabels, [(1, 1)])))[..^3] },
        { "a length past the end", Snappy.CompressToArray(new ProtoWriter().Tag(1, 2).Varint(50).Raw([1, 2, 3]).ToArray()) },
        { "a varint cut short", Snappy.CompressToArray(new ProtoWriter().Tag(2, 0).Raw([0x80, 0x80]).ToArray()) },
        { "a group wire type", Snappy.CompressToArray(new ProtoWriter().Tag(1, 3).ToArray()) },
        { "wire type 7", Snappy.CompressToArray(new ProtoWriter().Tag(1, 7).ToArray()) },
        { "field 0", Snappy.CompressToArray([0x02, 0x00]) },
        { "a series without labels", Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries([], [(1, 1)]))) },
        { "a label without a name", Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries([("", "x")], [(1, 1)]))) },
        { "a label twice", Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries([("job", "a"), ("job", "b")], [(1, 1)]))) },
        { "a label that is not UTF-8", Snappy.CompressToArray(ProtoWriter.WriteRequest(new ProtoWriter().BytesField(1, new ProtoWriter().StringField(1, "job").BytesField(2, [0xC3, 0x28]).ToArray()).ToArray())) },
        { "a sample cut short", Snappy.CompressToArray(ProtoWriter.WriteRequest(new ProtoWriter().BytesField(1, ProtoWriter.Label("job", "a")).BytesField(2, [0x09, 1, 2, 3]).ToArray())) },
        { "JSON", "{\"timeseries\":[]}"u8.ToArray() },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public void A_malformed_body_is_an_invalid_request(string what, byte[] body)
    {
        var error = Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));
        Assert.False(string.IsNullOrWhiteSpace(error.Message), what);
    }

    [Fact]
    public void Random_bytes_are_only_ever_an_invalid_request()
    {
        var random = new Random(20261201);
        var valid = Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries(UpLabels, [(1, 1), (2, 2)])));
        for (var i = 0; i < 2000; i++)
        {
            var body = (byte[])valid.Clone();
            body[random.Next(body.Length)] = (byte)random.Next(256);
            if (i % 2 == 0)
            {
                body = body[..random.Next(body.Length + 1)];
            }

            try
            {
                RemoteWriteDecoder.Decode(body);
            }
            catch (InvalidRequestException)
            {
            }
        }
    }

    [Fact]
    public void A_declared_decompressed_size_over_the_limit_is_refused_before_allocating()
    {
        // A snappy block starts with its uncompressed length as a varint: claim 1 GiB with a few bytes.
        var body = new ProtoWriter().Varint(1UL << 30).Raw([0x00, 0x61]).ToArray();

        var error = Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));

        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_compressed_body_over_the_limit_is_refused()
    {
        var body = new byte[RemoteWriteDecoder.MaxCompressedBytes + 1];

        var error = Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));

        Assert.Contains("limit", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_labels_than_the_limit_are_refused()
    {
        var labels = Enumerable.Range(0, RemoteWriteDecoder.MaxLabelsPerSeries + 1).Select(i => ($"l{i}", "v"));
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries(labels, [(1, 1)])));

        Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));
    }

    [Fact]
    public void More_series_than_the_limit_are_refused()
    {
        var series = ProtoWriter.TimeSeries([("a", "b")], []);
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(Enumerable.Repeat(series, RemoteWriteDecoder.MaxSeries + 1).ToArray()));

        var error = Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));

        Assert.Contains("series", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void More_samples_than_the_limit_are_refused()
    {
        var samples = Enumerable.Range(0, (RemoteWriteDecoder.MaxSamples / 2) + 1).Select(i => ((long)i, 1d)).ToArray();
        var series = ProtoWriter.TimeSeries([("a", "b")], samples);
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(series, series));

        var error = Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));

        Assert.Contains("samples", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_label_over_the_size_limit_is_refused()
    {
        var body = Snappy.CompressToArray(ProtoWriter.WriteRequest(
            ProtoWriter.TimeSeries([("job", new string('x', RemoteWriteDecoder.MaxLabelBytes + 1))], [(1, 1)])));

        Assert.Throws<InvalidRequestException>(() => RemoteWriteDecoder.Decode(body));
    }

    [Theory]
    [InlineData("application/x-protobuf", "snappy", "0.1.0")]
    [InlineData("application/x-protobuf;proto=prometheus.WriteRequest", "snappy", "0.1.0")]
    [InlineData("application/x-protobuf", "snappy", null)]
    [InlineData(null, null, null)]
    public void Remote_write_1_headers_are_accepted(string? contentType, string? encoding, string? version) =>
        RemoteWriteDecoder.ValidateHeaders(contentType, encoding, version);

    [Theory]
    [InlineData("application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy", "2.0.0")]
    [InlineData("application/x-protobuf;proto=io.prometheus.write.v2.Request", "snappy", null)]
    [InlineData("application/x-protobuf", "snappy", "2.0.0")]
    [InlineData("application/json", "snappy", "0.1.0")]
    [InlineData("application/x-protobuf", "zstd", "0.1.0")]
    public void Other_protocols_are_unsupported_not_invalid(string? contentType, string? encoding, string? version)
    {
        var error = Assert.Throws<UnsupportedRemoteWriteException>(() => RemoteWriteDecoder.ValidateHeaders(contentType, encoding, version));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Fact]
    public void Maps_the_service_from_service_id_before_job()
    {
        var metric = RemoteWriteSeriesMapping.Map(new Dictionary<string, string>
        {
            ["__name__"] = "http_requests_total",
            ["service_id"] = "cart",
            ["job"] = "kubernetes-pods",
            ["code"] = "500",
        });

        Assert.NotNull(metric);
        Assert.Equal(("cart", "service_id", "http_requests_total"), (metric.ServiceId, metric.ServiceLabel, metric.MetricName));
        Assert.Equal(new Dictionary<string, string> { ["job"] = "kubernetes-pods", ["code"] = "500" }, metric.Labels);
    }

    [Fact]
    public void Maps_the_service_from_job_when_service_id_is_absent_or_empty()
    {
        var metric = RemoteWriteSeriesMapping.Map(new Dictionary<string, string> { ["__name__"] = "up", ["service_id"] = "", ["job"] = "prometheus" });

        Assert.NotNull(metric);
        Assert.Equal(("prometheus", "job"), (metric.ServiceId, metric.ServiceLabel));
        Assert.Equal(new Dictionary<string, string> { ["service_id"] = "" }, metric.Labels);
    }

    [Fact]
    public void Maps_with_configured_service_labels()
    {
        var metric = RemoteWriteSeriesMapping.Map(
            new Dictionary<string, string> { ["__name__"] = "up", ["app"] = "web", ["job"] = "x" }, ["app"]);

        Assert.Equal("web", metric?.ServiceId);
        Assert.Equal("x", metric?.Labels["job"]);
    }

    [Fact]
    public void A_series_without_a_name_or_a_service_is_not_mapped()
    {
        Assert.Null(RemoteWriteSeriesMapping.Map(new Dictionary<string, string> { ["job"] = "x" }));
        Assert.Null(RemoteWriteSeriesMapping.Map(new Dictionary<string, string> { ["__name__"] = "up", ["instance"] = "a" }));
        Assert.Null(RemoteWriteSeriesMapping.Map(new Dictionary<string, string> { ["__name__"] = "up" }, ["__name__"]));
    }

    private static byte[] FramedSnappy()
    {
        using var output = new MemoryStream();
        using (var framed = new SnappyStream(output, System.IO.Compression.CompressionMode.Compress, leaveOpen: true))
        {
            framed.Write(ProtoWriter.WriteRequest(ProtoWriter.TimeSeries(UpLabels, [(1, 1)])));
        }

        return output.ToArray();
    }
}
