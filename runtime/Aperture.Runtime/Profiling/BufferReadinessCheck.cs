using Aperture.Runtime.Health;

namespace Aperture.Runtime.Profiling;

/// <summary>The profiling buffer has room (aggregator-api.md: "/readyz checks buffer").</summary>
public sealed class BufferReadinessCheck(ProfileBuffer buffer) : IReadinessCheck
{
    public string Name => "buffer";

    public TimeSpan Timeout => TimeSpan.FromSeconds(1);

    public Task CheckAsync(CancellationToken cancellationToken) =>
        buffer.Unflushed >= buffer.Capacity
            ? Task.FromException(new InvalidOperationException($"buffer full: {buffer.Unflushed} of {buffer.Capacity} batches wait for storage"))
            : Task.CompletedTask;
}
