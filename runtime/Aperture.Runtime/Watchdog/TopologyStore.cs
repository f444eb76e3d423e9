using Aperture.Runtime.Watchdog.Rca;
using ClickHouse.Driver;
using ClickHouse.Driver.ADO.Parameters;
using ClickHouse.Driver.Utility;

namespace Aperture.Runtime.Watchdog;

/// <summary>A call between two services: the caller depends on the callee.</summary>
public readonly record struct TopologyEdge(string Caller, string Callee);

/// <summary>The tenants' service graphs: edges given through the API and edges seen in metrics.</summary>
public sealed class TopologyStore(ClickHouseClient client, string database, TimeProvider time)
{
    public const string FromApi = "api";
    public const string FromMetrics = "metrics";
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, (long At, IReadOnlyList<(TopologyEdge Edge, string Origin)> Edges)> _cache = [];
    private readonly Lock _cacheLock = new();

    /// <summary>Replaces the tenant's API edges with <paramref name="edges"/> (edges seen in metrics stay).</summary>
    public async Task ReplaceApiEdgesAsync(string tenant, IReadOnlyCollection<TopologyEdge> edges, CancellationToken cancellationToken)
    {
        var current = (await EdgesAsync(tenant, fresh: true, cancellationToken)).Where(e => e.Origin == FromApi).Select(e => e.Edge).ToHashSet();
        var removed = current.Except(edges).ToList();
        await WriteAsync(tenant, FromApi, edges.Except(current).ToList(), removed: false, cancellationToken);
        await WriteAsync(tenant, FromApi, removed, removed: true, cancellationToken);
        Forget(tenant);
    }

    public async Task AddMetricEdgesAsync(string tenant, IReadOnlyCollection<TopologyEdge> edges, CancellationToken cancellationToken)
    {
        await WriteAsync(tenant, FromMetrics, edges, removed: false, cancellationToken);
        Forget(tenant);
    }

    public async Task<IReadOnlyList<(TopologyEdge Edge, string Origin)>> EdgesAsync(string tenant, bool fresh, CancellationToken cancellationToken)
    {
        var now = time.GetTimestamp();
        lock (_cacheLock)
        {
            if (!fresh && _cache.TryGetValue(tenant, out var cached) && time.GetElapsedTime(cached.At, now) < CacheFor)
            {
                return cached.Edges;
            }
        }

        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        using var reader = await client.ExecuteReaderAsync(
            $"SELECT caller, callee, toString(origin) FROM `{database}`.watchdog_topology FINAL WHERE tenant = {{tenant:String}} AND removed = 0 ORDER BY caller, callee",
            parameters,
            cancellationToken: cancellationToken);
        var edges = new List<(TopologyEdge, string)>();
        while (await reader.ReadAsync(cancellationToken))
        {
            edges.Add((new TopologyEdge(reader.GetString(0), reader.GetString(1)), reader.GetString(2)));
        }

        lock (_cacheLock)
        {
            _cache[tenant] = (now, edges);
        }

        return edges;
    }

    public async Task<ServiceGraph> GraphAsync(string tenant, CancellationToken cancellationToken)
    {
        var graph = new ServiceGraph();
        foreach (var (edge, _) in await EdgesAsync(tenant, fresh: false, cancellationToken))
        {
            graph.AddEdge(edge.Caller, edge.Callee);
        }

        return graph;
    }

    private void Forget(string tenant)
    {
        lock (_cacheLock)
        {
            _cache.Remove(tenant);
        }
    }

    private async Task WriteAsync(string tenant, string origin, IReadOnlyCollection<TopologyEdge> edges, bool removed, CancellationToken cancellationToken)
    {
        if (edges.Count == 0)
        {
            return;
        }

        var parameters = new ClickHouseParameterCollection();
        parameters.AddParameter("tenant", tenant);
        parameters.AddParameter("origin", origin);
        parameters.AddParameter("callers", edges.Select(e => e.Caller).ToArray());
        parameters.AddParameter("callees", edges.Select(e => e.Callee).ToArray());
        parameters.AddParameter("removed", removed ? 1 : 0);
        parameters.AddParameter("at", time.GetUtcNow().ToUnixTimeMilliseconds());
        await client.ExecuteNonQueryAsync(
            $"INSERT INTO `{database}`.watchdog_topology (tenant, origin, caller, callee, removed, updated_at) " +
            "SELECT {tenant:String}, {origin:String}, c.1, c.2, {removed:UInt8}, fromUnixTimestamp64Milli({at:Int64}, 'UTC') " +
            "FROM (SELECT arrayJoin(arrayZip({callers:Array(String)}, {callees:Array(String)})) AS c)",
            parameters,
            cancellationToken: cancellationToken);
    }
}
