namespace Aperture.Agent.Delivery;

/// <summary>What became of a submission: sent at once, kept in the spool, or refused by upstream as malformed.</summary>
public enum SubmitOutcome
{
    Forwarded,
    Spooled,
    Rejected,
}

public sealed record SubmitResult(SubmitOutcome Outcome, string? Error = null);

/// <summary>
/// One kind of payload on its way to one upstream. A submission is sent at once when nothing of this
/// channel waits in the spool (and upstream is not in backoff); otherwise it joins the spool behind what
/// waits, so upstream always receives a channel's payloads in the order they came. <see cref="ReplayAsync"/>
/// sends what the spool holds, oldest first, stopping at the first failure; the delivery service calls it
/// after each backoff. One send at a time per channel keeps that order.
/// </summary>
public sealed class DeliveryChannel(string name, SpoolDirectory spool, IPayloadSender sender, TimeProvider time, Func<RetryPolicy> retry) : IDisposable
{
    private readonly SemaphoreSlim _sending = new(1, 1);
    private int _failures;
    private DateTimeOffset _nextAttempt = DateTimeOffset.MinValue;
    private long _forwarded;
    private long _spooled;
    private long _replayed;
    private long _rejected;

    public string Name { get; } = name;

    public SpoolDirectory Spool { get; } = spool;

    public IPayloadSender Sender { get; } = sender;

    public long Forwarded => Interlocked.Read(ref _forwarded);

    public long SpooledTotal => Interlocked.Read(ref _spooled);

    public long Replayed => Interlocked.Read(ref _replayed);

    public long Rejected => Interlocked.Read(ref _rejected);

    public int Waiting => Spool.CountOf(Name);

    public long Dropped => Spool.DroppedOf(Name);

    public string? LastError { get; private set; }

    public DateTimeOffset? LastDelivery { get; private set; }

    public DateTimeOffset? LastAttempt { get; private set; }

    /// <summary>True after the last attempt reached upstream; false after it failed; null before any.</summary>
    public bool? Connected { get; private set; }

    public DateTimeOffset NextAttempt => _nextAttempt;

    public async Task<SubmitResult> SubmitAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken)
    {
        await _sending.WaitAsync(cancellationToken);
        try
        {
            if (Spool.CountOf(Name) == 0 && Sender.Configured && time.GetUtcNow() >= _nextAttempt)
            {
                var result = await SendAsync(payloads, cancellationToken);
                switch (result.Outcome)
                {
                    case SendOutcome.Delivered:
                        Interlocked.Add(ref _forwarded, payloads.Count);
                        return new SubmitResult(SubmitOutcome.Forwarded);
                    case SendOutcome.Rejected:
                        Interlocked.Add(ref _rejected, payloads.Count);
                        return new SubmitResult(SubmitOutcome.Rejected, result.Error);
                    default:
                        break;
                }
            }

            foreach (var payload in payloads)
            {
                Spool.Append(Name, payload);
            }

            Interlocked.Add(ref _spooled, payloads.Count);
            return new SubmitResult(SubmitOutcome.Spooled, LastError);
        }
        finally
        {
            _sending.Release();
        }
    }

    /// <summary>Sends the spool's payloads of this channel, oldest first, until it is empty or a send fails.</summary>
    /// <param name="force">Ignore the backoff (an operator asked for a flush).</param>
    /// <returns>How many payloads were delivered.</returns>
    public async Task<int> ReplayAsync(bool force, CancellationToken cancellationToken)
    {
        if (!Sender.Configured || (!force && time.GetUtcNow() < _nextAttempt) || Spool.CountOf(Name) == 0)
        {
            return 0;
        }

        await _sending.WaitAsync(cancellationToken);
        try
        {
            var delivered = 0;
            while (true)
            {
                var entries = Spool.Oldest(Name, Sender.MaxBatch);
                if (entries.Count == 0)
                {
                    return delivered;
                }

                var payloads = new List<byte[]>(entries.Count);
                var present = new List<SpoolEntry>(entries.Count);
                foreach (var entry in entries)
                {
                    if (Spool.Read(entry) is { } payload)
                    {
                        payloads.Add(payload);
                        present.Add(entry);
                    }
                }

                if (payloads.Count == 0)
                {
                    continue;
                }

                var result = await SendAsync(payloads, cancellationToken);
                if (result.Outcome == SendOutcome.RetryLater)
                {
                    return delivered;
                }

                foreach (var entry in present)
                {
                    Spool.Remove(entry);
                }

                if (result.Outcome == SendOutcome.Rejected)
                {
                    // Sending malformed payloads again cannot succeed; holding them would block the channel forever.
                    Interlocked.Add(ref _rejected, present.Count);
                    continue;
                }

                delivered += present.Count;
                Interlocked.Add(ref _replayed, present.Count);
            }
        }
        finally
        {
            _sending.Release();
        }
    }

    private async Task<SendResult> SendAsync(IReadOnlyList<byte[]> payloads, CancellationToken cancellationToken)
    {
        LastAttempt = time.GetUtcNow();
        var result = await Sender.SendAsync(payloads, cancellationToken);
        if (result.Outcome == SendOutcome.RetryLater)
        {
            _failures++;
            _nextAttempt = time.GetUtcNow() + retry().Delay(_failures, result.RetryAfter);
            LastError = result.Error;
            Connected = false;
        }
        else
        {
            _failures = 0;
            _nextAttempt = DateTimeOffset.MinValue;
            Connected = true;
            if (result.Outcome == SendOutcome.Delivered)
            {
                LastDelivery = time.GetUtcNow();
                LastError = null;
            }
            else
            {
                LastError = result.Error;
            }
        }

        return result;
    }

    public void Dispose() => _sending.Dispose();
}
