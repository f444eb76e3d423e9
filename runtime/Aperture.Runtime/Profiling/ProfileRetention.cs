using Aperture.Runtime.Storage;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Profiling;

/// <summary>Sets the profiling tables' TTL to the configured retention once the schema is current.</summary>
public sealed partial class ProfileRetention(ProfileStore store, IOptions<ProfilingOptions> options, ILogger<ProfileRetention> logger) : ISchemaFollowUp
{
    public async Task ApplyAsync(CancellationToken cancellationToken)
    {
        foreach (var table in await store.ApplyRetentionAsync(options.Value.RetentionDays, cancellationToken))
        {
            LogRetentionChanged(table, options.Value.RetentionDays);
        }
    }

    [LoggerMessage(EventId = 303, Level = LogLevel.Information, Message = "Retention of {Table} set to {Days} days")]
    private partial void LogRetentionChanged(string table, int days);
}
