using System.Globalization;
using Aperture.Resources;

namespace Aperture.Operator.Reconcilers;

/// <summary>Kubernetes-style conditions: a transition time that moves only when the status does.</summary>
public static class Conditions
{
    public const string Ready = "Ready";

    public static List<Condition> With(IReadOnlyList<Condition>? existing, string type, bool status, string reason, string message, long? generation, TimeProvider time)
    {
        var value = status ? ConditionStatus.True : ConditionStatus.False;
        var previous = existing?.FirstOrDefault(c => c.Type == type);
        var condition = new Condition
        {
            Type = type,
            Status = value,
            Reason = reason,
            Message = message,
            ObservedGeneration = generation,
            LastTransitionTime = previous is not null && previous.Status == value
                ? previous.LastTransitionTime
                : time.GetUtcNow().ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
        };
        return [.. (existing ?? []).Where(c => c.Type != type), condition];
    }

    /// <summary>Two condition lists say the same (the transition time aside, which follows the status).</summary>
    public static bool Same(IReadOnlyList<Condition>? a, IReadOnlyList<Condition>? b) =>
        (a ?? []).Select(Key).Order(StringComparer.Ordinal).SequenceEqual((b ?? []).Select(Key).Order(StringComparer.Ordinal));

    private static string Key(Condition c) => $"{c.Type}|{c.Status}|{c.Reason}|{c.Message}|{c.ObservedGeneration}";
}
