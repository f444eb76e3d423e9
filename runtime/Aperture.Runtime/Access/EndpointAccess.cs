namespace Aperture.Runtime.Access;

/// <summary>What a route declares about who may call it; the last one declared on an endpoint counts.</summary>
public interface IAccessRule;

/// <summary>The route needs a principal with this permission.</summary>
public sealed record RequiredPermission(Permission Permission) : IAccessRule;

/// <summary>Any valid credential, whatever it may do (a principal asking what it may do).</summary>
public sealed record AuthenticatedRoute : IAccessRule;

/// <summary>Open to anyone: probes, scrapers, the login flow, public keys.</summary>
public sealed record PublicRoute(string Why) : IAccessRule;

/// <summary>The route checks a credential of its own (a monitored server's ingest token), which nothing else is.</summary>
public sealed record OwnCredential(string What) : IAccessRule;

/// <summary>Declaring access where a route is mapped: <c>MapGet(…).Requires(Permission.Read)</c>.</summary>
public static class EndpointAccess
{
    public static TBuilder Requires<TBuilder>(this TBuilder builder, Permission permission)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RequiredPermission(permission));

    public static TBuilder RequiresAuthentication<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AuthenticatedRoute());

    public static TBuilder Public<TBuilder>(this TBuilder builder, string why)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new PublicRoute(why));

    public static TBuilder WithOwnCredential<TBuilder>(this TBuilder builder, string what)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new OwnCredential(what));

    /// <summary>The rule an endpoint declared, or null when it declared none (refused: access fails closed).</summary>
    public static IAccessRule? RuleOf(Endpoint endpoint) => endpoint.Metadata.GetMetadata<IAccessRule>();
}
