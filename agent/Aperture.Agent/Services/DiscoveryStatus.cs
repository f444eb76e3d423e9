using Aperture.Agent.Discovery;

namespace Aperture.Agent.Services;

/// <summary>
/// What the agent can tell about where it runs: Kubernetes (from the in-cluster environment or
/// <c>discovery.kubernetes.api_server</c>, and the node name the DaemonSet passes), a container runtime
/// socket, and the host; and, through <see cref="TargetDiscovery"/>, whether the pods of its profiling
/// targets are known.
/// </summary>
public sealed class DiscoveryStatus(Func<string, string?> environment, string hostRoot, TargetDiscovery targets)
{
    private static readonly string[] RuntimeSockets = ["run/containerd/containerd.sock", "var/run/docker.sock", "run/crio/crio.sock"];

    public bool Kubernetes => targets.KubernetesEnabled;

    public string? NodeName => targets.NodeName;

    public string? Namespace => environment("POD_NAMESPACE") is { Length: > 0 } ns ? ns : null;

    public string? ContainerRuntimeSocket =>
        RuntimeSockets.Select(s => Path.Combine(hostRoot, s)).FirstOrDefault(File.Exists);

    public TargetDiscovery Targets => targets;

    /// <summary>
    /// Failed where the agent runs in Kubernetes but was not told its node (the DaemonSet sets NODE_NAME), or
    /// where targets select pods that cannot be known (no Kubernetes, the API unreachable or refusing).
    /// </summary>
    public string Check() =>
        Kubernetes && NodeName is null ? "failed: running in Kubernetes but NODE_NAME is not set"
        : targets.WatchesPods && targets.Problem is { } problem ? $"failed: kubernetes: {problem}"
        : "ok";
}
