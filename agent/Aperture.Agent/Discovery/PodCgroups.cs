using System.Globalization;

namespace Aperture.Agent.Discovery;

/// <summary>The pod (by UID) and container a process's cgroup places it in.</summary>
public sealed record PodContainer(string PodUid, string? ContainerId);

/// <summary>
/// Reads the pod UID out of <c>/proc/PID/cgroup</c>, in every form the kubelet writes it: cgroup v1 with the
/// cgroupfs driver (<c>/kubepods/burstable/pod&lt;uid&gt;/&lt;container&gt;</c>), the systemd driver
/// (<c>kubepods-burstable-pod&lt;uid with _&gt;.slice/cri-containerd-&lt;id&gt;.scope</c>, <c>docker-</c>,
/// <c>crio-</c>), and cgroup v2 (<c>0::/kubepods.slice/...</c>). Pure functions, so each form is tested on text.
/// </summary>
public static class PodCgroups
{
    private static readonly string[] ScopePrefixes = ["cri-containerd-", "docker-", "crio-", "containerd-", "cri-o-"];

    /// <summary>The pod of a whole cgroup file (one line per hierarchy), or null for a process outside any pod.</summary>
    public static PodContainer? Parse(string cgroupFile)
    {
        ArgumentNullException.ThrowIfNull(cgroupFile);
        foreach (var line in cgroupFile.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            // hierarchy-id:controllers:path; the path may itself hold ':' only in theory, so split twice.
            var first = line.IndexOf(':', StringComparison.Ordinal);
            var second = first < 0 ? -1 : line.IndexOf(':', first + 1);
            if (second < 0)
            {
                continue;
            }

            if (ParsePath(line[(second + 1)..]) is { } found)
            {
                return found;
            }
        }

        return null;
    }

    /// <summary>The pod of one cgroup path, or null when no segment names one.</summary>
    public static PodContainer? ParsePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var segments = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < segments.Length; i++)
        {
            if (PodUidOf(segments[i]) is not { } uid)
            {
                continue;
            }

            var container = i + 1 < segments.Length ? ContainerIdOf(segments[i + 1]) : null;
            return new PodContainer(uid, container);
        }

        return null;
    }

    /// <summary>
    /// <c>pod&lt;uid&gt;</c> (cgroupfs) or <c>kubepods[-qos]-pod&lt;uid_with_underscores&gt;.slice</c> (systemd; kind and
    /// other nested kubelets prefix it with <c>kubelet-</c>).
    /// </summary>
    private static string? PodUidOf(string segment)
    {
        string candidate;
        if (segment.StartsWith("pod", StringComparison.Ordinal))
        {
            candidate = segment[3..];
        }
        else if (segment.Contains("kubepods", StringComparison.Ordinal) && segment.EndsWith(".slice", StringComparison.Ordinal)
            && segment.LastIndexOf("-pod", StringComparison.Ordinal) is var at and >= 0)
        {
            candidate = segment[(at + 4)..^".slice".Length].Replace('_', '-');
        }
        else
        {
            return null;
        }

        return IsUid(candidate) ? candidate.ToLowerInvariant() : null;
    }

    private static string? ContainerIdOf(string segment)
    {
        var id = segment.EndsWith(".scope", StringComparison.Ordinal) ? segment[..^".scope".Length] : segment;
        foreach (var prefix in ScopePrefixes)
        {
            if (id.StartsWith(prefix, StringComparison.Ordinal))
            {
                id = id[prefix.Length..];
                break;
            }
        }

        return id.Length >= 12 && id.All(char.IsAsciiHexDigit) ? id : null;
    }

    // A Kubernetes pod UID is an RFC 4122 UUID; static pods use a 32-hex-digit hash of their manifest.
    private static bool IsUid(string text) =>
        (text.Length == 36 && Guid.TryParseExact(text, "D", out _))
        || (text.Length == 32 && text.All(char.IsAsciiHexDigit));

    /// <summary>
    /// The host's processes by the pod they run in, read from <c>&lt;hostRoot&gt;/proc/*/cgroup</c>. Processes
    /// that end while being read, or that the agent may not read, are skipped.
    /// </summary>
    public static Dictionary<string, List<int>> ProcessesByPod(string hostRoot)
    {
        var byPod = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        var proc = Path.Combine(hostRoot, "proc");
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories(proc);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return byPod;
        }

        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid <= 0)
            {
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(entry, "cgroup"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (Parse(text) is { } pod)
            {
                if (!byPod.TryGetValue(pod.PodUid, out var pids))
                {
                    byPod[pod.PodUid] = pids = [];
                }

                pids.Add(pid);
            }
        }

        foreach (var pids in byPod.Values)
        {
            pids.Sort();
        }

        return byPod;
    }
}
