using System.Security.Cryptography;
using System.Text;
using Aperture.Operator.Controller;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// A MonitoredServer gets an ingest token Secret, created once and owned by the resource, and is
/// registered with its Site's runtime under its slug with that token (the runtime keeps the hash).
/// Status follows the runtime: last-seen time and snapshot count, polled while the resource is
/// Ready. The registration lives outside the cluster, so a finalizer unregisters it on delete.
/// </summary>
public sealed class MonitoredServerReconciler(
    IKubernetes client, ApertureObjects objects, SiteServerApi servers, TimeProvider time, TimeSpan notReadyPoll, TimeSpan statusPoll)
    : IReconciler<MonitoredServer>
{
    public const string Finalizer = "aperture.dev/monitored-server";
    public const string TokenKey = "token";
    private const string Plural = "monitoredservers";

    public static string TokenSecretName(MonitoredServer server) => $"{server.Metadata.Name}-ingest-token";

    public async Task<ReconcileResult> ReconcileAsync(string key, MonitoredServer? cached, CancellationToken cancellationToken)
    {
        // The registered slug lives in status; a stale cache could unregister the wrong one.
        var server = cached is null ? null : await objects.GetAsync<MonitoredServer>(cached.Metadata.NamespaceProperty, Plural, cached.Metadata.Name, cancellationToken);
        if (server is null)
        {
            return new ReconcileResult.Success();
        }

        var ns = server.Metadata.NamespaceProperty;
        var site = await objects.SiteAsync(ns, server.Spec.SiteRef, cancellationToken);
        if (server.Metadata.DeletionTimestamp is not null)
        {
            return await objects.ReleaseAsync(server, Plural, Finalizer, site, server.Status.RegisteredSlug, "server", servers.DeleteAsync, cancellationToken);
        }

        await objects.SetFinalizerAsync(server, Plural, Finalizer, present: true, cancellationToken);
        var secret = await TokenSecretAsync(server, cancellationToken);
        if (secret is null)
        {
            await SetStatusAsync(server, null, false, "TokenSecretConflict",
                $"Secret '{TokenSecretName(server)}' exists, is not this server's and has no '{TokenKey}' key", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        if (site is null)
        {
            await SetStatusAsync(server, null, false, "SiteNotFound", $"Site '{server.Spec.SiteRef.Name}' not found", cancellationToken);
            return new ReconcileResult.Success(notReadyPoll);
        }

        try
        {
            if (server.Status.RegisteredSlug is { } old && old != server.Spec.Slug)
            {
                await servers.DeleteAsync(site, old, cancellationToken);
            }

            var current = await servers.GetAsync(site, server.Spec.Slug, cancellationToken);
            if (current is null || !Matches(current, server.Spec)
                || server.Status.TokenSecretVersion != secret.Metadata.ResourceVersion || server.Status.RegisteredSlug != server.Spec.Slug)
            {
                current = await servers.RegisterAsync(site, server.Spec, Encoding.UTF8.GetString(secret.Data[TokenKey]), cancellationToken);
            }

            await SetStatusAsync(server, current, true, "Registered", $"Registered with Site {site.Metadata.Name} as server {current.Id}", cancellationToken,
                secret.Metadata.ResourceVersion);
            return new ReconcileResult.Success(statusPoll);
        }
        catch (HttpRequestException e)
        {
            await SetStatusAsync(server, null, false, "RuntimeUnreachable", $"Site {site.Metadata.Name}'s runtime: {e.Message}", cancellationToken);
            return new ReconcileResult.Failure(e.Message);
        }
    }

    private static bool Matches(RegisteredServer registered, MonitoredServerSpec spec) =>
        registered.Name == spec.Name
        && (registered.Hostname ?? string.Empty) == (spec.Hostname ?? string.Empty)
        && (registered.Description ?? string.Empty) == (spec.Description ?? string.Empty)
        && registered.IsActive == spec.Active
        && (registered.Labels ?? []).OrderBy(l => l.Key, StringComparer.Ordinal).SequenceEqual((spec.Labels ?? []).OrderBy(l => l.Key, StringComparer.Ordinal));

    /// <summary>The server's token Secret, created with a fresh random token the first time; null when the name is taken by another.</summary>
    private async Task<V1Secret?> TokenSecretAsync(MonitoredServer server, CancellationToken cancellationToken)
    {
        var name = TokenSecretName(server);
        var ns = server.Metadata.NamespaceProperty;
        try
        {
            var existing = await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken);
            return existing.Data?.ContainsKey(TokenKey) == true ? existing : null;
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound)
        {
        }

        var secret = new V1Secret
        {
            Metadata = ObjectMetadata.For(server, name, "server-token"),
            Type = "Opaque",
            Data = new Dictionary<string, byte[]>
            {
                [TokenKey] = Encoding.ASCII.GetBytes(Base64Url(RandomNumberGenerator.GetBytes(32))),
            },
        };
        try
        {
            return await client.CoreV1.CreateNamespacedSecretAsync(secret, ns, fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.Conflict)
        {
            // Another worker made it first: use theirs, so that one token is ever registered.
            return await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken);
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private async Task SetStatusAsync(
        MonitoredServer server, RegisteredServer? registered, bool ready, string reason, string message, CancellationToken cancellationToken, string? secretVersion = null)
    {
        var conditions = Conditions.With(server.Status.Conditions, Conditions.Ready, ready, reason, message, server.Metadata.Generation, time);
        var status = new MonitoredServerStatus
        {
            Conditions = conditions,
            ObservedGeneration = server.Metadata.Generation,
            TokenSecretName = TokenSecretName(server),
            // Without an answer from the runtime, what status knew of it stays.
            RegisteredSlug = registered?.Slug ?? server.Status.RegisteredSlug,
            TokenSecretVersion = registered is null ? server.Status.TokenSecretVersion : secretVersion,
            LastSeen = registered is null ? server.Status.LastSeen : registered.LastSeenAt,
            SnapshotCount = registered is null ? server.Status.SnapshotCount : registered.SnapshotCount,
        };
        if (Conditions.Same(conditions, server.Status.Conditions)
            && status.ObservedGeneration == server.Status.ObservedGeneration
            && status.TokenSecretName == server.Status.TokenSecretName
            && status.RegisteredSlug == server.Status.RegisteredSlug
            && status.TokenSecretVersion == server.Status.TokenSecretVersion
            && status.LastSeen == server.Status.LastSeen
            && status.SnapshotCount == server.Status.SnapshotCount)
        {
            return;
        }

        await objects.PatchStatusAsync(server, Plural, status, cancellationToken);
    }
}
