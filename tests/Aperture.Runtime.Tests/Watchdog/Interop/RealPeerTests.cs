using Aperture.Runtime.Watchdog.Ingest;
using Aperture.Testing;

namespace Aperture.Runtime.Tests.Watchdog.Interop;

/// <summary>The decoders against what Debian's real Prometheus and Alertmanager send.</summary>
public sealed class RealPeerTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(25);

    [Fact]
    public async Task Prometheus_remote_writes_its_own_series_with_the_bearer_token()
    {
        await using var listener = await PeerListener.StartAsync();
        await using var prometheus = await PrometheusProcess.StartAsync(listener.Url("/api/v1/write"), "rw-token-1", TimeSpan.FromSeconds(1));

        RemoteWriteSeries? up = null;
        PeerRequest? carrying = null;
        try
        {
            await Eventually.HoldsAsync(
                () =>
                {
                    foreach (var request in listener.Requests)
                    {
                        up = RemoteWriteDecoder.Decode(request.Body).FirstOrDefault(s => s.Labels.GetValueOrDefault("__name__") == "up");
                        if (up is not null)
                        {
                            carrying = request;
                            return true;
                        }
                    }

                    return false;
                },
                Deadline,
                "an up series remote-written by prometheus",
                TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            output.WriteLine(prometheus.Output);
            throw;
        }

        Assert.NotNull(carrying);
        Assert.NotNull(up);
        Assert.Equal("/api/v1/write", carrying.Path);
        Assert.Equal("Bearer rw-token-1", carrying.Headers["Authorization"]);
        RemoteWriteDecoder.ValidateHeaders(
            carrying.Headers.GetValueOrDefault("Content-Type"),
            carrying.Headers.GetValueOrDefault("Content-Encoding"),
            carrying.Headers.GetValueOrDefault(RemoteWriteDecoder.VersionHeader));
        Assert.Equal("snappy", carrying.Headers["Content-Encoding"]);
        Assert.StartsWith("application/x-protobuf", carrying.Headers["Content-Type"], StringComparison.Ordinal);
        Assert.StartsWith("0.1", carrying.Headers[RemoteWriteDecoder.VersionHeader], StringComparison.Ordinal);
        output.WriteLine(string.Join('\n', carrying.Headers.Select(h => $"{h.Key}: {h.Value}")));

        var sample = Assert.Single(up.Samples);
        Assert.Equal(1, sample.Value);
        Assert.InRange(sample.UnixMs, TimeProvider.System.GetUtcNow().AddMinutes(-5).ToUnixTimeMilliseconds(), TimeProvider.System.GetUtcNow().AddMinutes(1).ToUnixTimeMilliseconds());
        var metric = RemoteWriteSeriesMapping.Map(up.Labels);
        Assert.NotNull(metric);
        Assert.Equal(("prometheus", "job", "up"), (metric.ServiceId, metric.ServiceLabel, metric.MetricName));
        Assert.Equal($"127.0.0.1:{prometheus.Port}", metric.Labels["instance"]);
        Assert.DoesNotContain("__name__", metric.Labels.Keys);
        Assert.DoesNotContain("job", metric.Labels.Keys);
    }

    [Fact]
    public async Task Alertmanager_posts_firing_repeats_with_the_same_fingerprint_and_then_resolves()
    {
        await using var listener = await PeerListener.StartAsync();
        await using var alertmanager = await AlertmanagerProcess.StartAsync(
            listener.Url("/api/v1/alerts/webhook"), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        var labels = new Dictionary<string, string>
        {
            ["alertname"] = "HighErrorRate",
            ["service_id"] = "checkout",
            ["severity"] = "critical",
            ["tenant"] = "acme",
        };
        // Whole seconds: Alertmanager keeps what it is sent, so the test can compare startsAt exactly.
        var now = TimeProvider.System.GetUtcNow();
        var startsAt = new DateTimeOffset(now.Ticks - (now.Ticks % TimeSpan.TicksPerSecond), TimeSpan.Zero).AddSeconds(-30);

        try
        {
            await alertmanager.PostAlertAsync(labels, new Dictionary<string, string> { ["summary"] = "5xx over 5%" }, startsAt);
            var firing = await NotificationsAsync(listener, n => n.Status == "firing", 2, "a firing notification and its repeat");

            var first = Assert.Single(firing[0].Alerts);
            var repeat = Assert.Single(firing[1].Alerts);
            Assert.Equal("4", firing[0].Version);
            Assert.Equal("webhook", firing[0].Receiver);
            Assert.Contains("HighErrorRate", firing[0].GroupKey, StringComparison.Ordinal);
            Assert.Equal("HighErrorRate", firing[0].GroupLabels["alertname"]);
            Assert.Equal("acme", firing[0].CommonLabels["tenant"]);
            Assert.Equal("firing", first.Status);
            Assert.Equal(labels, first.Labels);
            Assert.Equal("5xx over 5%", first.Annotations["summary"]);
            Assert.Equal(startsAt, first.StartsAt);
            Assert.Matches("^[0-9a-f]{16}$", first.Fingerprint);
            Assert.Equal((first.Fingerprint, first.StartsAt), (repeat.Fingerprint, repeat.StartsAt));
            Assert.Equal(firing[0].GroupKey, firing[1].GroupKey);
            Assert.True(await alertmanager.NotificationsSentAsync() >= 2);

            await alertmanager.PostAlertAsync(labels, null, startsAt, TimeProvider.System.GetUtcNow().AddSeconds(-1));
            var resolved = (await NotificationsAsync(listener, n => n.Status == "resolved", 1, "a resolved notification"))[0];

            var closed = Assert.Single(resolved.Alerts);
            Assert.Equal("resolved", closed.Status);
            Assert.Equal((first.Fingerprint, first.StartsAt), (closed.Fingerprint, closed.StartsAt));
            Assert.NotNull(closed.EndsAt);
            output.WriteLine(System.Text.Encoding.UTF8.GetString(listener.Requests.Last().Body));
        }
        catch (TimeoutException)
        {
            output.WriteLine(alertmanager.Output);
            throw;
        }
    }

    private static async Task<IReadOnlyList<AlertmanagerNotification>> NotificationsAsync(
        PeerListener listener, Func<AlertmanagerNotification, bool> wanted, int count, string what)
    {
        IReadOnlyList<AlertmanagerNotification> found = [];
        await Eventually.HoldsAsync(
            () =>
            {
                found = listener.Requests.Select(r => AlertmanagerPayload.Parse(r.Body)).Where(wanted).ToList();
                return found.Count >= count;
            },
            Deadline,
            what,
            TestContext.Current.CancellationToken);
        return found;
    }
}
