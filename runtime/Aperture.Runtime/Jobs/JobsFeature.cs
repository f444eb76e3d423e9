using System.Threading.Channels;
using Aperture.Runtime.Platform;
using Aperture.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>Job tracking (jobs-api.md): the site-local API of the aggregator role and the central API of the central role.</summary>
public static class JobsFeature
{
    /// <summary>The site-local jobs API (aggregator role): ingest, state writer, stream, queries.</summary>
    public static void AddLocalJobs(this WebApplicationBuilder builder)
    {
        var jobs = builder.AddValidatedOptions<JobsOptions>(JobsOptions.Section);
        var services = builder.Services;
        // The state writer is the only reader; the bound is the backpressure on ingest.
        services.AddSingleton(Channel.CreateBounded<QueuedEvent>(new BoundedChannelOptions(jobs.QueueCapacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
        }));
        services.AddSingleton(provider => new JobStore(
            provider.GetRequiredService<ClickHouse.Driver.ClickHouseClient>(), provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database));
        services.AddSingleton<JobStream>();
        services.AddSingleton<JobIngest>();
        services.AddSingleton<JobStateWriter>();
        services.AddHostedService(provider => provider.GetRequiredService<JobStateWriter>());
    }

    public static void MapLocalJobs(this WebApplication app) => app.MapLocalJobsApi();

    /// <summary>The central API (central role): the federation of sites.</summary>
    public static void AddCentralJobs(this WebApplicationBuilder builder)
    {
        builder.AddValidatedOptions(CentralOptions.Section, new CentralOptionsValidator());
        builder.Services.TryAddSingleton<SiteClient>();
    }

    public static void MapCentralJobs(this WebApplication app) => app.MapCentralJobsApi();
}
