namespace Aperture.Runtime.Health;

/// <summary>One dependency the runtime needs to serve; throws when it is not usable now.</summary>
public interface IReadinessCheck
{
    /// <summary>The key under <c>checks</c> in the readiness answer.</summary>
    string Name { get; }

    /// <summary>How long the check may take before it counts as failed.</summary>
    TimeSpan Timeout { get; }

    Task CheckAsync(CancellationToken cancellationToken);
}
