using Aperture.Operator.Crds;

namespace Aperture.KubernetesTestServer;

/// <summary>A resource type the server serves: where it lives in the URL space and what it is.</summary>
public sealed record ResourceKind(string Group, string Version, string Plural, string Kind, bool HasStatus, k8s.Models.V1JSONSchemaProps? Schema)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";
}

/// <summary>The kinds the operator uses: a few built-ins, and every Aperture kind from its generated CRD.</summary>
public static class ResourceKinds
{
    public static IReadOnlyList<ResourceKind> All { get; } =
    [
        new(string.Empty, "v1", "services", "Service", true, null),
        new(string.Empty, "v1", "configmaps", "ConfigMap", false, null),
        new(string.Empty, "v1", "secrets", "Secret", false, null),
        new(string.Empty, "v1", "events", "Event", false, null),
        new(string.Empty, "v1", "pods", "Pod", true, null),
        new(string.Empty, "v1", "serviceaccounts", "ServiceAccount", false, null),
        new("rbac.authorization.k8s.io", "v1", "roles", "Role", false, null),
        new("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", false, null),
        new("apps", "v1", "statefulsets", "StatefulSet", true, null),
        new("apps", "v1", "daemonsets", "DaemonSet", true, null),
        new("coordination.k8s.io", "v1", "leases", "Lease", false, null),
        .. CrdGenerator.Kinds.Select(CrdGenerator.Generate).Select(crd => new ResourceKind(
            crd.Spec.Group, crd.Spec.Versions[0].Name, crd.Spec.Names.Plural, crd.Spec.Names.Kind,
            crd.Spec.Versions[0].Subresources?.Status is not null, crd.Spec.Versions[0].Schema.OpenAPIV3Schema)),
    ];

    public static ResourceKind? Find(string group, string version, string plural) =>
        All.FirstOrDefault(k => k.Group == group && k.Version == version && k.Plural == plural);
}
