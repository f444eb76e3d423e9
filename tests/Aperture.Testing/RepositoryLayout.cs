namespace Aperture.Testing;

/// <summary>Where the repository and what 'make deps' installs are, seen from a test's output folder.</summary>
public static class RepositoryLayout
{
    public static string Root { get; } = FindRoot();

    /// <summary>The chdb library unpacked by 'make deps', or APERTURE_CHDB_LIBRARY when set.</summary>
    public static string ChdbLibrary =>
        Environment.GetEnvironmentVariable("APERTURE_CHDB_LIBRARY") is { Length: > 0 } configured
            ? configured
            : Path.Combine(Root, ".deps", "chdb", "libchdb.so");

    /// <summary>node_modules of the Node tools 'make deps' installs (pprof-format).</summary>
    public static string NodeModules => Path.Combine(Root, ".deps", "node", "node_modules");

    /// <summary>Debian's redis-server, or APERTURE_REDIS_SERVER when set.</summary>
    public static string RedisServer =>
        Environment.GetEnvironmentVariable("APERTURE_REDIS_SERVER") is { Length: > 0 } configured ? configured : "/usr/bin/redis-server";

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Operator.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Operator.sln above {AppContext.BaseDirectory}");
    }
}
