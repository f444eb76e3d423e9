using Aperture.Runtime.Platform;
using Aperture.Storage;
using ClickHouse.Driver;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog.Memory;

/// <summary>The watchdog's incident memory: the vectorizer, the store and the service over both.</summary>
public static class IncidentMemoryFeature
{
    /// <remarks>The table's migration is <see cref="IncidentMemorySchema.Migrations"/>, listed by the runtime's schema.</remarks>
    public static void AddIncidentMemory(this WebApplicationBuilder builder)
    {
        builder.AddValidatedOptions<IncidentMemoryOptions>(IncidentMemoryOptions.Section);
        var services = builder.Services;
        services.AddSingleton<IncidentVectorizer>();
        services.AddSingleton(provider => new IncidentMemoryStore(
            provider.GetRequiredService<ClickHouseClient>(),
            provider.GetRequiredService<IOptions<ClickHouseOptions>>().Value.Database,
            provider.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IncidentMemory>();
        services.AddHostedService<IncidentVectorizerLoader>();
    }
}

/// <summary>Starts the model's load with the host and returns at once: the runtime serves while it loads.</summary>
public sealed class IncidentVectorizerLoader(IncidentVectorizer vectorizer) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        vectorizer.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
