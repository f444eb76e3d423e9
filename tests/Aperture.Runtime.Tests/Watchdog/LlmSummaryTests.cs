using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Aperture.Runtime.Hosting;
using Aperture.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using static Aperture.Runtime.Tests.Access.IdentityApiTests;

namespace Aperture.Runtime.Tests.Watchdog;

/// <summary>
/// The RCA summary through an OpenAI-compatible chat endpoint. No real model is reachable from here, so the endpoint
/// is a listener in the test answering the chat-completions wire format; what is tested is the runtime's side: the
/// request it sends (key, model, prompt), the summary stored on the anomaly, and the state the status shows.
/// </summary>
public sealed class LlmSummaryTests
{
    private const string Token = "central-admin-token";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_anomalys_rca_is_summarised_when_an_endpoint_answers_and_stands_without_one_when_it_fails(bool answers)
    {
        var requests = new ConcurrentQueue<(string Path, string? Authorization, JsonElement Body)>();
        var port = FreePort.Next();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        await using var llm = builder.Build();
        llm.Urls.Add($"http://127.0.0.1:{port}");
        llm.Run(async context =>
        {
            var body = await JsonDocument.ParseAsync(context.Request.Body);
            requests.Enqueue((context.Request.Path, context.Request.Headers.Authorization.ToString(), body.RootElement.Clone()));
            if (!answers)
            {
                context.Response.StatusCode = StatusCodes.Status500InternalServerError;
                return;
            }

            await context.Response.WriteAsJsonAsync(new
            {
                id = "chatcmpl-1",
                @object = "chat.completion",
                created = 1_767_225_600,
                model = "test-model",
                choices = new[] { new { index = 0, finish_reason = "stop", message = new { role = "assistant", content = "The database pool leaked; restart payment-api." } } },
                usage = new { prompt_tokens = 10, completion_tokens = 8, total_tokens = 18 },
            });
        });
        await llm.StartAsync(Cancel);

        using var folder = new TemporaryDirectory("aperture-llm-key");
        var keyFile = Path.Combine(folder.Path, "key");
        await File.WriteAllTextAsync(keyFile, "sk-test-key\n", Cancel);
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}",
            $"--Aperture:Watchdog:Llm:Endpoint=http://127.0.0.1:{port}/v1", "--Aperture:Watchdog:Llm:Model=test-model", $"--Aperture:Watchdog:Llm:ApiKeyFile={keyFile}");
        var (_, before, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-a");
        Assert.Equal("configured", before.GetProperty("components").GetProperty("llm").GetString());

        using var webhook = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{central.WebhookPort}/") };
        const string Alert = """
            {"version":"4","groupKey":"g","truncatedAlerts":0,"status":"firing","receiver":"aperture","groupLabels":{},"commonLabels":{},"commonAnnotations":{},
             "externalURL":"http://am","alerts":[{"status":"firing","labels":{"alertname":"HighLatency","service_id":"payment-api","tenant":"team-a"},
               "annotations":{"summary":"p99 above 2 s"},"startsAt":"2026-04-11T09:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://p","fingerprint":"1234abcd"}]}
            """;
        using (var content = new StringContent(Alert, System.Text.Encoding.UTF8, "application/json"))
        using (var response = await webhook.PostAsync("/api/v1/alerts/webhook", content, Cancel))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        JsonElement anomaly = default;
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token, tenant: "team-a");
            anomaly = page.GetProperty("anomalies")[0];
            return anomaly.TryGetProperty("causes", out _);
        }, TimeSpan.FromSeconds(60), "the anomaly's RCA");

        // A failing endpoint may be asked again by the client's own retries; the first request is what the runtime built.
        Assert.True(requests.TryPeek(out var first));
        var (path, authorization, body) = first;
        Assert.Equal("/v1/chat/completions", path);
        Assert.Equal("Bearer sk-test-key", authorization);
        Assert.Equal("test-model", body.GetProperty("model").GetString());
        Assert.Contains("payment-api", body.GetProperty("messages").ToString(), StringComparison.Ordinal);
        var (_, after, _) = await SendAsync(central.Http, HttpMethod.Get, "/api/v1/status", Token, tenant: "team-a");
        if (answers)
        {
            Assert.Equal("The database pool leaked; restart payment-api.", anomaly.GetProperty("summary").GetString());
            Assert.Equal("connected", after.GetProperty("components").GetProperty("llm").GetString());
        }
        else
        {
            Assert.False(anomaly.TryGetProperty("summary", out _));
            Assert.Equal("error", after.GetProperty("components").GetProperty("llm").GetString());
            // The key never reaches the log, even when the call failed.
            Assert.DoesNotContain(central.Logs.Lines, line => line.Contains("sk-test-key", StringComparison.Ordinal));
        }
    }
}
