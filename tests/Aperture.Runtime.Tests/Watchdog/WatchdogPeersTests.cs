using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>The real Prometheus and the real Alertmanager (Debian's) against the central runtime's receivers.</summary>
public sealed class WatchdogPeersTests
{
    private const string Token = "central-admin-token";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Prometheus_remote_writes_its_own_metrics_into_the_tenant_of_its_key()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(central.Http, HttpMethod.Post, "/api/v1/tenants", Token, new { tenant_id = "team-a", name = "Team A" })).Status);
        var key = await CreateKeyAsync(central.Http, "team-a", "ingestion");
        await using var prometheus = await PrometheusProcess.StartAsync($"http://127.0.0.1:{central.HttpPort}/api/v1/write", key, TimeSpan.FromSeconds(1));

        // Prometheus scrapes itself (job "prometheus"): the service comes from the job label.
        JsonElement series = default;
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            (_, var listed, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/metrics/series?service_id=prometheus", Token, tenant: "team-a");
            series = listed.GetProperty("series");
            return series.EnumerateArray().Any(s => s.GetProperty("metric_name").GetString() == "up");
        }, TimeSpan.FromSeconds(60), $"Prometheus' series at the receiver\n{prometheus.Output}");

        var up = series.EnumerateArray().First(s => s.GetProperty("metric_name").GetString() == "up");
        // The service label is not repeated among the series' labels; the others are kept.
        Assert.False(up.GetProperty("labels").TryGetProperty("job", out _));
        Assert.True(up.GetProperty("labels").TryGetProperty("instance", out _));
        var (_, status, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-a");
        Assert.True(status.GetProperty("watchdog").GetProperty("metrics_monitored").GetInt32() > 10);
        var (_, elsewhere, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/metrics/series", Token, tenant: "team-b");
        Assert.Equal(0, elsewhere.GetProperty("series").GetArrayLength());
    }

    [Fact]
    public async Task Alertmanagers_repeats_give_one_anomaly_and_its_resolve_closes_it()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        await using var alertmanager = await AlertmanagerProcess.StartAsync(
            $"http://127.0.0.1:{central.WebhookPort}/api/v1/alerts/webhook", TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2));
        var labels = new Dictionary<string, string> { ["alertname"] = "HighCPU", ["service_id"] = "payment-api", ["severity"] = "critical", ["tenant"] = "team-a" };
        var annotations = new Dictionary<string, string> { ["summary"] = "CPU usage above 85% for 5 minutes" };
        var startsAt = TimeProvider.System.GetUtcNow().AddMinutes(-5);
        await alertmanager.PostAlertAsync(labels, annotations, startsAt);

        // The first notification and at least two repeats.
        await RuntimeEnvironment.WaitUntilAsync(async () => await alertmanager.NotificationsSentAsync() >= 3, TimeSpan.FromSeconds(60), $"Alertmanager's repeats\n{alertmanager.Output}");
        var (_, listed, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?source=alertmanager", Token, tenant: "team-a");
        Assert.Equal(1, listed.GetProperty("total").GetInt64());
        var anomaly = listed.GetProperty("anomalies")[0];
        Assert.Equal("payment-api", anomaly.GetProperty("service_id").GetString());
        Assert.Equal("HighCPU", anomaly.GetProperty("metric_name").GetString());
        Assert.Equal(0.95, anomaly.GetProperty("anomaly_score").GetDouble());
        Assert.True(anomaly.GetProperty("rca_triggered").GetBoolean());
        Assert.False(anomaly.GetProperty("resolved").GetBoolean());
        Assert.Equal(startsAt.ToUnixTimeSeconds(), anomaly.GetProperty("detected_at").GetDateTimeOffset().ToUnixTimeSeconds());
        Assert.False(string.IsNullOrEmpty(anomaly.GetProperty("alert").GetProperty("fingerprint").GetString()));

        await alertmanager.PostAlertAsync(labels, annotations, startsAt, TimeProvider.System.GetUtcNow().AddSeconds(-1));
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies?source=alertmanager", Token, tenant: "team-a");
            return page.GetProperty("anomalies")[0].GetProperty("resolved").GetBoolean();
        }, TimeSpan.FromSeconds(60), $"the resolve\n{alertmanager.Output}");
        var (_, after, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-a");
        Assert.Equal(1, after.GetProperty("total").GetInt64());
        var (_, elsewhere, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-b");
        Assert.Equal(0, elsewhere.GetProperty("total").GetInt64());
    }

    [Fact]
    public async Task The_webhook_answers_at_once_is_idempotent_and_refuses_a_malformed_body()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        using var webhook = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.WebhookPort}/") };
        const string Body = """
            {"version":"4","groupKey":"{}:{alertname=\"HighCPU\"}","truncatedAlerts":0,"status":"firing","receiver":"aperture",
             "groupLabels":{"alertname":"HighCPU"},"commonLabels":{"service_id":"payment-api"},"commonAnnotations":{},"externalURL":"http://am",
             "alerts":[{"status":"firing","labels":{"alertname":"HighCPU","service_id":"payment-api","severity":"warning"},
               "annotations":{"summary":"CPU usage above 85% for 5 minutes"},"startsAt":"2026-04-10T12:00:00Z","endsAt":"0001-01-01T00:00:00Z",
               "generatorURL":"http://prometheus","fingerprint":"f00dfeed"}]}
            """;
        var answers = new List<JsonElement>();
        for (var i = 0; i < 2; i++)
        {
            using var content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json");
            using var response = await webhook.PostAsync("/api/v1/alerts/webhook/team-c", content, Cancel);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            answers.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement.Clone());
        }

        Assert.All(answers, a => Assert.Equal("ok", a.GetProperty("status").GetString()));
        Assert.All(answers, a => Assert.True(a.GetProperty("rca_triggered").GetBoolean()));
        Assert.Equal(answers[0].GetProperty("anomaly_id").GetString(), answers[1].GetProperty("anomaly_id").GetString());
        // The tenant from the receiver's path.
        var (_, listed, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-c");
        Assert.Equal(1, listed.GetProperty("total").GetInt64());
        Assert.Equal(0.7, listed.GetProperty("anomalies")[0].GetProperty("anomaly_score").GetDouble());

        foreach (var bad in new[] { "not json", "{}", """{"version":"4","alerts":[{"status":"burning"}]}""" })
        {
            using var content = new StringContent(bad, System.Text.Encoding.UTF8, "application/json");
            using var response = await webhook.PostAsync("/api/v1/alerts/webhook", content, Cancel);
            Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        }

        // Only on its own port; the main port has no such route, and the webhook port nothing else.
        using (var content = new StringContent(Body, System.Text.Encoding.UTF8, "application/json"))
        using (var mainPort = await central.Http.PostAsync("/api/v1/alerts/webhook", content, Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, mainPort.StatusCode);
        }

        using var onWebhookPort = await webhook.GetAsync("/api/v1/tenants", Cancel);
        Assert.Equal(HttpStatusCode.NotFound, onWebhookPort.StatusCode);
    }

    [Fact]
    public async Task A_resolution_is_remembered_and_a_reworded_incident_on_the_service_lists_it_first()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        foreach (var (id, text, tags) in new[]
        {
            ("anom-1", "Scaled payment-api from 3 to 5 pods. Root cause was a memory leak in the DB connection pool introduced in v2.3.1. Fixed by upgrading to v2.3.2.", new[] { "memory-leak", "db-pool" }),
            ("anom-2", "The TLS certificate of the payment gateway expired; renewed it and added an expiry alert.", new[] { "tls" }),
        })
        {
            var (stored, answer, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/resolutions/webhook", Token, new
            {
                incident_id = id,
                service_id = "payment-api",
                resolution = text,
                resolved_by = "alice@example.com",
                time_to_recovery_minutes = 18,
                tags,
            }, "team-a");
            Assert.Equal(HttpStatusCode.OK, stored);
            Assert.True(answer.GetProperty("stored").GetBoolean());
            Assert.StartsWith("kb-", answer.GetProperty("knowledge_base_id").GetString(), StringComparison.Ordinal);
        }

        // A new incident on the service, its cause in other words: the alert's summary is what it is compared by.
        using var webhook = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.WebhookPort}/") };
        const string Alert = """
            {"version":"4","groupKey":"g","truncatedAlerts":0,"status":"firing","receiver":"aperture","groupLabels":{},"commonLabels":{},"commonAnnotations":{},
             "externalURL":"http://am","alerts":[{"status":"firing","labels":{"alertname":"PodsOOMKilled","service_id":"payment-api","tenant":"team-a"},
               "annotations":{"summary":"payment-api pods OOM-killed, connections to the database piling up and never released"},
               "startsAt":"2026-04-11T09:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus","fingerprint":"0ddba11"}]}
            """;
        using (var content = new StringContent(Alert, System.Text.Encoding.UTF8, "application/json"))
        using (var response = await webhook.PostAsync("/api/v1/alerts/webhook", content, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        JsonElement similar = default;
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-a");
            var anomaly = page.GetProperty("anomalies")[0];
            return anomaly.TryGetProperty("similar_incidents", out similar) && similar.ValueKind == JsonValueKind.Array;
        }, TimeSpan.FromSeconds(60), "the anomaly's RCA and similar incidents");

        var first = similar[0];
        Assert.Equal("anom-1", first.GetProperty("incident_id").GetString());
        Assert.True(first.GetProperty("score").GetDouble() >= 0.55);
        Assert.DoesNotContain(similar.EnumerateArray(), s => s.GetProperty("incident_id").GetString() == "anom-2");

        var (badStatus, _, _) = await SendAsync(central.Http, HttpMethod.Post, "/api/v1/resolutions/webhook", Token, new { resolution = "no service" }, "team-a");
        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
    }
}
