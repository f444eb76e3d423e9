using System.Net;
using System.Text;
using Aperture.Operator.Desired;
using Aperture.Resources;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Aperture.Operator.Reconcilers;

/// <summary>What the agents of a Site push with: the key's id, and the key it replaced (to be revoked once the agents roll).</summary>
public sealed record AgentKey(string KeyId, (string Tenant, string KeyId)? Replaced);

/// <summary>The Secret <c>&lt;site&gt;-agent-key</c> is there and not the operator's: no key is written into it.</summary>
public sealed class AgentKeyConflictException(string message) : Exception(message);

/// <summary>
/// One ingestion key per Site for its agents, made in the central runtime (<c>POST /api/v1/apikeys</c>, name
/// <c>&lt;namespace&gt;/&lt;site&gt;/agents</c>, scope <c>ingestion</c>) and allowed exactly the tenants of the
/// Site's targets (<c>tenants</c>; its own tenant, <c>X-Scope-OrgID</c>, is the first of them in ordinal order).
/// The key is written once into the Secret <c>&lt;site&gt;-agent-key</c> (owned by the Site; data <c>api-key</c>,
/// <c>key-id</c>, <c>tenants</c> as a comma list; annotation <c>aperture.dev/tenant-id</c>, the key's own tenant).
/// A Secret whose tenants are the wanted ones and whose key is live costs one GET of the central key list and
/// nothing else. Other tenants, or a key revoked or lost in the central runtime, make a new key written over the
/// Secret; the old key is handed back for revoking. The key itself is never logged (key ids are).
/// </summary>
public sealed partial class SiteAgentKeys(IKubernetes client, CentralApi central, ILogger logger)
{
    public const string Component = "agent-key";
    public const string KeyData = KeySecrets.KeyData;
    public const string KeyIdData = KeySecrets.KeyIdData;
    public const string TenantsData = "tenants";
    public const string TenantAnnotation = KeySecrets.TenantAnnotation;

    /// <summary>Agents push a lot, from many nodes at once: the key's limit is far above any Site's ingest.</summary>
    public const int RateLimitRps = 100_000;

    public static string CentralName(string ns, string site) => $"{ns}/{site}/agents";

    /// <summary>The distinct tenants in ordinal order; the key's own tenant is the first (<c>default</c> for none).</summary>
    public static IReadOnlyList<string> Normalize(IEnumerable<string> tenants)
    {
        var sorted = tenants.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        return sorted.Count == 0 ? [AgentResources.DefaultTenant] : sorted;
    }

    /// <exception cref="HttpRequestException">The central runtime did not answer or refused.</exception>
    /// <exception cref="AgentKeyConflictException">The Secret is in the way.</exception>
    public async Task<AgentKey> EnsureAsync(Site site, IEnumerable<string> tenants, CancellationToken cancellationToken)
    {
        var ns = site.Metadata.NamespaceProperty;
        var wanted = Normalize(tenants);
        var owner = wanted[0];
        var text = string.Join(',', wanted);
        var name = CentralName(ns, site.Metadata.Name);
        var secret = await ReadAsync(ns, AgentResources.KeySecretName(site), cancellationToken);
        if (secret is not null && secret.Metadata.OwnerReferences?.Any(o => o.Uid == site.Metadata.Uid) != true)
        {
            throw new AgentKeyConflictException($"Secret '{AgentResources.KeySecretName(site)}' exists and is not Site {site.Metadata.Name}'s");
        }

        var held = secret is null ? null : Held(secret);
        if (held is { } h && Data(secret!, TenantsData) == text)
        {
            // Steady: the key is live. Any other live key of this name in its tenant was made by an attempt that
            // could not write the Secret, and goes.
            var keys = await central.KeysAsync(h.Tenant, cancellationToken);
            if (keys.Any(k => k.KeyId == h.KeyId && !k.Revoked))
            {
                foreach (var orphan in keys.Where(k => k.Name == name && !k.Revoked && k.KeyId != h.KeyId))
                {
                    var (tenant, orphanId) = (h.Tenant, orphan.KeyId);
                    await central.RevokeKeyAsync(tenant, orphanId, cancellationToken);
                    LogRevoked(name, orphanId, tenant);
                }

                return new AgentKey(h.KeyId, null);
            }
        }

        var spec = new ApiKeySpec { TenantRef = new NamedReference { Name = owner }, Scope = ApiKeyScope.Ingestion, RateLimitRps = RateLimitRps };
        var created = await central.CreateKeyAsync(owner, name, spec, wanted, cancellationToken);
        try
        {
            await WriteAsync(site, secret, created, owner, text, cancellationToken);
        }
        catch (HttpOperationException)
        {
            // The Secret changed under us (or cannot be written): the new key must not outlive this attempt.
            await central.RevokeKeyAsync(owner, created.KeyId, cancellationToken);
            throw;
        }

        var replaced = held?.KeyId ?? "none";
        var keyId = created.KeyId;
        LogCreated(name, keyId, text, replaced);
        return new AgentKey(created.KeyId, held);
    }

    /// <summary>The key id in the Site's Secret, if the Secret is the Site's and holds one.</summary>
    public async Task<string?> HeldKeyIdAsync(Site site, CancellationToken cancellationToken)
    {
        var secret = await ReadAsync(site.Metadata.NamespaceProperty, AgentResources.KeySecretName(site), cancellationToken);
        return secret is not null && secret.Metadata.OwnerReferences?.Any(o => o.Uid == site.Metadata.Uid) == true ? Held(secret)?.KeyId : null;
    }

    /// <summary>Revokes a key (404 counts as done).</summary>
    public async Task RevokeAsync(string ns, string site, (string Tenant, string KeyId) key, CancellationToken cancellationToken)
    {
        var (tenant, keyId) = key;
        await central.RevokeKeyAsync(tenant, keyId, cancellationToken);
        var name = CentralName(ns, site);
        LogRevoked(name, keyId, tenant);
    }

    /// <summary>No agents left: the key is revoked, then its Secret (one this operator made for the Site) removed.</summary>
    public async Task RemoveAsync(string ns, string site, CancellationToken cancellationToken)
    {
        var secretName = $"{site}-agent-key";
        var secret = await ReadAsync(ns, secretName, cancellationToken);
        if (secret is null || Value(secret.Metadata.Labels, "app.kubernetes.io/component") != Component)
        {
            return;
        }

        if (Held(secret) is { } held)
        {
            await RevokeAsync(ns, site, held, cancellationToken);
        }

        try
        {
            await client.CoreV1.DeleteNamespacedSecretAsync(secretName, ns, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
        }
    }

    private static string? Value(IDictionary<string, string>? values, string key) =>
        values is not null && values.TryGetValue(key, out var value) ? value : null;

    private static string? Data(V1Secret secret, string key) =>
        secret.Data?.TryGetValue(key, out var bytes) == true ? Encoding.UTF8.GetString(bytes) : null;

    /// <summary>The key id and its own tenant, from the Secret.</summary>
    private static (string Tenant, string KeyId)? Held(V1Secret secret)
    {
        var keyId = Data(secret, KeyIdData);
        var tenant = Value(secret.Metadata.Annotations, TenantAnnotation) ?? Data(secret, TenantsData)?.Split(',')[0];
        return keyId is { Length: > 0 } && tenant is { Length: > 0 } ? (tenant, keyId) : null;
    }

    private Task WriteAsync(Site site, V1Secret? existing, CreatedApiKey created, string owner, string tenants, CancellationToken cancellationToken)
    {
        var metadata = ObjectMetadata.For(site, AgentResources.KeySecretName(site), Component);
        metadata.Annotations = new Dictionary<string, string>(StringComparer.Ordinal) { [TenantAnnotation] = owner };
        return KeySecrets.WriteAsync(client, metadata, existing, created, new Dictionary<string, string> { [TenantsData] = tenants }, cancellationToken);
    }

    private Task<V1Secret?> ReadAsync(string ns, string name, CancellationToken cancellationToken) => KeySecrets.ReadAsync(client, ns, name, cancellationToken);

    [LoggerMessage(EventId = 750, Level = LogLevel.Information, Message = "Agents {Name}: created key {KeyId} for tenants {Tenants} (replacing {Replaced})")]
    private partial void LogCreated(string name, string keyId, string tenants, string replaced);

    [LoggerMessage(EventId = 751, Level = LogLevel.Information, Message = "Agents {Name}: revoked key {KeyId} in tenant {Tenant}")]
    private partial void LogRevoked(string name, string keyId, string tenant);
}
