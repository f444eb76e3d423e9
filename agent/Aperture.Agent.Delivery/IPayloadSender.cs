namespace Aperture.Agent.Delivery;

public enum SendOutcome
{
    /// <summary>Upstream has the payloads (or had them already).</summary>
    Delivered,

    /// <summary>Upstream is down, busy or refused us for now: keep the payloads and try again later.</summary>
    RetryLater,

    /// <summary>Upstream says the payloads are malformed; sending them again cannot succeed.</summary>
    Rejected,
}

public sealed record SendResult(SendOutcome Outcome, string? Error = null, TimeSpan? RetryAfter = null)
{
    public static readonly SendResult Delivered = new(SendOutcome.Delivered);
}

/// <summary>Sends payloads to one upstream (the aggregator's Push, the jobs API, the server-monitoring ingest API).</summary>
public interface IPayloadSender
{
    /// <summary>Where payloads go, for status pages (no secrets).</summary>
    string Destination { get; }

    /// <summary>False while the configuration names no upstream: payloads wait in the spool.</summary>
    bool Configured { get; }

    /// <summary>The most payloads one call sends.</summary>
    int MaxBatch { get; }

    /// <summary>Sends all of <paramref name="payloads"/> or none of them (as far as this agent can tell).</summary>
    Task<SendResult> SendAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken);
}
