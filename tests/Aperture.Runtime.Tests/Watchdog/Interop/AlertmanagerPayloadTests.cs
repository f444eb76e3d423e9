using System.Text;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Watchdog.Ingest;

namespace Aperture.Runtime.Tests.Watchdog.Interop;

public sealed class AlertmanagerPayloadTests
{
    // The example of Alertmanager's webhook_config documentation, with the values a real one carries.
    private const string Example = """
        {
          "version": "4",
          "groupKey": "{}:{alertname=\"HighLatency\"}",
          "truncatedAlerts": 0,
          "status": "firing",
          "receiver": "aperture",
          "groupLabels": { "alertname": "HighLatency" },
          "commonLabels": { "alertname": "HighLatency", "service_id": "checkout", "severity": "critical" },
          "commonAnnotations": { "summary": "p99 over 2s" },
          "externalURL": "http://alertmanager:9093",
          "alerts": [
            {
              "status": "firing",
              "labels": { "alertname": "HighLatency", "service_id": "checkout", "severity": "critical", "tenant": "acme" },
              "annotations": { "summary": "p99 over 2s" },
              "startsAt": "2026-12-01T21:00:00.123456789Z",
              "endsAt": "0001-01-01T00:00:00Z",
              "generatorURL": "http://prometheus:9090/graph?g0.expr=x",
              "fingerprint": "a1b2c3d4e5f60718"
            },
            {
              "status": "resolved",
              "labels": { "alertname": "HighLatency", "service_id": "checkout" },
              "annotations": {},
              "startsAt": "2026-12-01T20:00:00+01:00",
              "endsAt": "2026-12-01T21:05:00.5Z",
              "generatorURL": "",
              "fingerprint": "0011223344556677"
            }
          ]
        }
        """;

    [Fact]
    public void Parses_the_whole_version_4_payload()
    {
        var notification = Parse(Example);

        Assert.Equal("4", notification.Version);
        Assert.Equal("{}:{alertname=\"HighLatency\"}", notification.GroupKey);
        Assert.Equal(0, notification.TruncatedAlerts);
        Assert.Equal("firing", notification.Status);
        Assert.Equal("aperture", notification.Receiver);
        Assert.Equal("HighLatency", notification.GroupLabels["alertname"]);
        Assert.Equal("critical", notification.CommonLabels["severity"]);
        Assert.Equal("p99 over 2s", notification.CommonAnnotations["summary"]);
        Assert.Equal("http://alertmanager:9093", notification.ExternalUrl);
        Assert.Equal(2, notification.Alerts.Count);

        var firing = notification.Alerts[0];
        Assert.False(firing.IsResolved);
        Assert.Equal("acme", firing.Labels["tenant"]);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 21, 0, 0, TimeSpan.Zero).AddTicks(1_234_567), firing.StartsAt);
        Assert.Null(firing.EndsAt);
        Assert.Equal("a1b2c3d4e5f60718", firing.Fingerprint);
        Assert.Equal("http://prometheus:9090/graph?g0.expr=x", firing.GeneratorUrl);

        var resolved = notification.Alerts[1];
        Assert.True(resolved.IsResolved);
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 19, 0, 0, TimeSpan.Zero), resolved.StartsAt.ToUniversalTime());
        Assert.Equal(new DateTimeOffset(2026, 12, 1, 21, 5, 0, 500, TimeSpan.Zero), resolved.EndsAt);
        Assert.Empty(resolved.Annotations);
    }

    [Fact]
    public void Optional_fields_may_be_absent()
    {
        var notification = Parse("""
            {"alerts":[{"status":"firing","startsAt":"2026-12-01T21:00:00Z","fingerprint":"f1"}]}
            """);

        Assert.Equal("4", notification.Version);
        Assert.Equal("firing", notification.Status);
        Assert.Equal(string.Empty, notification.GroupKey);
        Assert.Empty(notification.CommonLabels);
        var alert = Assert.Single(notification.Alerts);
        Assert.Empty(alert.Labels);
        Assert.Null(alert.EndsAt);
    }

    [Fact]
    public void Reports_truncated_alerts()
    {
        var notification = Parse("""{"version":"4","status":"firing","truncatedAlerts":7,"alerts":[]}""");

        Assert.Equal(7, notification.TruncatedAlerts);
        Assert.Empty(notification.Alerts);
    }

    [Theory]
    [InlineData("not json", "body")]
    [InlineData("[]", "body")]
    [InlineData("{\"version\":\"4\",\"status\":\"firing\"", "body")]
    [InlineData("{\"version\":\"4\",\"status\":\"firing\"}", "alerts")]
    [InlineData("{\"version\":\"4\",\"status\":\"firing\",\"alerts\":{}}", "alerts")]
    [InlineData("{\"version\":\"3\",\"alerts\":[]}", "version")]
    [InlineData("{\"version\":4,\"alerts\":[]}", "version")]
    [InlineData("{\"status\":\"pending\",\"alerts\":[]}", "status")]
    [InlineData("{\"truncatedAlerts\":-1,\"alerts\":[]}", "truncatedAlerts")]
    [InlineData("{\"truncatedAlerts\":\"1\",\"alerts\":[]}", "truncatedAlerts")]
    [InlineData("{\"commonLabels\":[],\"alerts\":[]}", "commonLabels")]
    [InlineData("{\"alerts\":[1]}", "alerts[0]")]
    [InlineData("{\"alerts\":[{\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"f\"}]}", "alerts[0].status")]
    [InlineData("{\"alerts\":[{\"status\":\"silenced\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"f\"}]}", "alerts[0].status")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"fingerprint\":\"f\"}]}", "alerts[0].startsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"yesterday\",\"fingerprint\":\"f\"}]}", "alerts[0].startsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01 21:00:00\",\"fingerprint\":\"f\"}]}", "alerts[0].startsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00\",\"fingerprint\":\"f\"}]}", "alerts[0].startsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":1764622800,\"fingerprint\":\"f\"}]}", "alerts[0].startsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"resolved\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"endsAt\":\"2026-12-01T20:00:00Z\",\"fingerprint\":\"f\"}]}", "alerts[0].endsAt")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00Z\"}]}", "alerts[0].fingerprint")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"\"}]}", "alerts[0].fingerprint")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"f\",\"labels\":{\"severity\":3}}]}", "alerts[0].labels.severity")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"f\",\"labels\":\"a=b\"}]}", "alerts[0].labels")]
    [InlineData("{\"alerts\":[{\"status\":\"firing\",\"startsAt\":\"2026-12-01T21:00:00Z\",\"fingerprint\":\"f\",\"annotations\":{\"a\":{}}}]}", "alerts[0].annotations.a")]
    public void A_malformed_notification_is_an_invalid_request(string body, string field)
    {
        var error = Assert.Throws<InvalidRequestException>(() => Parse(body));

        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void A_body_over_the_limit_is_refused()
    {
        var body = new byte[AlertmanagerPayload.MaxBodyBytes + 1];

        Assert.Throws<InvalidRequestException>(() => AlertmanagerPayload.Parse(body));
    }

    [Fact]
    public void Deeply_nested_json_is_refused()
    {
        var body = "{\"alerts\":[],\"x\":" + new string('[', 100) + new string(']', 100) + "}";

        Assert.Throws<InvalidRequestException>(() => Parse(body));
    }

    [Theory]
    [InlineData("2026-12-01T21:00:00Z", "2026-12-01T21:00:00.0000000+00:00")]
    [InlineData("2026-12-01T21:00:00.1Z", "2026-12-01T21:00:00.1000000+00:00")]
    [InlineData("2026-12-01T21:00:00.123456789Z", "2026-12-01T21:00:00.1234567+00:00")]
    [InlineData("2026-12-01T23:00:00.987654321+02:00", "2026-12-01T23:00:00.9876543+02:00")]
    public void Reads_go_rfc3339_times(string text, string expected) =>
        Assert.Equal(DateTimeOffset.Parse(expected, System.Globalization.CultureInfo.InvariantCulture), AlertmanagerPayload.ParseRfc3339(text));

    private static AlertmanagerNotification Parse(string json) => AlertmanagerPayload.Parse(Encoding.UTF8.GetBytes(json));
}
