using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using static Aperture.Runtime.Tests.Servers.ServerSamples;

namespace Aperture.Runtime.Tests.Servers;

/// <summary>Who may read the dashboard APIs: OpenID Connect logins (allowlisted or not), API keys, the admin token.</summary>
public sealed class DashboardAuthTests
{
    private const string AdminToken = "admin-token-for-the-dashboard-tests";

    private static HttpClient Client(RuntimeEnvironment runtime, bool followRedirects = true) =>
        new(new HttpClientHandler { AllowAutoRedirect = followRedirects, CookieContainer = new CookieContainer(), UseCookies = true })
        {
            BaseAddress = runtime.Http.BaseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };

    private static async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? bearer = null, string? apiKey = null, object? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (bearer is not null)
        {
            request.Headers.Authorization = new("Bearer", bearer);
        }

        if (apiKey is not null)
        {
            request.Headers.Add("X-Api-Key", apiKey);
        }

        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        using var response = await http.SendAsync(request, Cancel);
        return (response.StatusCode, await JsonAsync(response));
    }

    /// <summary>The whole login: runtime → provider's authorize → runtime's callback → the return URL.</summary>
    private static async Task<(HttpClient Browser, HttpResponseMessage Landing)> LoginAsync(RuntimeEnvironment runtime, TestOidcProvider provider, string email)
    {
        provider.NextEmail = email;
        var browser = Client(runtime);
        var landing = await browser.GetAsync("/auth/login?return_url=/api/servers/", Cancel);
        Assert.Equal("/api/servers/", landing.RequestMessage!.RequestUri!.AbsolutePath);
        return (browser, landing);
    }

    [Fact]
    public async Task Logins_api_keys_and_the_admin_token_open_the_dashboard_as_configured()
    {
        await using var provider = await TestOidcProvider.StartAsync();
        await using var runtime = await RuntimeEnvironment.StartAsync(
            Hosting.RuntimeOptions.AggregatorRole,
            $"--Aperture:AuthToken={AdminToken}",
            $"--Aperture:Dashboard:Oidc:Authority={provider.Authority}",
            $"--Aperture:Dashboard:Oidc:ClientId={TestOidcProvider.ClientId}",
            $"--Aperture:Dashboard:Oidc:ClientSecret={TestOidcProvider.ClientSecret}",
            "--Aperture:Dashboard:Oidc:RequireHttpsMetadata=false",
            "--Aperture:Dashboard:AllowedEmails:0=alice@example.com",
            "--Aperture:Dashboard:AllowedDomains:0=trusted.org");
        using var anonymous = Client(runtime, followRedirects: false);
        var (_, token) = await PutServerAsync(runtime.Http, "auth-box", new { name = "Auth Box" }, AdminToken);

        // Not logged in: 401 in the error format, never a redirect to a login page.
        using (var response = await anonymous.GetAsync("/api/servers/", Cancel))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Null(response.Headers.Location);
            Assert.Equal("unauthorized", (await JsonAsync(response)).GetProperty("error").GetString());
        }

        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/metrics/history/")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", bearer: "not-a-key")).Status);

        // The admin token opens the dashboard; the admin routes take nothing else.
        var (adminStatus, adminList) = await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", bearer: AdminToken);
        Assert.Equal(HttpStatusCode.OK, adminStatus);
        Assert.Equal("auth-box", adminList.GetProperty("servers")[0].GetProperty("slug").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/admin/servers/auth-box")).Status);

        // Ingest takes the server's token alone, not the admin token or a login.
        using (var ingest = await IngestAsync(anonymous, "auth-box", token, Wrapped(Sample(TimeProvider.System.GetUtcNow())).ToJsonString()))
        {
            Assert.Equal(HttpStatusCode.OK, ingest.StatusCode);
        }

        using (var adminIngest = await IngestAsync(anonymous, "auth-box", AdminToken, Wrapped(Sample(TimeProvider.System.GetUtcNow())).ToJsonString(), bearer: true))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, adminIngest.StatusCode);
        }

        // An allowlisted email, and an email of an allowlisted domain, log in and read.
        var (alice, aliceLanding) = await LoginAsync(runtime, provider, "alice@example.com");
        using (alice)
        using (aliceLanding)
        {
            Assert.Equal(HttpStatusCode.OK, aliceLanding.StatusCode);
            Assert.Equal("auth-box", (await JsonAsync(aliceLanding)).GetProperty("servers")[0].GetProperty("slug").GetString());
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(alice, HttpMethod.Get, "/api/metrics/latest/?server=auth-box")).Status);
            var (_, me) = await SendAsync(alice, HttpMethod.Get, "/auth/me");
            Assert.Equal("alice@example.com", me.GetProperty("email").GetString());

            // A login reads as a viewer: the admin routes need more (403), and a logout ends the session.
            Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(alice, HttpMethod.Get, "/api/admin/servers/auth-box")).Status);
            Assert.Equal(HttpStatusCode.OK, (await SendAsync(alice, HttpMethod.Post, "/auth/logout")).Status);
            Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(alice, HttpMethod.Get, "/api/servers/")).Status);
        }

        var (bob, bobLanding) = await LoginAsync(runtime, provider, "bob@Trusted.org");
        using (bob)
        using (bobLanding)
        {
            Assert.Equal(HttpStatusCode.OK, bobLanding.StatusCode);
        }

        // Someone else logs in fine but is not allowed: 403 in the error format.
        var (eve, eveLanding) = await LoginAsync(runtime, provider, "eve@example.net");
        using (eve)
        using (eveLanding)
        {
            Assert.Equal(HttpStatusCode.Forbidden, eveLanding.StatusCode);
            Assert.Equal("forbidden", (await JsonAsync(eveLanding)).GetProperty("error").GetString());
            Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(eve, HttpMethod.Get, "/api/metrics/history/")).Status);
        }

        Assert.Equal(3, provider.TokensIssued);

        // API keys: made by an admin (route or command line), sent either way, dead once revoked.
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Post, "/api/admin/api-keys", body: new { name = "grafana" })).Status);
        var (created, key) = await SendAsync(anonymous, HttpMethod.Post, "/api/admin/api-keys", bearer: AdminToken, body: new { name = "grafana" });
        Assert.Equal(HttpStatusCode.Created, created);
        var plaintext = key.GetProperty("key").GetString()!;
        var keyId = key.GetProperty("api_key").GetProperty("id").GetInt64();
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", bearer: plaintext)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/metrics/latest/", apiKey: plaintext)).Status);
        var (_, listed) = await SendAsync(anonymous, HttpMethod.Get, "/api/admin/api-keys", bearer: AdminToken);
        Assert.DoesNotContain(plaintext, listed.ToString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Delete, $"/api/admin/api-keys/{keyId}", bearer: AdminToken)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", bearer: plaintext)).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", apiKey: plaintext)).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(anonymous, HttpMethod.Delete, $"/api/admin/api-keys/{keyId}", bearer: AdminToken)).Status);

        var cliKey = ServerIngestApiTests.TokenIn(await ServerIngestApiTests.RunCommandAsync("create-api-key", "cron-report", "--redis", runtime.Redis.ConnectionString));
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", apiKey: cliKey)).Status);
    }

    [Fact]
    public async Task With_nothing_configured_the_runtime_is_open_until_an_api_key_exists()
    {
        await using var runtime = await RuntimeEnvironment.StartAsync();
        using var anonymous = Client(runtime, followRedirects: false);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/")).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await SendAsync(anonymous, HttpMethod.Get, "/auth/login")).Status);

        var (_, key) = await SendAsync(anonymous, HttpMethod.Post, "/api/admin/api-keys", body: new { name = "first" });
        var plaintext = key.GetProperty("key").GetString()!;
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/")).Status);
        Assert.Equal(HttpStatusCode.Unauthorized, (await SendAsync(anonymous, HttpMethod.Get, "/api/admin/servers/x")).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", bearer: plaintext)).Status);

        // A dashboard key reads; managing keys is more than it may do.
        var id = key.GetProperty("api_key").GetProperty("id").GetInt64();
        Assert.Equal(HttpStatusCode.Forbidden, (await SendAsync(anonymous, HttpMethod.Delete, $"/api/admin/api-keys/{id}", bearer: plaintext)).Status);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(anonymous, HttpMethod.Get, "/api/servers/", apiKey: plaintext)).Status);
    }
}
