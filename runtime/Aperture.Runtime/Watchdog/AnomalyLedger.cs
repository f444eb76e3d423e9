namespace Aperture.Runtime.Watchdog;

/// <summary>
/// Every change of an anomaly goes through here, one at a time: the detector opening and resolving, the RCA
/// adding its causes, Alertmanager firing and resolving. Each change reads the latest version, so an RCA that
/// finishes after the anomaly resolved cannot write it open again; each version is numbered above the last.
/// </summary>
public sealed class AnomalyLedger(AnomalyStore store, TimeProvider time) : IDisposable
{
    // Open anomalies and recently changed ones: most changes find their anomaly here, not in ClickHouse.
    private const int MaxRemembered = 100_000;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Dictionary<(string Tenant, string Id), AnomalyRecord> _recent = [];
    private ulong _lastVersion;

    /// <summary>A change: from the latest version (null when the anomaly is new) to the next (null: no change).</summary>
    public sealed record Change(string Tenant, string AnomalyId, Func<AnomalyRecord?, AnomalyRecord?> Next);

    /// <returns>The versions written, in the order of the changes.</returns>
    public async Task<IReadOnlyList<AnomalyRecord>> ApplyAsync(IReadOnlyList<Change> changes, CancellationToken cancellationToken)
    {
        if (changes.Count == 0)
        {
            return [];
        }

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var written = new List<(AnomalyRecord, ulong)>();
            var next = new Dictionary<(string, string), AnomalyRecord>();
            foreach (var change in changes)
            {
                var key = (change.Tenant, change.AnomalyId);
                var current = next.TryGetValue(key, out var pending) ? pending
                    : _recent.TryGetValue(key, out var known) ? known
                    : await store.FindAsync(change.Tenant, change.AnomalyId, cancellationToken);
                if (change.Next(current) is { } updated && updated != current)
                {
                    next[key] = updated;
                    written.Add((updated, NextVersion()));
                }
            }

            await store.WriteAsync(written, cancellationToken);
            if (_recent.Count + next.Count > MaxRemembered)
            {
                foreach (var stale in _recent.Where(r => r.Value.Resolved).Select(r => r.Key).ToList())
                {
                    _recent.Remove(stale);
                }
            }

            foreach (var (key, record) in next)
            {
                _recent[key] = record;
            }

            return [.. written.Select(w => w.Item1)];
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>The latest version, as the ledger knows it.</summary>
    public async Task<AnomalyRecord?> LatestAsync(string tenant, string anomalyId, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            return _recent.TryGetValue((tenant, anomalyId), out var known) ? known : await store.FindAsync(tenant, anomalyId, cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public async Task<AnomalyRecord?> UpdateAsync(string tenant, string anomalyId, Func<AnomalyRecord?, AnomalyRecord?> next, CancellationToken cancellationToken) =>
        (await ApplyAsync([new Change(tenant, anomalyId, next)], cancellationToken)) is [var written] ? written : null;

    public void Dispose() => _gate.Dispose();

    private ulong NextVersion()
    {
        // Above every version written before, also by an earlier run of this runtime (its clock was earlier).
        var now = (ulong)time.GetUtcNow().ToUnixTimeMilliseconds() * 1000;
        _lastVersion = Math.Max(_lastVersion + 1, now);
        return _lastVersion;
    }
}
