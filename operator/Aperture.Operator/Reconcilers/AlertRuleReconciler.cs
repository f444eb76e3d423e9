using System.Text.Json;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// An AlertRule is registered with its Site's runtime through the alert API and its id kept in
/// status. The rule lives outside the cluster, so the resource carries a finalizer: deleting it
/// first deletes the runtime's rule. A changed spec replaces the rule (the API has no update), and
/// a rule the runtime lost is registered again.
/// </summary>
public sealed class AlertRuleReconciler(ApertureObjects objects, SiteAlertApi alerts, TimeProvider time, TimeSpan notReadyPoll) : IReconciler<AlertRule>
{
    private const string Plural = "alertrules";

    public const string Finalizer = "aperture.dev/alert-rule";

    public async Task<ReconcileResult> ReconcileAsync(string key, AlertRule? cached, CancellationToken cancellationToken)
    {
        // The rule's id lives in status, and registering twice leaves an orphan in the runtime: read the
        // resource as it is now rather than trust a cache that may not have seen the last status write.
        var rule = cached is null ? null : await objects.GetAsync<AlertRule>(cached.Metadata.NamespaceProperty, Plural, cached.Metadata.Name, cancellationToken);
        if (rule is null)
        {
            return new ReconcileResult.Success();
        }

        var site = await objects.SiteAsync(rule.Metadata.NamespaceProperty, rule.Spec.SiteRef, cancellationToken);
        if (rule.Metadata.DeletionTimestamp is not null)
        {
            return await objects.ReleaseAsync(rule, Plural, Finalizer, site, rule.Status.RuleId, "rule", alerts.DeleteAsync, cancellationToken);
        }

        await objects.SetFinalizerAsync(rule, Plural, Finalizer, present: true, cancellationToken);

        if (site is null)
        {
            await SetStatusAsync(rule, rule.Status.RuleId, false, "SiteNotFound", $"Site '{rule.Spec.SiteRef.Name}' not found", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        try
        {
            var ruleId = rule.Status.RuleId;
            var current = ruleId is not null && rule.Status.ObservedGeneration == rule.Metadata.Generation
                && (await alerts.RuleIdsAsync(site, cancellationToken)).Contains(ruleId);
            if (!current)
            {
                if (ruleId is not null)
                {
                    await alerts.DeleteAsync(site, ruleId, cancellationToken);
                }

                ruleId = await alerts.CreateAsync(site, rule, cancellationToken);
            }

            await SetStatusAsync(rule, ruleId, true, "Registered", $"Registered with Site {site.Metadata.Name} as {ruleId}", cancellationToken);
            return new ReconcileResult.Success();
        }
        catch (HttpRequestException e)
        {
            await SetStatusAsync(rule, rule.Status.RuleId, false, "RuntimeUnreachable", $"Site {site.Metadata.Name}'s runtime: {e.Message}", cancellationToken);
            return new ReconcileResult.Failure(e.Message);
        }
    }

    private async Task SetStatusAsync(AlertRule rule, string? ruleId, bool ready, string reason, string message, CancellationToken cancellationToken)
    {
        var conditions = Conditions.With(rule.Status.Conditions, Conditions.Ready, ready, reason, message, rule.Metadata.Generation, time);
        if (Conditions.Same(conditions, rule.Status.Conditions) && rule.Status.RuleId == ruleId && rule.Status.ObservedGeneration == rule.Metadata.Generation)
        {
            return;
        }

        var status = new AlertRuleStatus { Conditions = conditions, RuleId = ruleId, ObservedGeneration = rule.Metadata.Generation };
        await objects.PatchStatusAsync(rule, Plural, status, cancellationToken);
    }
}
