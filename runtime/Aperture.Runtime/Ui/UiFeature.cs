using System.Text.RegularExpressions;
using Aperture.Contracts;
using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Ui;

/// <summary>Where the built web UI is (configuration section <c>Aperture:Ui</c>).</summary>
public sealed class UiOptions
{
    public const string Section = "Aperture:Ui";

    /// <summary>The folder scripts/build-ui.sh wrote (index.html and assets/); unset: <c>ui</c> beside the runtime.</summary>
    public string? Root { get; set; }

    public string ResolvedRoot => Root ?? Path.Combine(AppContext.BaseDirectory, "ui");
}

/// <summary>
/// The web UI on each role's HTTP port: the page shell at <c>/</c> and at every view's URL under <c>/ui/</c> (so a
/// shared link and the back button work), and its content-hashed assets, cached for a year. The shell and assets hold
/// no data: they are public, and every datum the page shows comes from the APIs with the user's own credential.
/// </summary>
public static partial class UiFeature
{
    private const string Immutable = "public, max-age=31536000, immutable";

    public static void AddUi(this WebApplicationBuilder builder) => builder.AddValidatedOptions<UiOptions>(UiOptions.Section);

    public static void MapUi(this WebApplication app)
    {
        var role = app.Services.GetRequiredService<IOptions<RuntimeOptions>>().Value.IsAggregator ? "aggregator" : "central";
        app.MapGet("/", (IOptions<UiOptions> options, HttpContext context) => ShellAsync(options.Value, role, context))
            .Public("the web UI's page shell (no data)");
        app.MapGet("/ui/{**view}", (IOptions<UiOptions> options, HttpContext context) => ShellAsync(options.Value, role, context))
            .Public("the web UI's page shell at a view's URL (no data)");
        app.MapGet("/assets/{file}", (string file, IOptions<UiOptions> options) =>
        {
            var path = Path.Combine(options.Value.ResolvedRoot, "assets", file);
            if (!AssetName().IsMatch(file) || !File.Exists(path))
            {
                return Results.Json(new ErrorResponse(ErrorCodes.NotFound, $"No UI asset '{file}'"), statusCode: StatusCodes.Status404NotFound);
            }

            var type = Path.GetExtension(file) switch
            {
                ".js" => "text/javascript; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            return Results.File(path, type);
        }).Public("the web UI's content-hashed assets (no data)").AddEndpointFilter(async (context, next) =>
        {
            // The names carry their content's hash: a new build has new names, so an asset never changes.
            context.HttpContext.Response.Headers.CacheControl = Immutable;
            return await next(context);
        });
    }

    private static async Task<IResult> ShellAsync(UiOptions options, string role, HttpContext context)
    {
        var index = Path.Combine(options.ResolvedRoot, "index.html");
        if (!File.Exists(index))
        {
            return Results.Json(
                new ErrorResponse(ErrorCodes.NotImplemented, $"The web UI is not built into {options.ResolvedRoot}: run `make ui` (scripts/build-ui.sh). The APIs answer without it."),
                statusCode: StatusCodes.Status501NotImplemented);
        }

        // The shell names the assets of the current build: never cached, so a new build is picked up at once.
        context.Response.Headers.CacheControl = "no-cache";
        var page = (await File.ReadAllTextAsync(index, context.RequestAborted)).Replace("%ROLE%", role, StringComparison.Ordinal);
        return Results.Content(page, "text/html; charset=utf-8");
    }

    [GeneratedRegex("^[A-Za-z0-9_-]+\\.(js|css|svg)$")]
    private static partial Regex AssetName();
}
