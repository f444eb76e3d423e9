using System.Net;
using Aperture.Operator.Controller;
using Aperture.Resources;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// A Tenant is registered with the central runtime (POST /api/v1/tenants; a 409 means it is there
/// already, and GET reads it); status carries Ready and the central runtime's <c>createdAt</c>. The API
/// deletes no tenants, so there is no finalizer: deleting the resource leaves the tenant and its data
/// in the central runtime. The API updates no tenants either: a changed name, plan or contact stays as
/// first registered, and a changed tenantId registers a new tenant. Without a central runtime
/// (<c>--central-url</c>) the Tenant is Ready=False, reason CentralNotConfigured.
/// </summary>
public sealed class TenantReconciler(ApertureObjects objects, CentralApi? central, TimeProvider time) : IReconciler<Tenant>
{
    public const string Plural = "tenants";

    public async Task<ReconcileResult> ReconcileAsync(string key, Tenant? cached, CancellationToken cancellationToken)
    {
        if (cached is null || cached.Metadata.DeletionTimestamp is not null)
        {
            return new ReconcileResult.Success();
        }

        if (central is null)
        {
            await SetStatusAsync(cached, cached.Status.CreatedAt, false, CentralNotConfigured.Reason, CentralNotConfigured.Message, cancellationToken);
            return new ReconcileResult.Success();
        }

        try
        {
            // Registered for this generation already: one GET confirms the central runtime still has it.
            var registered = cached.Status.CreatedAt is not null && cached.Status.ObservedGeneration == cached.Metadata.Generation
                && cached.Status.Conditions?.Any(c => c.Type == Conditions.Ready && c.Status == ConditionStatus.True) == true
                ? await central.TenantAsync(cached.Spec.TenantId, cancellationToken)
                : null;
            registered ??= await central.RegisterTenantAsync(cached.Spec, cancellationToken);
            await SetStatusAsync(cached, registered.CreatedAt, true, "Registered", $"Tenant {registered.TenantId} is registered with the central runtime", cancellationToken);
            return new ReconcileResult.Success();
        }
        catch (HttpRequestException e)
        {
            var (reason, _) = CentralFailure.Of(e);
            await SetStatusAsync(cached, cached.Status.CreatedAt, false, reason, e.Message, cancellationToken);
            return new ReconcileResult.Failure(e.Message);
        }
    }

    private async Task SetStatusAsync(Tenant tenant, string? createdAt, bool ready, string reason, string message, CancellationToken cancellationToken)
    {
        var conditions = Conditions.With(tenant.Status.Conditions, Conditions.Ready, ready, reason, message, tenant.Metadata.Generation, time);
        if (Conditions.Same(conditions, tenant.Status.Conditions) && tenant.Status.CreatedAt == createdAt && tenant.Status.ObservedGeneration == tenant.Metadata.Generation)
        {
            return;
        }

        var status = new TenantStatus { Conditions = conditions, CreatedAt = createdAt, ObservedGeneration = tenant.Metadata.Generation };
        await objects.PatchStatusAsync(tenant, Plural, status, cancellationToken);
    }
}

/// <summary>What a resource says when the operator has no central runtime to talk to.</summary>
public static class CentralNotConfigured
{
    public const string Reason = "CentralNotConfigured";
    public const string Message = "The operator has no central runtime (--central-url); nothing is registered";
}

/// <summary>How a failed call to the central runtime reads in a condition.</summary>
public static class CentralFailure
{
    /// <summary>CentralUnavailable when it did not answer or answered 5xx; CentralRejected when it refused the request (4xx).</summary>
    public static (string Reason, bool Unavailable) Of(HttpRequestException e) =>
        e.StatusCode is null || (int)e.StatusCode >= 500 || e.StatusCode == HttpStatusCode.TooManyRequests
            ? ("CentralUnavailable", true)
            : ("CentralRejected", false);
}
