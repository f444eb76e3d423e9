namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>
/// A directed call graph, edges caller → callee. Faults propagate against the edges (a slow callee makes its
/// callers slow), so a service's transitive callees are its upstream (cause side) and its transitive callers its
/// downstream. Not thread-safe: build it, then read it.
/// </summary>
public sealed class ServiceGraph
{
    private static readonly IReadOnlyCollection<string> None = [];
    private readonly Dictionary<string, HashSet<string>> _callees = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _callers = new(StringComparer.Ordinal);

    /// <summary>Every service that takes part in at least one edge.</summary>
    public IReadOnlyCollection<string> Services
    {
        get
        {
            var all = new HashSet<string>(_callees.Keys, StringComparer.Ordinal);
            all.UnionWith(_callers.Keys);
            return all;
        }
    }

    public int EdgeCount { get; private set; }

    /// <summary>Adds caller → callee; a repeated edge or a self-call (which says nothing about direction) is ignored.</summary>
    public void AddEdge(string caller, string callee)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(caller);
        ArgumentException.ThrowIfNullOrWhiteSpace(callee);
        if (string.Equals(caller, callee, StringComparison.Ordinal))
        {
            return;
        }

        if (Set(_callees, caller).Add(callee))
        {
            Set(_callers, callee).Add(caller);
            EdgeCount++;
        }
    }

    public IReadOnlyCollection<string> CalleesOf(string service) => _callees.TryGetValue(service, out var s) ? s : None;

    public IReadOnlyCollection<string> CallersOf(string service) => _callers.TryGetValue(service, out var s) ? s : None;

    public bool Contains(string service) => _callees.ContainsKey(service) || _callers.ContainsKey(service);

    /// <summary>Services reachable from <paramref name="service"/> along caller → callee edges within <paramref name="maxHops"/>, with their hop distance (the service itself excluded).</summary>
    public IReadOnlyDictionary<string, int> Upstream(string service, int maxHops) => Walk(service, maxHops, _callees, null);

    /// <summary>Services that reach <paramref name="service"/> along caller → callee edges within <paramref name="maxHops"/>, with their hop distance.</summary>
    public IReadOnlyDictionary<string, int> Downstream(string service, int maxHops) => Walk(service, maxHops, _callers, null);

    /// <summary>Services within <paramref name="maxHops"/> of <paramref name="service"/> ignoring edge direction (siblings through a shared caller included).</summary>
    public IReadOnlyDictionary<string, int> Neighbourhood(string service, int maxHops) => Walk(service, maxHops, _callees, _callers);

    /// <summary>Hop distance ignoring direction, or null when <paramref name="to"/> is not connected to <paramref name="from"/>.</summary>
    public int? HopDistance(string from, string to)
    {
        if (string.Equals(from, to, StringComparison.Ordinal))
        {
            return 0;
        }

        return Neighbourhood(from, int.MaxValue).TryGetValue(to, out var hops) ? hops : null;
    }

    /// <summary>The shortest caller → callee path from <paramref name="from"/> to <paramref name="to"/> (both included), or null.</summary>
    public IReadOnlyList<string>? CallPath(string from, string to)
    {
        var previous = new Dictionary<string, string>(StringComparer.Ordinal) { [from] = from };
        var queue = new Queue<string>();
        queue.Enqueue(from);
        while (queue.Count > 0)
        {
            var current = queue.Dequeue();
            if (string.Equals(current, to, StringComparison.Ordinal))
            {
                var path = new List<string> { to };
                while (!string.Equals(path[^1], from, StringComparison.Ordinal))
                {
                    path.Add(previous[path[^1]]);
                }

                path.Reverse();
                return path;
            }

            foreach (var next in CalleesOf(current))
            {
                if (previous.TryAdd(next, current))
                {
                    queue.Enqueue(next);
                }
            }
        }

        return null;
    }

    private static HashSet<string> Set(Dictionary<string, HashSet<string>> map, string key)
    {
        if (!map.TryGetValue(key, out var set))
        {
            set = new HashSet<string>(StringComparer.Ordinal);
            map[key] = set;
        }

        return set;
    }

    private static Dictionary<string, int> Walk(string start, int maxHops, Dictionary<string, HashSet<string>> first, Dictionary<string, HashSet<string>>? second)
    {
        var hops = new Dictionary<string, int>(StringComparer.Ordinal) { [start] = 0 };
        var queue = new Queue<string>();
        queue.Enqueue(start);
        while (queue.Count > 0)
        {
            var current = queue.Dequeue();
            var distance = hops[current];
            if (distance >= maxHops)
            {
                continue;
            }

            foreach (var map in second is null ? [first] : new[] { first, second })
            {
                if (!map.TryGetValue(current, out var next))
                {
                    continue;
                }

                foreach (var n in next)
                {
                    if (hops.TryAdd(n, distance + 1))
                    {
                        queue.Enqueue(n);
                    }
                }
            }
        }

        hops.Remove(start);
        return hops;
    }
}
