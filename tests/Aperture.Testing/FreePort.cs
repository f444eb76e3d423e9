using System.Net;
using System.Net.Sockets;

namespace Aperture.Testing;

public static class FreePort
{
    private const int First = 15_000;
    private static readonly Lock Gate = new();
    private static readonly List<FileStream> Claims = [];
    private static readonly string ClaimDirectory = Path.Combine(Path.GetTempPath(), "aperture-test-ports");
    private static int _next = First + Random.Shared.Next(0, 4000);

    /// <summary>
    /// A loopback port that is free and stays this process's (for servers that cannot bind port 0 themselves). Port 0's
    /// pick came from the kernel's ephemeral range, where any outgoing connection (a client of Prometheus, of ClickHouse)
    /// could take it before the server bound it; these come from below that range, and each is claimed with a lock
    /// file held for the life of the process, so the test assemblies that run at once never pick the same one.
    /// </summary>
    public static int Next()
    {
        lock (Gate)
        {
            Directory.CreateDirectory(ClaimDirectory);
            var end = EphemeralStart();
            for (var attempts = 0; attempts < end - First; attempts++)
            {
                var port = _next;
                _next = _next + 1 >= end ? First : _next + 1;
                if (TryClaim(port) is { } claim)
                {
                    if (IsFree(port))
                    {
                        Claims.Add(claim);
                        return port;
                    }

                    claim.Dispose();
                }
            }

            throw new InvalidOperationException($"no free loopback port between {First} and {end}");
        }
    }

    private static FileStream? TryClaim(int port)
    {
        try
        {
            // FileShare.None: another process's open of the same file fails while this one holds it; the lock goes with the process.
            return new FileStream(Path.Combine(ClaimDirectory, $"{port}.lock"), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            return null;
        }
    }

    private static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The first port of the kernel's ephemeral range (32768 on Linux by default).</summary>
    private static int EphemeralStart()
    {
        try
        {
            var range = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.TryParse(range[0], System.Globalization.CultureInfo.InvariantCulture, out var low) && low > First + 1000 ? low : 32_768;
        }
        catch (IOException)
        {
            return 32_768;
        }
    }
}
