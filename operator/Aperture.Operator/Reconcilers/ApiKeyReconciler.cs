using System.Globalization;
using System.Net;
using System.Text;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// An ApiKey is made once in the central runtime (POST /api/v1/apikeys, in its Tenant's tenant) once that
/// Tenant is Ready, and the key is written once into the Secret <c>&lt;name&gt;-api-key</c> (owned by the
/// ApiKey; data <c>api-key</c> and <c>key-id</c>). Status carries <c>keyId</c>, <c>keyPrefix</c>,
/// <c>tenantId</c> and <c>secretName</c>, never the key; nor do Events or logs. A Secret that holds a key id
/// already is never given another key, except:
/// <list type="bullet">
/// <item>a changed scope, rate limit, expiry or tenant rotates the key: a new one is made, written over the
/// Secret, and the old one revoked (the key cannot be changed in place);</item>
/// <item>a deleted Secret gets a new key (the old one, if still known, is revoked): deleting the Secret is
/// how to rotate a key by hand.</item>
/// </list>
/// A key revoked or lost in the central runtime is reported (Ready=False, KeyRevoked), not replaced behind
/// the user's back. The key lives outside the cluster, so the finalizer <c>aperture.dev/api-key</c> revokes it
/// (DELETE; 404 counts as done) before the resource goes.
/// </summary>
public sealed partial class ApiKeyReconciler(
    IKubernetes client, ApertureObjects objects, CentralApi? central, TimeProvider time, TimeSpan notReadyPoll, ILogger logger) : IReconciler<ApiKey>
{
    public const string Finalizer = "aperture.dev/api-key";
    public const string KeyData = KeySecrets.KeyData;
    public const string KeyIdData = KeySecrets.KeyIdData;
    public const string TenantAnnotation = KeySecrets.TenantAnnotation;
    public const string SpecAnnotation = "aperture.dev/key-spec";
    private const string Plural = "apikeys";
    private const string Component = "api-key";

    public static string SecretName(ApiKey key) => $"{key.Metadata.Name}-api-key";

    /// <summary>The name the key has in the central runtime: the resource's namespace/name.</summary>
    public static string CentralName(ApiKey key) => $"{key.Metadata.NamespaceProperty}/{key.Metadata.Name}";

    /// <summary>What the key was made with; a change of any of it means a new key.</summary>
    public static string SpecText(string tenantId, ApiKeySpec spec) =>
        string.Create(CultureInfo.InvariantCulture, $"tenant={tenantId};scope={System.Text.Json.JsonSerializer.Serialize(spec.Scope).Trim('"')};rateLimitRps={spec.RateLimitRps};expiresAt={spec.ExpiresAt}");

    public async Task<ReconcileResult> ReconcileAsync(string key, ApiKey? cached, CancellationToken cancellationToken)
    {
        // The key id lives in status, and making a key twice leaves one behind: read the resource as it is now.
        var apiKey = cached is null ? null : await objects.GetAsync<ApiKey>(cached.Metadata.NamespaceProperty, Plural, cached.Metadata.Name, cancellationToken);
        if (apiKey is null)
        {
            return new ReconcileResult.Success();
        }

        var secret = await SecretAsync(apiKey, cancellationToken);
        if (apiKey.Metadata.DeletionTimestamp is not null)
        {
            return await ReleaseAsync(apiKey, secret, cancellationToken);
        }

        if (central is null)
        {
            await SetStatusAsync(apiKey, apiKey.Status, false, CentralNotConfigured.Reason, CentralNotConfigured.Message, cancellationToken);
            return new ReconcileResult.Success();
        }

        await objects.SetFinalizerAsync(apiKey, Plural, Finalizer, present: true, cancellationToken);
        var ns = apiKey.Metadata.NamespaceProperty;
        var tenant = await objects.GetAsync<Tenant>(ns, TenantReconciler.Plural, apiKey.Spec.TenantRef.Name, cancellationToken);
        if (tenant is null || tenant.Metadata.DeletionTimestamp is not null
            || tenant.Status.Conditions?.Any(c => c.Type == Conditions.Ready && c.Status == ConditionStatus.True && c.ObservedGeneration == tenant.Metadata.Generation) != true)
        {
            var why = tenant is null ? "not found" : tenant.Metadata.DeletionTimestamp is not null ? "being deleted" : "not Ready";
            await SetStatusAsync(apiKey, apiKey.Status, false, "TenantNotReady", $"Tenant '{apiKey.Spec.TenantRef.Name}' is {why}", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        if (secret is not null && secret.Metadata.OwnerReferences?.Any(o => o.Uid == apiKey.Metadata.Uid) != true)
        {
            await SetStatusAsync(apiKey, apiKey.Status, false, "SecretConflict", $"Secret '{SecretName(apiKey)}' exists and is not this ApiKey's", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        var tenantId = tenant.Spec.TenantId;
        try
        {
            return await EnsureKeyAsync(apiKey, tenantId, secret, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            var (reason, _) = CentralFailure.Of(e);
            await SetStatusAsync(apiKey, apiKey.Status, false, reason, e.Message, cancellationToken);
            return new ReconcileResult.Failure(e.Message);
        }
    }

    private async Task<ReconcileResult> EnsureKeyAsync(ApiKey apiKey, string tenantId, V1Secret? secret, CancellationToken cancellationToken)
    {
        var spec = SpecText(tenantId, apiKey.Spec);
        var held = secret?.Data?.TryGetValue(KeyIdData, out var id) == true ? Encoding.UTF8.GetString(id) : null;
        var heldTenant = secret?.Metadata.Annotations?.TryGetValue(TenantAnnotation, out var t) == true ? t : apiKey.Status.TenantId;
        var heldSpec = secret?.Metadata.Annotations?.TryGetValue(SpecAnnotation, out var s) == true ? s : null;

        string keyId;
        if (held is not null && heldSpec == spec)
        {
            keyId = held;
        }
        else
        {
            var created = await central!.CreateKeyAsync(tenantId, CentralName(apiKey), apiKey.Spec, cancellationToken);
            try
            {
                await WriteSecretAsync(apiKey, secret, created, tenantId, spec, cancellationToken);
            }
            catch (HttpOperationException)
            {
                // The Secret changed under us (or cannot be written): the new key must not outlive this attempt.
                await central.RevokeKeyAsync(tenantId, created.KeyId, cancellationToken);
                throw;
            }

            keyId = created.KeyId;
            var rotated = held ?? apiKey.Status.KeyId;
            if (rotated is not null && rotated != keyId && heldTenant is not null)
            {
                await central.RevokeKeyAsync(heldTenant, rotated, cancellationToken);
            }

            var name = CentralName(apiKey);
            LogCreated(name, keyId, tenantId, rotated ?? "none");
            await EventAsync(apiKey, rotated is null ? "KeyCreated" : "KeyRotated",
                rotated is null ? $"Created key {keyId} in tenant {tenantId} into Secret {SecretName(apiKey)}" : $"Replaced key {rotated} by {keyId} in Secret {SecretName(apiKey)}", cancellationToken);
        }

        // The key in the Secret is the only live key of this name in its tenant: one left over by an attempt
        // that made a key but never wrote it down is revoked here.
        var keys = await central!.KeysAsync(tenantId, cancellationToken);
        foreach (var orphan in keys.Where(k => k.Name == CentralName(apiKey) && !k.Revoked && k.KeyId != keyId))
        {
            await central.RevokeKeyAsync(tenantId, orphan.KeyId, cancellationToken);
        }

        var current = keys.FirstOrDefault(k => k.KeyId == keyId);
        var status = new ApiKeyStatus { KeyId = keyId, KeyPrefix = current?.Prefix ?? apiKey.Status.KeyPrefix, TenantId = tenantId, SecretName = SecretName(apiKey) };
        if (current is null || current.Revoked)
        {
            await SetStatusAsync(apiKey, status, false, "KeyRevoked",
                $"Key {keyId} is {(current is null ? "unknown to" : "revoked in")} the central runtime; delete Secret {SecretName(apiKey)} to have a new key made", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        await SetStatusAsync(apiKey, status, true, "KeyActive", $"Key {keyId} of tenant {tenantId} is in Secret {SecretName(apiKey)}", cancellationToken);
        return new ReconcileResult.Success();
    }

    /// <summary>Writes the key into the Secret: created the first time, replaced (by its resourceVersion) on rotation.</summary>
    private Task WriteSecretAsync(ApiKey apiKey, V1Secret? existing, CreatedApiKey created, string tenantId, string spec, CancellationToken cancellationToken)
    {
        var metadata = ObjectMetadata.For(apiKey, SecretName(apiKey), Component);
        metadata.Annotations = new Dictionary<string, string>(StringComparer.Ordinal) { [TenantAnnotation] = tenantId, [SpecAnnotation] = spec };
        return KeySecrets.WriteAsync(client, metadata, existing, created, null, cancellationToken);
    }

    /// <summary>Revokes what the resource made (by status and by its Secret), then lets it go.</summary>
    private async Task<ReconcileResult> ReleaseAsync(ApiKey apiKey, V1Secret? secret, CancellationToken cancellationToken)
    {
        if (apiKey.Metadata.Finalizers?.Contains(Finalizer) != true)
        {
            return new ReconcileResult.Success();
        }

        var owned = secret?.Metadata.OwnerReferences?.Any(o => o.Uid == apiKey.Metadata.Uid) == true;
        var made = new List<(string Tenant, string KeyId)>();
        if (apiKey.Status is { KeyId: { } statusKey, TenantId: { } statusTenant })
        {
            made.Add((statusTenant, statusKey));
        }

        if (owned && secret!.Data?.TryGetValue(KeyIdData, out var id) == true
            && secret.Metadata.Annotations?.TryGetValue(TenantAnnotation, out var tenant) == true)
        {
            made.Add((tenant, Encoding.UTF8.GetString(id)));
        }

        if (made.Count > 0)
        {
            if (central is null)
            {
                await SetStatusAsync(apiKey, apiKey.Status, false, CentralNotConfigured.Reason,
                    $"{CentralNotConfigured.Message}: key {made[0].KeyId} cannot be revoked, so the finalizer {Finalizer} stays", cancellationToken);
                return new ReconcileResult.Success(notReadyPoll);
            }

            try
            {
                var name = CentralName(apiKey);
                foreach (var (tenantId, keyId) in made.Distinct())
                {
                    await central.RevokeKeyAsync(tenantId, keyId, cancellationToken);
                    LogRevoked(name, keyId, tenantId);
                }
            }
            catch (HttpRequestException e)
            {
                return new ReconcileResult.Failure($"cannot revoke key {made[0].KeyId}: {e.Message}");
            }

            await EventAsync(apiKey, "KeyRevoked", $"Revoked key {string.Join(", ", made.Select(m => m.KeyId).Distinct())}", cancellationToken);
        }

        await objects.SetFinalizerAsync(apiKey, Plural, Finalizer, present: false, cancellationToken);
        return new ReconcileResult.Success();
    }

    private Task<V1Secret?> SecretAsync(ApiKey apiKey, CancellationToken cancellationToken) =>
        KeySecrets.ReadAsync(client, apiKey.Metadata.NamespaceProperty, SecretName(apiKey), cancellationToken);

    /// <summary>An Event on the ApiKey; its message names key ids, never a key. A failure to record it fails nothing.</summary>
    private async Task EventAsync(ApiKey apiKey, string reason, string message, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var name = string.Create(CultureInfo.InvariantCulture, $"{apiKey.Metadata.Name}.{now.Ticks:x}");
        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
            {
                ApiVersion = "v1",
                Kind = "Event",
                Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = apiKey.Metadata.NamespaceProperty },
                InvolvedObject = new V1ObjectReference
                {
                    ApiVersion = apiKey.ApiVersion,
                    Kind = apiKey.Kind,
                    Name = apiKey.Metadata.Name,
                    NamespaceProperty = apiKey.Metadata.NamespaceProperty,
                    Uid = apiKey.Metadata.Uid,
                },
                Reason = reason,
                Message = message,
                Type = "Normal",
                Source = new V1EventSource { Component = ObjectMetadata.ManagedBy },
                FirstTimestamp = now,
                LastTimestamp = now,
                Count = 1,
            }, apiKey.Metadata.NamespaceProperty, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e)
        {
            var key = CentralName(apiKey);
            LogEventFailed(reason, key, e.Message);
        }
    }

    private async Task SetStatusAsync(ApiKey apiKey, ApiKeyStatus values, bool ready, string reason, string message, CancellationToken cancellationToken)
    {
        var conditions = Conditions.With(apiKey.Status.Conditions, Conditions.Ready, ready, reason, message, apiKey.Metadata.Generation, time);
        var current = apiKey.Status;
        if (Conditions.Same(conditions, current.Conditions) && current.ObservedGeneration == apiKey.Metadata.Generation
            && current.KeyId == values.KeyId && current.KeyPrefix == values.KeyPrefix && current.TenantId == values.TenantId && current.SecretName == values.SecretName)
        {
            return;
        }

        var status = new ApiKeyStatus
        {
            Conditions = conditions,
            ObservedGeneration = apiKey.Metadata.Generation,
            KeyId = values.KeyId,
            KeyPrefix = values.KeyPrefix,
            TenantId = values.TenantId,
            SecretName = values.SecretName,
        };
        await objects.PatchStatusAsync(apiKey, Plural, status, cancellationToken);
    }

    [LoggerMessage(EventId = 740, Level = LogLevel.Information, Message = "ApiKey {Name}: created key {KeyId} in tenant {Tenant} (replacing {Replaced})")]
    private partial void LogCreated(string name, string keyId, string tenant, string replaced);

    [LoggerMessage(EventId = 741, Level = LogLevel.Information, Message = "ApiKey {Name}: revoked key {KeyId} in tenant {Tenant}")]
    private partial void LogRevoked(string name, string keyId, string tenant);

    [LoggerMessage(EventId = 742, Level = LogLevel.Warning, Message = "Event {Reason} of ApiKey {Name} not recorded: {Error}")]
    private partial void LogEventFailed(string reason, string name, string error);
}
