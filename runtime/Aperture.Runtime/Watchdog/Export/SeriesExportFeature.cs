using Aperture.Runtime.Platform;

namespace Aperture.Runtime.Watchdog.Export;

/// <summary>A Site's part of the watchdog: its series, gathered per minute and sent to the central runtime.</summary>
public static class SeriesExportFeature
{
    public static void AddSeriesExport(this WebApplicationBuilder builder)
    {
        builder.AddValidatedOptions<SeriesExportOptions>(SeriesExportOptions.Section);
        builder.Services.AddSingleton<SiteSeries>();
        builder.Services.AddSingleton<SiteSeriesExporter>();
        builder.Services.AddHostedService(provider => provider.GetRequiredService<SiteSeriesExporter>());
    }
}
