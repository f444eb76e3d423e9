namespace Aperture.Runtime.Platform;

/// <summary>
/// The tenant every datum belongs to. Until credentials carry one (DESIGN.md, "Identity and tenancy"),
/// every row and Redis key is written under <see cref="Default"/>; this is the one place that says so.
/// </summary>
public static class Tenants
{
    public const string Default = "default";
}
