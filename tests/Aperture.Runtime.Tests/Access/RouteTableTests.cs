using Aperture.Runtime.Access;
using Aperture.Runtime.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Aperture.Runtime.Tests.Access;

/// <summary>Every route of every role declares who may call it where it is mapped; a route added without a rule fails here.</summary>
public sealed class RouteTableTests
{
    private static IReadOnlyList<(string Route, IAccessRule? Rule)> RoutesOf(string role)
    {
        var app = RuntimeApplication.Build(["--role", role, "--http-port", "0", "--grpc-port", "0", "--jobs-port", "0", "--webhook-port", "0"]);
        try
        {
            return [.. ((IEndpointRouteBuilder)app).DataSources.SelectMany(source => source.Endpoints).Select(endpoint => (Name(endpoint), EndpointAccess.RuleOf(endpoint)))];
        }
        finally
        {
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }

    private static string Name(Endpoint endpoint) =>
        endpoint is RouteEndpoint route
            ? $"{string.Join(',', endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["*"])} {route.RoutePattern.RawText}"
            : endpoint.DisplayName ?? "?";

    [Theory]
    [InlineData(RuntimeOptions.AggregatorRole)]
    [InlineData(RuntimeOptions.CentralRole)]
    public void Every_route_declares_its_access(string role)
    {
        var routes = RoutesOf(role);

        Assert.NotEmpty(routes);
        // gRPC's own "unimplemented method" endpoints answer UNIMPLEMENTED for names the service does not have.
        var undeclared = routes.Where(r => r.Rule is null && !r.Route.Contains("{unimplemented", StringComparison.Ordinal)).Select(r => r.Route).ToList();
        Assert.True(undeclared.Count == 0, $"routes without a declared permission: {string.Join("; ", undeclared)}");
    }

    [Theory]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /api/push", "Ingest")]
    [InlineData(RuntimeOptions.AggregatorRole, "* /aperture.v1.Aggregator/Push", "Ingest")]
    [InlineData(RuntimeOptions.AggregatorRole, "* /aperture.v1.Aggregator/Aggregate", "Read")]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /api/aggregate", "Read")]
    [InlineData(RuntimeOptions.AggregatorRole, "GET /api/export/pprof", "Read")]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /api/alerts", "Write")]
    [InlineData(RuntimeOptions.AggregatorRole, "GET /api/servers/", "Read")]
    [InlineData(RuntimeOptions.AggregatorRole, "PUT /api/admin/servers/{slug}", "Write")]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /api/admin/api-keys", "ManageKeys")]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /v1/ingest/events", "Ingest")]
    [InlineData(RuntimeOptions.AggregatorRole, "GET /v1/stream", "Read")]
    [InlineData(RuntimeOptions.AggregatorRole, "POST /api/ingest/servers/{slug}/metrics/", "own")]
    [InlineData(RuntimeOptions.AggregatorRole, "GET /healthz", "public")]
    [InlineData(RuntimeOptions.AggregatorRole, "GET /v1/healthz", "public")]
    [InlineData(RuntimeOptions.CentralRole, "GET /v1/jobs", "Read")]
    [InlineData(RuntimeOptions.CentralRole, "GET /readyz", "public")]
    public void A_route_needs_what_the_spec_gives_it(string role, string route, string expected)
    {
        var routes = RoutesOf(role);
        var rules = routes.Where(r => r.Route == route).Select(r => r.Rule).ToList();

        Assert.True(rules.Count == 1, $"{route} is mapped {rules.Count} times among: {string.Join("; ", routes.Select(r => r.Route))}");
        var rule = rules[0];
        Assert.Equal(expected, rule switch
        {
            RequiredPermission required => required.Permission.ToString(),
            PublicRoute => "public",
            OwnCredential => "own",
            _ => "none",
        });
    }
}
