namespace Aperture.Runtime.Access;

/// <summary>What a principal may do (aiops-api.md, RBAC). Routes declare the one they need where they are mapped.</summary>
public enum Permission
{
    /// <summary>Read the tenant's data.</summary>
    Read,

    /// <summary>Change the tenant's configuration (alert rules, monitored servers).</summary>
    Write,

    /// <summary>Push profiles, server samples and job events into the tenant; implied by <see cref="Write"/>.</summary>
    Ingest,

    ManageKeys,

    ManageUsers,

    /// <summary>Create and list tenants; act in any tenant.</summary>
    ManageTenants,
}

/// <summary>The four roles of DESIGN.md, by level.</summary>
public enum Role
{
    Viewer = 1,
    Editor = 2,
    Admin = 3,
    SuperAdmin = 4,
}

/// <summary>How the request proved who it is.</summary>
public enum CredentialKind
{
    /// <summary>Nothing is configured at all (a developer's machine): every request acts as super-admin.</summary>
    Open,
    AdminToken,
    Jwt,
    ApiKey,
    Login,
}

/// <summary>The caller of a request: a tenant, a subject (email or key id), a role, and what it may do.</summary>
/// <param name="RateLimitRps">Requests per second this credential may make (an API key's limit); null: none.</param>
/// <param name="ExpiresAt">When the credential stops working, where it says.</param>
/// <param name="IngestTenants">Tenants besides its own that the credential may push into (a Site's agent key).</param>
public sealed record Principal(
    string Tenant, string Subject, Role Role, IReadOnlySet<Permission> Permissions, CredentialKind Credential, int? RateLimitRps = null,
    DateTimeOffset? ExpiresAt = null, IReadOnlySet<string>? IngestTenants = null)
{
    /// <summary>Whether data it pushes may belong to <paramref name="tenant"/>.</summary>
    public bool MayIngestInto(string tenant) =>
        Has(Permission.Ingest) && (tenant == Tenant || Role == Role.SuperAdmin || IngestTenants?.Contains(tenant) == true);

    public bool Has(Permission permission) =>
        Permissions.Contains(permission) || (permission == Permission.Ingest && Permissions.Contains(Permission.Write));

    public static Principal ForRole(string tenant, string subject, Role role, CredentialKind credential) =>
        new(tenant, subject, role, Roles.PermissionsOf(role), credential);
}

/// <summary>Names and permissions of the roles, as the spec writes them.</summary>
public static class Roles
{
    private static readonly IReadOnlySet<Permission> ViewerPermissions = new HashSet<Permission> { Permission.Read };
    private static readonly IReadOnlySet<Permission> EditorPermissions = new HashSet<Permission> { Permission.Read, Permission.Write };
    private static readonly IReadOnlySet<Permission> AdminPermissions =
        new HashSet<Permission> { Permission.Read, Permission.Write, Permission.ManageKeys, Permission.ManageUsers };
    private static readonly IReadOnlySet<Permission> SuperAdminPermissions =
        new HashSet<Permission> { Permission.Read, Permission.Write, Permission.ManageKeys, Permission.ManageUsers, Permission.ManageTenants };

    public static IReadOnlySet<Permission> PermissionsOf(Role role) => role switch
    {
        Role.Viewer => ViewerPermissions,
        Role.Editor => EditorPermissions,
        Role.Admin => AdminPermissions,
        _ => SuperAdminPermissions,
    };

    public static string Name(Role role) => role switch
    {
        Role.Viewer => "viewer",
        Role.Editor => "editor",
        Role.Admin => "admin",
        _ => "super-admin",
    };

    public static bool TryParse(string? name, out Role role)
    {
        switch (name)
        {
            case "viewer":
                role = Role.Viewer;
                return true;
            case "editor":
                role = Role.Editor;
                return true;
            case "admin":
                role = Role.Admin;
                return true;
            case "super-admin":
                role = Role.SuperAdmin;
                return true;
            default:
                role = default;
                return false;
        }
    }

    public static bool TryParsePermission(string? name, out Permission permission)
    {
        foreach (var candidate in Enum.GetValues<Permission>())
        {
            if (Name(candidate) == name)
            {
                permission = candidate;
                return true;
            }
        }

        permission = default;
        return false;
    }

    public static string Name(Permission permission) => permission switch
    {
        Permission.Read => "read",
        Permission.Write => "write",
        Permission.Ingest => "ingest",
        Permission.ManageKeys => "manage_keys",
        Permission.ManageUsers => "manage_users",
        _ => "manage_tenants",
    };
}
