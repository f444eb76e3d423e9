namespace Aperture.Runtime.Watchdog.Rca;

/// <summary>Call-graph edges read from the labels of request metrics that name both ends of a call.</summary>
public static class TopologyEdges
{
    /// <summary>Istio's label for the calling workload.</summary>
    public const string DefaultCallerLabel = "source_workload";

    /// <summary>Istio's label for the called workload.</summary>
    public const string DefaultCalleeLabel = "destination_workload";

    /// <summary>
    /// The (caller, callee) a label set names, or null when either end is missing, blank, Istio's
    /// <c>unknown</c> (traffic from outside the mesh, which names no service) or both ends are the same workload.
    /// </summary>
    public static (string Caller, string Callee)? FromLabels(IReadOnlyDictionary<string, string> labels, string callerLabel = DefaultCallerLabel, string calleeLabel = DefaultCalleeLabel)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (!labels.TryGetValue(callerLabel, out var caller) || !labels.TryGetValue(calleeLabel, out var callee))
        {
            return null;
        }

        caller = caller?.Trim() ?? "";
        callee = callee?.Trim() ?? "";
        if (!Names(caller) || !Names(callee) || string.Equals(caller, callee, StringComparison.Ordinal))
        {
            return null;
        }

        return (caller, callee);
    }

    /// <summary>Adds the edge a label set names, if any; answers whether it named one.</summary>
    public static bool AddFromLabels(this ServiceGraph graph, IReadOnlyDictionary<string, string> labels, string callerLabel = DefaultCallerLabel, string calleeLabel = DefaultCalleeLabel)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (FromLabels(labels, callerLabel, calleeLabel) is not { } edge)
        {
            return false;
        }

        graph.AddEdge(edge.Caller, edge.Callee);
        return true;
    }

    private static bool Names(string value) => value.Length > 0 && !string.Equals(value, "unknown", StringComparison.OrdinalIgnoreCase);
}
