using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;

namespace Aperture.Runtime.Tests.Access;

/// <summary>The watchdog's routes are not built yet: they answer 501 in the error format, behind the access they will need.</summary>
public sealed class WatchdogRoutesTests
{
    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_alertmanager_webhook_is_on_its_own_port_and_every_watchdog_route_says_not_implemented()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, "--Aperture:AuthToken=watchdog-token");
        using var webhook = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.WebhookPort}/") };

        using (var content = new StringContent("{\"alerts\":[]}", System.Text.Encoding.UTF8, "application/json"))
        using (var response = await webhook.PostAsync("/api/v1/alerts/webhook", content, Cancel))
        {
            // No credential: Alertmanager sends none (the port is restricted at the network).
            Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
            var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Cancel)).RootElement;
            Assert.Equal("not_implemented", error.GetProperty("error").GetString());
        }

        using (var content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"))
        using (var mainPort = await central.Http.PostAsync("/api/v1/alerts/webhook", content, Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, mainPort.StatusCode);
        }

        using (var onWebhookPort = await webhook.GetAsync("/api/v1/tenants", Cancel))
        {
            Assert.Equal(HttpStatusCode.NotFound, onWebhookPort.StatusCode);
        }

        foreach (var path in new[] { "/api/v1/status", "/api/v1/anomalies", "/api/v1/rca/correlations?service_id=x" })
        {
            using var anonymous = await central.Http.GetAsync(path, Cancel);
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
            using var request = new HttpRequestMessage(HttpMethod.Get, path);
            request.Headers.Authorization = new("Bearer", "watchdog-token");
            using var response = await central.Http.SendAsync(request, Cancel);
            Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
        }
    }
}
