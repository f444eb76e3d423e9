using System.Text.Json.Serialization;
using Aperture.Runtime.Platform;
using Microsoft.Extensions.Options;

namespace Aperture.Runtime.Watchdog;

/// <summary>One alert of an Alertmanager notification, as the intake needs it.</summary>
public sealed record AlertInput(
    bool Firing, IReadOnlyDictionary<string, string> Labels, IReadOnlyDictionary<string, string> Annotations, DateTimeOffset StartsAt, DateTimeOffset? EndsAt, string? Fingerprint);

/// <summary>The webhook's answer (aiops-api.md), with every alert's anomaly beside the first.</summary>
public sealed record AlertAnswer(
    [property: JsonPropertyName("status")] string Status,
    [property: JsonPropertyName("rca_triggered")] bool RcaTriggered,
    [property: JsonPropertyName("anomaly_id")] string? AnomalyId,
    [property: JsonPropertyName("anomaly_ids")] IReadOnlyList<string> AnomalyIds);

/// <summary>
/// Alertmanager's alerts as anomalies. An alert is one anomaly per fingerprint and start: Alertmanager repeats every
/// group on its repeat interval, and those repeats change nothing; its resolve marks the anomaly resolved. A new
/// firing alert gets an RCA, run after the answer. Scores come from the severity label (an alert has no z-score:
/// 0 is stored): critical/page 0.95, error/high 0.85, warning 0.7, info/low 0.4, anything else 0.6.
/// </summary>
public sealed class AlertIntake(AnomalyLedger ledger, RcaQueue rca, IOptions<WatchdogOptions> options, TimeProvider time)
{
    public const int MaxAlerts = 1000;

    public async Task<AlertAnswer> AcceptAsync(string? pathTenant, string? groupKey, IReadOnlyList<AlertInput> alerts, CancellationToken cancellationToken)
    {
        if (alerts.Count > MaxAlerts)
        {
            throw new InvalidRequestException("alerts", $"a notification may carry at most {MaxAlerts} alerts");
        }

        var settings = options.Value;
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        var changes = new List<AnomalyLedger.Change>();
        var ids = new List<string>();
        for (var i = 0; i < alerts.Count; i++)
        {
            var alert = alerts[i];
            var tenant = alert.Labels.GetValueOrDefault(settings.AlertTenantLabel) ?? pathTenant ?? Tenants.Default;
            if (!Access.TenantIds.IsValid(tenant))
            {
                throw new InvalidRequestException($"alerts[{i}].labels.{settings.AlertTenantLabel}", $"'{tenant}' is not a tenant id");
            }

            var fingerprint = alert.Fingerprint is { Length: > 0 } given ? given : WatchdogIds.Hash(SeriesLabels.Canonical(alert.Labels));
            var startsAt = alert.StartsAt.ToUnixTimeMilliseconds();
            var id = WatchdogIds.Anomaly(tenant, "alert\n" + fingerprint, startsAt);
            ids.Add(id);
            var service = settings.ServiceLabels.Append("service").Select(alert.Labels.GetValueOrDefault).FirstOrDefault(v => v is { Length: > 0 }) ?? "unknown";
            var labels = SeriesLabels.Canonical(alert.Labels.Where(l => l.Key is not "alertname" && l.Key != settings.AlertTenantLabel));
            var resolvedAt = alert.Firing ? (long?)null : (alert.EndsAt ?? time.GetUtcNow()).ToUnixTimeMilliseconds();
            var fresh = new AnomalyRecord(
                tenant, id, AnomalySources.Alertmanager, service, alert.Labels.GetValueOrDefault("alertname") ?? "alert", labels,
                ScoreOf(alert.Labels.GetValueOrDefault("severity")), 0, double.NaN, double.NaN, startsAt, now, !alert.Firing, resolvedAt,
                RcaTriggered: alert.Firing && rca.HasRoom,
                new AnomalyDetails { Alert = new AlertJson(fingerprint, alert.StartsAt, alert.Labels, alert.Annotations, groupKey) });
            changes.Add(new AnomalyLedger.Change(tenant, id, current => (current, alert.Firing) switch
            {
                (null, _) => fresh,
                // A repeat of what is known: nothing changes (Alertmanager resends each group on its repeat interval).
                ({ Resolved: false }, true) or ({ Resolved: true }, false) => null,
                ({ Resolved: false }, false) => current with { Resolved = true, ResolvedAtMs = resolvedAt },
                // Firing again with the same start after a resolve: Alertmanager's resolve was premature.
                ({ Resolved: true }, true) => current with { Resolved = false, ResolvedAtMs = null },
            }));
        }

        var written = (await ledger.ApplyAsync(changes, cancellationToken)).ToList();
        for (var w = 0; w < written.Count; w++)
        {
            if (written[w] is { RcaTriggered: true, Resolved: false, Details.Causes: null } anomaly)
            {
                written[w] = await rca.RequestOrDeclineAsync(ledger, anomaly, cancellationToken);
            }
        }

        // What the anomalies of firing alerts are now (new, or as their first notification left them).
        var triggered = false;
        for (var i = 0; i < alerts.Count; i++)
        {
            if (alerts[i].Firing)
            {
                var anomaly = written.FirstOrDefault(w => w.AnomalyId == ids[i]) ?? await ledger.LatestAsync(TenantOf(alerts[i], pathTenant), ids[i], cancellationToken);
                triggered |= anomaly?.RcaTriggered == true;
            }
        }

        return new AlertAnswer("ok", triggered, ids.FirstOrDefault(), ids);
    }

    private string TenantOf(AlertInput alert, string? pathTenant) =>
        alert.Labels.GetValueOrDefault(options.Value.AlertTenantLabel) ?? pathTenant ?? Tenants.Default;

    public static double ScoreOf(string? severity) => severity?.ToLowerInvariant() switch
    {
        "critical" or "page" => 0.95,
        "error" or "high" or "major" => 0.85,
        "warning" or "warn" => 0.7,
        "info" or "low" or "minor" or "none" => 0.4,
        _ => 0.6,
    };
}
