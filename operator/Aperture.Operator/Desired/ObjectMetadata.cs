using Aperture.Resources;
using k8s;
using k8s.Models;

namespace Aperture.Operator.Desired;

/// <summary>Labels, owner references and names every object the operator makes carries.</summary>
public static class ObjectMetadata
{
    /// <summary>The one field manager of the operator's server-side apply.</summary>
    public const string FieldManager = "aperture-operator";

    public const string ManagedBy = "aperture-operator";

    public static Dictionary<string, string> Labels(string component, string instance) => new(StringComparer.Ordinal)
    {
        ["app.kubernetes.io/name"] = $"aperture-{component}",
        ["app.kubernetes.io/instance"] = instance,
        ["app.kubernetes.io/component"] = component,
        ["app.kubernetes.io/part-of"] = "aperture",
        ["app.kubernetes.io/managed-by"] = ManagedBy,
    };

    /// <summary>The labels that select a component's pods (a subset that never changes).</summary>
    public static Dictionary<string, string> Selector(string component, string instance) => new(StringComparer.Ordinal)
    {
        ["app.kubernetes.io/name"] = $"aperture-{component}",
        ["app.kubernetes.io/instance"] = instance,
    };

    /// <summary>A controller reference, so that garbage collection removes the object with its owner.</summary>
    public static V1OwnerReference OwnedBy<T>(T owner)
        where T : IKubernetesObject<V1ObjectMeta> => new()
        {
            ApiVersion = owner.ApiVersion,
            Kind = owner.Kind,
            Name = owner.Metadata.Name,
            Uid = owner.Metadata.Uid,
            Controller = true,
            BlockOwnerDeletion = true,
        };

    public static V1ObjectMeta For<T>(T owner, string name, string component)
        where T : IKubernetesObject<V1ObjectMeta> => new()
        {
            Name = name,
            NamespaceProperty = owner.Metadata.NamespaceProperty,
            Labels = Labels(component, owner.Metadata.Name),
            OwnerReferences = [OwnedBy(owner)],
        };

    /// <summary>A short hash of a ConfigMap's data: a pod-template annotation that rolls the pods when the data changes.</summary>
    public static string ContentHash(V1ConfigMap configMap, params string[] keys)
    {
        var text = string.Join('\n', configMap.Data
            .Where(kv => keys.Length == 0 || keys.Contains(kv.Key))
            .OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => $"{kv.Key}={kv.Value}"));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text)))[..16];
    }

    public static V1EnvVar FromSecret(string name, SecretKeyReference reference, bool optional = false) => new()
    {
        Name = name,
        ValueFrom = new V1EnvVarSource
        {
            SecretKeyRef = new V1SecretKeySelector { Name = reference.Name, Key = reference.Key, Optional = optional ? true : null },
        },
    };
}
