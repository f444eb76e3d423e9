using System.Net;
using System.Text;
using Aperture.Operator.Desired;
using k8s;
using k8s.Autorest;
using k8s.Models;

namespace Aperture.Operator.Reconcilers;

/// <summary>
/// The Secrets the central runtime's API keys are written into (an ApiKey's, a Site's agents'): the key and its id,
/// created the first time and replaced by resourceVersion when the key is rotated.
/// </summary>
public static class KeySecrets
{
    public const string KeyData = "api-key";
    public const string KeyIdData = "key-id";

    /// <summary>The tenant the key was made in, which its revocation must name.</summary>
    public const string TenantAnnotation = "aperture.dev/tenant-id";

    /// <returns>The Secret, or null when there is none.</returns>
    public static async Task<V1Secret?> ReadAsync(IKubernetes client, string ns, string name, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CoreV1.ReadNamespacedSecretAsync(name, ns, cancellationToken: cancellationToken);
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }
    }

    /// <param name="metadata">The Secret's name, namespace, owner and annotations.</param>
    /// <param name="extraData">Data besides the key and its id.</param>
    public static async Task WriteAsync(
        IKubernetes client, V1ObjectMeta metadata, V1Secret? existing, CreatedApiKey created, IReadOnlyDictionary<string, string>? extraData, CancellationToken cancellationToken)
    {
        var data = new Dictionary<string, byte[]>(StringComparer.Ordinal)
        {
            [KeyData] = Encoding.UTF8.GetBytes(created.Key),
            [KeyIdData] = Encoding.UTF8.GetBytes(created.KeyId),
        };
        foreach (var (name, value) in extraData ?? new Dictionary<string, string>())
        {
            data[name] = Encoding.UTF8.GetBytes(value);
        }

        var secret = new V1Secret { ApiVersion = "v1", Kind = "Secret", Metadata = metadata, Type = "Opaque", Data = data };
        if (existing is null)
        {
            await client.CoreV1.CreateNamespacedSecretAsync(secret, metadata.NamespaceProperty, fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
        }
        else
        {
            metadata.ResourceVersion = existing.Metadata.ResourceVersion;
            await client.CoreV1.ReplaceNamespacedSecretAsync(
                secret, metadata.Name, metadata.NamespaceProperty, fieldManager: ObjectMetadata.FieldManager, cancellationToken: cancellationToken);
        }
    }
}
