using System.Net;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Tests.Profiling;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;

namespace Aperture.Runtime.Tests.Ui;

/// <summary>
/// The web UI in Debian's Chromium (Playwright with its executable path: no downloaded browser) against a real runtime
/// with real data. Each page's screenshot is kept under .artifacts/ui-screenshots.
/// </summary>
public sealed class WebUiTests
{
    private const string Token = "ui-admin-token";
    private const string Chromium = "/usr/bin/chromium";

    private static CancellationToken Cancel => TestContext.Current.CancellationToken;

    private static string Screenshots
    {
        get
        {
            var folder = Path.Combine(RepositoryRoot(), ".artifacts", "ui-screenshots");
            Directory.CreateDirectory(folder);
            return folder;
        }
    }

    [Fact]
    public async Task The_flame_graph_of_a_known_profile_shows_its_hot_function_with_its_share_zooms_and_searches()
    {
        await using var site = await RuntimeEnvironment.StartAsync(RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={Token}");
        var now = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() * 1_000_000;
        var batch = Pushes.Batch("ui-node", 1, Pushes.Cpu(now, 70, "main", "hot"), Pushes.Cpu(now + 1, 30, "main", "cold"));
        using (var push = new HttpRequestMessage(HttpMethod.Post, "/api/push") { Content = new ByteArrayContent(Google.Protobuf.MessageExtensions.ToByteArray(batch)) })
        {
            push.Content.Headers.ContentType = new("application/x-protobuf");
            push.Headers.Authorization = new("Bearer", Token);
            using var pushed = await site.Http.SendAsync(push, Cancel);
            Assert.Equal(HttpStatusCode.OK, pushed.StatusCode);
        }

        // The page asks storage and buffer alike; once storage holds the batch, either answer is the whole of it.
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, stored, _) = await Access.IdentityApiTests.SendAsync(site.Http, HttpMethod.Post, "/api/aggregate", Token, new { agent_id = "ui-node", source = "storage" });
            return stored.ValueKind == System.Text.Json.JsonValueKind.Object && stored.GetProperty("total_events").GetUInt64() == 100;
        }, TimeSpan.FromSeconds(30), "the profile in storage");

        await using var browser = await BrowserAsync();
        var (page, errors) = await PageAsync(browser);
        await page.GotoAsync($"http://127.0.0.1:{site.HttpPort}/");
        await SignInAsync(page, Token);

        // The first view of a site is the flame graph; its table of functions gives the known shares.
        // The shell moves within the page (history API), not by a navigation: the URL is polled, not awaited as a load.
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/ui/flame$"));
        var hot = page.Locator("#functions tbody tr", new() { HasText = "hot" });
        await Assertions.Expect(hot.Locator("td").Nth(1)).ToHaveTextAsync("70.0 %");
        await Assertions.Expect(page.Locator("#functions tbody tr", new() { HasText = "cold" }).Locator("td").Nth(1)).ToHaveTextAsync("30.0 %");
        await Assertions.Expect(page.Locator("p[role=status]").First).ToContainTextAsync("100 samples");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "flame.png"), FullPage = true });

        // Search highlights and says the share of what matches.
        await page.FillAsync("#search", "hot");
        await Assertions.Expect(page.Locator("#search-share")).ToHaveTextAsync("70.0 % of the profile matches");

        // A click on hot's frame (icicle rows of 18 px: all, main, then cold and hot side by side, by name) zooms to it
        // and the path to it stays: all › main › hot.
        var box = (await page.Locator("#flame").BoundingBoxAsync())!;
        await page.Mouse.ClickAsync(box.X + (box.Width * 0.65f), box.Y + (2.5f * 18));
        await Assertions.Expect(page.Locator(".crumbs button")).ToHaveTextAsync(["all", "main", "hot"]);
        await page.ClickAsync(".crumbs button >> text=all");
        await Assertions.Expect(page.Locator(".crumbs button")).ToHaveTextAsync(["all"]);

        // The view has a URL of its own: a reload keeps it.
        await page.GotoAsync($"http://127.0.0.1:{site.HttpPort}/ui/flame?type=lock&minutes=15");
        await Assertions.Expect(page.Locator("p[role=status]").First).ToContainTextAsync("No lock events in the last 15 minutes");
        Assert.Empty(errors);
    }

    [Fact]
    public async Task A_refused_credential_is_said_in_words_and_the_central_offers_its_own_views()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        await using var browser = await BrowserAsync();
        var (page, errors) = await PageAsync(browser);
        await page.GotoAsync($"http://127.0.0.1:{central.HttpPort}/ui/status");
        await SignInAsync(page, "not-the-token");
        await Assertions.Expect(page.Locator("form.sign-in .error")).ToContainTextAsync("Not signed in, or the credential was refused.");

        await SignInAsync(page, Token);
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/ui/status$"));
        await Assertions.Expect(page.Locator("nav#nav a")).ToHaveTextAsync(["Jobs", "Anomalies", "Tenants and keys", "Status"]);
        await Assertions.Expect(page.Locator("main dl")).ToContainTextAsync("clickhouse");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "central-status.png"), FullPage = true });

        // The assets are named by their content and cached for a year; the shell is never cached.
        using var shell = await central.Http.GetAsync("/ui/anomalies", Cancel);
        Assert.Equal("no-cache", shell.Headers.CacheControl?.ToString());
        var html = await shell.Content.ReadAsStringAsync(Cancel);
        var script = System.Text.RegularExpressions.Regex.Match(html, "/assets/main-[A-Z0-9]+\\.js").Value;
        using var asset = await central.Http.GetAsync(script, Cancel);
        Assert.Equal(HttpStatusCode.OK, asset.StatusCode);
        Assert.Equal("public, max-age=31536000, immutable", asset.Headers.CacheControl?.ToString());
        using var missing = await central.Http.GetAsync("/assets/../index.html", Cancel);
        Assert.NotEqual(HttpStatusCode.OK, missing.StatusCode);
        // The one console error is the browser's own line for the refused sign-in's 401.
        Assert.Contains("/api/v1/rbac/permissions", Assert.Single(errors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_admin_makes_a_key_seen_once_and_revokes_it_and_a_viewer_is_not_offered_keys_at_all()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        await using var browser = await BrowserAsync();
        var (page, errors) = await PageAsync(browser);
        page.Dialog += async (_, dialog) => await dialog.AcceptAsync();
        await page.GotoAsync($"http://127.0.0.1:{central.HttpPort}/ui/tenants");
        await SignInAsync(page, Token);

        // The super-admin registers a tenant, then makes a key in its own: shown once, listed by its prefix only.
        await page.FillAsync("#tenant-id", "team-ui");
        await page.FillAsync("#tenant-name", "Team UI");
        await page.ClickAsync("text=Create tenant");
        await Assertions.Expect(page.Locator("#tenants")).ToContainTextAsync("team-ui");
        await page.FillAsync("#key-name", "ci-ingest");
        await page.ClickAsync("text=Create key");
        var key = await page.Locator("#new-key").TextContentAsync();
        Assert.False(string.IsNullOrEmpty(key));
        var row = page.Locator("#keys tbody tr", new() { HasText = "ci-ingest" });
        await Assertions.Expect(row.Locator("td").Nth(4)).ToHaveTextAsync("active");
        Assert.DoesNotContain(key!, await page.Locator("#keys").InnerTextAsync(), StringComparison.Ordinal);
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "central-keys.png"), FullPage = true });
        await page.ClickAsync("text=Revoke ci-ingest");
        await Assertions.Expect(row.Locator("td").Nth(4)).ToHaveTextAsync("revoked");
        var (status, _, _) = await Access.IdentityApiTests.SendAsync(central.Http, HttpMethod.Get, "/api/v1/rbac/permissions", apiKey: key);
        Assert.Equal(HttpStatusCode.Unauthorized, status);

        // A viewer of the tenant is not offered the view, and its URL says why instead of offering a revoke.
        var viewer = central.App.Services.GetRequiredService<Aperture.Runtime.Access.Tokens.RuntimeTokenIssuer>()
            .Issue("default", "viewer@example.com", Aperture.Runtime.Access.Role.Viewer, TimeSpan.FromMinutes(10));
        await page.ClickAsync("text=Sign out");
        await SignInAsync(page, viewer);
        await Assertions.Expect(page.Locator("nav#nav a")).ToHaveTextAsync(["Jobs", "Anomalies", "Status"]);
        await page.GotoAsync($"http://127.0.0.1:{central.HttpPort}/ui/tenants");
        await Assertions.Expect(page.Locator("main [role=alert]")).ToContainTextAsync("needs the manage_keys permission");
        Assert.Equal(0, await page.Locator("button", new() { HasText = "Revoke" }).CountAsync());
        Assert.True(errors.Count == 0, string.Join(" | ", errors));
    }

    [Fact]
    public async Task The_anomalies_list_links_to_an_anomaly_with_its_ranked_causes_and_their_evidence()
    {
        await using var central = await RuntimeEnvironment.StartAsync(RuntimeOptions.CentralRole, $"--Aperture:AuthToken={Token}");
        // Three hours of a noisy level, then a step up five minutes ago: an anomaly whose RCA names the service itself.
        var onset = (TimeProvider.System.GetUtcNow().ToUnixTimeSeconds() / 60) - 5;
        var random = new Random(3);
        var points = Enumerable.Range(-180, 184).Select(m => new double[] { (onset + m) * 60, (m < 0 ? 50 : 97) + random.NextDouble() - 0.5 }).ToList();
        var (imported, _, _) = await Access.IdentityApiTests.SendAsync(central.Http, HttpMethod.Post, "/api/v1/metrics/import", Token,
            new { series = new[] { new { service_id = "payment-api", metric_name = "cpu_usage_percent", points } } });
        Assert.Equal(HttpStatusCode.OK, imported);
        await RuntimeEnvironment.WaitUntilAsync(async () =>
        {
            var (_, page, _) = await Access.IdentityApiTests.SendAsync(central.Http, HttpMethod.Get, "/api/v1/anomalies", Token);
            return page.GetProperty("anomalies").EnumerateArray().Any(a => a.TryGetProperty("causes", out var c) && c.ValueKind == System.Text.Json.JsonValueKind.Array && c.GetArrayLength() > 0);
        }, TimeSpan.FromSeconds(60), "the anomaly's RCA");

        await using var browser = await BrowserAsync();
        var (page, errors) = await PageAsync(browser);
        await page.GotoAsync($"http://127.0.0.1:{central.HttpPort}/ui/anomalies");
        await SignInAsync(page, Token);
        var row = page.Locator("#anomalies tbody tr", new() { HasText = "payment-api" });
        await Assertions.Expect(row.Locator("td").Nth(2)).ToHaveTextAsync("cpu_usage_percent");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "central-anomalies.png"), FullPage = true });
        await row.Locator("a").ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/ui/anomalies\\?id=anom-"));
        await Assertions.Expect(page.Locator("#causes > li").First).ToContainTextAsync("payment-api");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "central-anomaly.png"), FullPage = true });
        await page.GoBackAsync();
        await Assertions.Expect(page.Locator("#anomalies")).ToBeVisibleAsync();
        Assert.True(errors.Count == 0, string.Join(" | ", errors));
    }

    [Fact]
    public async Task The_servers_view_lists_each_server_with_its_latest_figures_and_its_bottleneck_with_the_reason()
    {
        await using var site = await RuntimeEnvironment.StartAsync(RuntimeOptions.AggregatorRole, $"--Aperture:AuthToken={Token}");
        var (_, ingestToken) = await Servers.ServerSamples.PutServerAsync(site.Http, "train01", new { name = "Train 01" }, Token);
        var sample = Servers.ServerSamples.Sample(TimeProvider.System.GetUtcNow().AddSeconds(-5), cpu: 97, gpu: 40);
        await Servers.ServerSamples.IngestOkAsync(site.Http, "train01", ingestToken!, sample);

        await using var browser = await BrowserAsync();
        var (page, errors) = await PageAsync(browser);
        await page.GotoAsync($"http://127.0.0.1:{site.HttpPort}/ui/servers");
        await SignInAsync(page, Token);
        var row = page.Locator("#servers tbody tr", new() { HasText = "train01" });
        await Assertions.Expect(row.Locator("td").Nth(1)).ToHaveTextAsync("97.0 %");
        await Assertions.Expect(row.Locator("td").Nth(5)).ToHaveTextAsync("cpu-bound");
        await Assertions.Expect(row.Locator("td").Nth(6)).ToContainTextAsync("CPU");
        await page.ScreenshotAsync(new() { Path = Path.Combine(Screenshots, "servers.png"), FullPage = true });
        Assert.True(errors.Count == 0, string.Join(" | ", errors));
    }

    private static async Task SignInAsync(IPage page, string token)
    {
        await page.FillAsync("#secret", token);
        await page.ClickAsync("form.sign-in button[type=submit]");
    }

    private sealed class Browser(IPlaywright playwright, IBrowser browser) : IAsyncDisposable
    {
        public IBrowser Instance => browser;

        public async ValueTask DisposeAsync()
        {
            await browser.CloseAsync();
            playwright.Dispose();
        }
    }

    private static async Task<Browser> BrowserAsync()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/deps.sh installs Debian's chromium");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ["--no-sandbox"] });
        return new Browser(playwright, browser);
    }

    /// <summary>A page whose console errors and uncaught exceptions are collected.</summary>
    private static async Task<(IPage Page, List<string> Errors)> PageAsync(Browser browser)
    {
        var page = await browser.Instance.NewPageAsync();
        var errors = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Type == "error")
            {
                lock (errors)
                {
                    errors.Add($"{message.Text} ({message.Location})");
                }
            }
        };
        page.PageError += (_, error) =>
        {
            lock (errors)
            {
                errors.Add(error);
            }
        };
        return (page, errors);
    }

    private static string RepositoryRoot()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "Operator.sln")))
            {
                return folder.FullName;
            }
        }

        return AppContext.BaseDirectory;
    }
}
