namespace Aperture.Agent.Services;

/// <summary>
/// What the agent can tell about where it runs: Kubernetes (from the in-cluster environment and the
/// node name the DaemonSet passes), a container runtime socket, and the host. It watches nothing; the
/// operator decides what to profile and hands it over in the configuration.
/// </summary>
public sealed class DiscoveryStatus(Func<string, string?> environment, string hostRoot)
{
    private static readonly string[] RuntimeSockets = ["run/containerd/containerd.sock", "var/run/docker.sock", "run/crio/crio.sock"];

    public bool Kubernetes => environment("KUBERNETES_SERVICE_HOST") is { Length: > 0 };

    public string? NodeName => environment("NODE_NAME") is { Length: > 0 } node ? node : null;

    public string? Namespace => environment("POD_NAMESPACE") is { Length: > 0 } ns ? ns : null;

    public string? ContainerRuntimeSocket =>
        RuntimeSockets.Select(s => Path.Combine(hostRoot, s)).FirstOrDefault(File.Exists);

    /// <summary>Failed only where the agent runs in Kubernetes but was not told its node (the DaemonSet sets NODE_NAME).</summary>
    public string Check() => Kubernetes && NodeName is null ? "failed: running in Kubernetes but NODE_NAME is not set" : "ok";
}
