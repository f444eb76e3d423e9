using System.Threading.Channels;
using Aperture.Runtime.Hosting;
using Aperture.Storage;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Jobs;

/// <summary>Registers the jobs APIs of each role.</summary>
public static class JobsServices
{
    /// <summary>The site-local jobs API (aggregator role): ingest, state writer, stream, queries.</summary>
    public static void AddLocalJobs(WebApplicationBuilder builder, JobsOptions jobs)
    {
        var services = builder.Services;
        services.AddOptions<JobsOptions>().Bind(builder.Configuration.GetSection(JobsOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<JobsOptions>>(new SectionAnnotationsValidator<JobsOptions>(JobsOptions.Section));
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

    /// <summary>The central API (central role): the federation of sites.</summary>
    public static void AddCentralJobs(WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<CentralOptions>().Bind(builder.Configuration.GetSection(CentralOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CentralOptions>, CentralOptionsValidator>();
        services.AddSingleton<SiteClient>();
    }
}
