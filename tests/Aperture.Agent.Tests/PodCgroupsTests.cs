using Aperture.Agent.Discovery;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

/// <summary>The pod of a process from its /proc/PID/cgroup, in each form kubelets and runtimes write.</summary>
public sealed class PodCgroupsTests
{
    private const string Uid = "6f1d2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
    private const string Container = "3f9c1a2b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f";

    [Fact]
    public void Cgroup_v1_with_the_cgroupfs_driver()
    {
        var file = $"""
            12:pids:/kubepods/burstable/pod{Uid}/{Container}
            11:memory:/kubepods/burstable/pod{Uid}/{Container}
            1:name=systemd:/kubepods/burstable/pod{Uid}/{Container}
            """;

        Assert.Equal(new PodContainer(Uid, Container), PodCgroups.Parse(file));
    }

    [Fact]
    public void Guaranteed_pods_sit_directly_under_kubepods()
    {
        Assert.Equal(new PodContainer(Uid, Container), PodCgroups.Parse($"4:cpu,cpuacct:/kubepods/pod{Uid}/{Container}\n"));
    }

    [Fact]
    public void Cgroup_v1_with_the_systemd_driver_and_containerd()
    {
        var file = $"""
            11:memory:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{Uid.Replace('-', '_')}.slice/cri-containerd-{Container}.scope
            1:name=systemd:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{Uid.Replace('-', '_')}.slice/cri-containerd-{Container}.scope
            """;

        Assert.Equal(new PodContainer(Uid, Container), PodCgroups.Parse(file));
    }

    [Fact]
    public void Cgroup_v2_with_systemd_and_each_runtime()
    {
        var slice = $"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{Uid.Replace('-', '_')}.slice";
        foreach (var scope in new[] { "cri-containerd", "docker", "crio" })
        {
            Assert.Equal(new PodContainer(Uid, Container), PodCgroups.Parse($"{slice}/{scope}-{Container}.scope\n"));
        }

        Assert.Equal(new PodContainer(Uid, null), PodCgroups.Parse($"{slice}\n"));
    }

    [Fact]
    public void A_nested_kubelet_prefixes_its_slices()
    {
        var file = $"0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-pod{Uid.Replace('-', '_')}.slice/cri-containerd-{Container}.scope\n";

        Assert.Equal(new PodContainer(Uid, Container), PodCgroups.Parse(file));
    }

    [Fact]
    public void Processes_outside_pods_have_none()
    {
        Assert.Null(PodCgroups.Parse("0::/system.slice/containerd.service\n"));
        Assert.Null(PodCgroups.Parse("0::/\n"));
        Assert.Null(PodCgroups.Parse("0::/user.slice/user-1000.slice/session-2.scope\n"));
        Assert.Null(PodCgroups.Parse("0::/kubepods.slice/kubepods-burstable.slice\n"));
        Assert.Null(PodCgroups.Parse("0::/kubepods/burstable/podnot-a-uid/abc\n"));
        Assert.Null(PodCgroups.Parse("garbage"));
    }

    [Fact]
    public void A_host_root_is_scanned_into_processes_by_pod()
    {
        using var root = new TemporaryDirectory("aperture-cgroups");
        var other = Guid.NewGuid().ToString();
        FakeProc.Write(root.Path, 100, $"0::/kubepods/burstable/pod{Uid}/{Container}");
        FakeProc.Write(root.Path, 101, $"0::/kubepods.slice/kubepods-pod{Uid.Replace('-', '_')}.slice/cri-containerd-{Container}.scope");
        FakeProc.Write(root.Path, 200, $"0::/kubepods/besteffort/pod{other}/{Container}");
        FakeProc.Write(root.Path, 300, "0::/system.slice/sshd.service");
        Directory.CreateDirectory(Path.Combine(root.Path, "proc", "self"));

        var byPod = PodCgroups.ProcessesByPod(root.Path);

        Assert.Equal([100, 101], byPod[Uid]);
        Assert.Equal([200], byPod[other]);
        Assert.Equal(2, byPod.Count);
    }
}

/// <summary>A fake host root: proc/PID/cgroup files written by the test.</summary>
internal static class FakeProc
{
    public static void Write(string root, int pid, string cgroup)
    {
        var dir = Path.Combine(root, "proc", pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "cgroup"), cgroup + "\n");
    }

    public static string PodCgroup(string uid) => $"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.Replace('-', '_')}.slice/cri-containerd-{new string('a', 64)}.scope";
}
