using System.Text;
using Aperture.Agent.Delivery;
using Aperture.Testing;

namespace Aperture.Agent.Tests;

public sealed class SpoolDirectoryTests
{
    private static byte[] Payload(string text) => Encoding.UTF8.GetBytes(text);

    [Fact]
    public void A_full_spool_drops_the_oldest_payloads_first_and_counts_them()
    {
        using var dir = new TemporaryDirectory("agent-spool");
        var spool = new SpoolDirectory(dir.Path, maxBytes: 1000);

        for (var i = 0; i < 25; i++)
        {
            spool.Append(i % 2 == 0 ? "jobs" : "samples", Payload($"payload-{i:D2}-" + new string('x', 89))); // 100 bytes each
        }

        Assert.Equal(10, spool.Count);
        Assert.True(spool.Bytes <= 1000);
        Assert.Equal(15, spool.Dropped);
        Assert.Equal(8, spool.DroppedOf("jobs"));   // 0, 2, …, 14
        Assert.Equal(7, spool.DroppedOf("samples")); // 1, 3, …, 13
        var kept = spool.Oldest("jobs", 100).Select(e => Encoding.UTF8.GetString(spool.Read(e)!)[..10]).ToList();
        Assert.Equal(["payload-16", "payload-18", "payload-20", "payload-22", "payload-24"], kept);
        Assert.Equal(10, Directory.GetFiles(dir.Path).Length);
    }

    [Fact]
    public void A_restarted_agent_finds_the_spool_in_order_and_ignores_half_written_files()
    {
        using var dir = new TemporaryDirectory("agent-spool");
        var first = new SpoolDirectory(dir.Path, maxBytes: 1 << 20);
        foreach (var text in new[] { "a", "b", "c" })
        {
            first.Append("profiles", Payload(text));
        }

        first.Remove(first.Oldest("profiles", 1)[0]);
        File.WriteAllText(Path.Combine(dir.Path, "00000000000000000099.profiles.spool.tmp"), "torn");

        var second = new SpoolDirectory(dir.Path, maxBytes: 1 << 20);
        Assert.Equal(["b", "c"], second.Oldest("profiles", 10).Select(e => Encoding.UTF8.GetString(second.Read(e)!)));
        second.Append("profiles", Payload("d"));
        Assert.Equal(["b", "c", "d"], second.Oldest("profiles", 10).Select(e => Encoding.UTF8.GetString(second.Read(e)!)));
        Assert.False(File.Exists(Path.Combine(dir.Path, "00000000000000000099.profiles.spool.tmp")));
    }

    [Fact]
    public void Shrinking_the_limit_drops_at_once_and_a_payload_larger_than_the_spool_is_refused()
    {
        using var dir = new TemporaryDirectory("agent-spool");
        var spool = new SpoolDirectory(dir.Path, maxBytes: 10_000);
        for (var i = 0; i < 10; i++)
        {
            spool.Append("jobs", new byte[500]);
        }

        spool.Resize(2_000);
        Assert.Equal(4, spool.Count);
        Assert.Equal(6, spool.Dropped);
        Assert.Null(spool.Append("jobs", new byte[3_000]));
        Assert.Equal(7, spool.Dropped);
        Assert.Equal(4, spool.Count);
    }

    [Fact]
    public void Backoff_grows_with_failures_within_its_jitter_and_cap()
    {
        var policy = new RetryPolicy(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(2));
        for (var failures = 1; failures < 12; failures++)
        {
            var ceiling = Math.Min(2000, 100 * Math.Pow(2, failures - 1));
            var delay = policy.Delay(failures).TotalMilliseconds;
            Assert.InRange(delay, ceiling / 2, ceiling);
        }

        Assert.Equal(TimeSpan.FromSeconds(2), policy.Delay(1, retryAfter: TimeSpan.FromMinutes(5)));
        Assert.Equal(TimeSpan.FromSeconds(1), policy.Delay(1, retryAfter: TimeSpan.FromSeconds(1)));
    }
}
