using System.Text;

namespace Aperture.Runtime.Watchdog;

/// <summary>One point of one series as the watchdog takes it in.</summary>
/// <param name="Labels">The series' labels in their canonical form (<see cref="SeriesLabels.Canonical"/>).</param>
public readonly record struct MetricSample(string Tenant, string ServiceId, string MetricName, string Labels, long TimestampMs, double Value);

/// <summary>Which series a point belongs to.</summary>
public readonly record struct SeriesKey(string Tenant, string ServiceId, string MetricName, string Labels)
{
    public static SeriesKey Of(in MetricSample sample) => new(sample.Tenant, sample.ServiceId, sample.MetricName, sample.Labels);
}

/// <summary>A series' labels as one string: sorted by name, <c>name="value"</c> pairs, Prometheus' escaping.</summary>
public static class SeriesLabels
{
    public const int MaxLabels = 64;
    public const int MaxNameLength = 128;
    public const int MaxValueLength = 1024;

    public static string Canonical(IEnumerable<KeyValuePair<string, string>>? labels)
    {
        if (labels is null)
        {
            return string.Empty;
        }

        var sorted = labels.OrderBy(l => l.Key, StringComparer.Ordinal).ToList();
        if (sorted.Count == 0)
        {
            return string.Empty;
        }

        var text = new StringBuilder();
        foreach (var (name, value) in sorted)
        {
            if (text.Length > 0)
            {
                text.Append(',');
            }

            text.Append(name).Append("=\"");
            foreach (var c in value)
            {
                _ = c switch
                {
                    '\\' => text.Append("\\\\"),
                    '"' => text.Append("\\\""),
                    '\n' => text.Append("\\n"),
                    _ => text.Append(c),
                };
            }

            text.Append('"');
        }

        return text.ToString();
    }

    /// <summary>The inverse of <see cref="Canonical"/>, for answers that show labels as a map.</summary>
    public static Dictionary<string, string> Parse(string canonical)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var i = 0;
        while (i < canonical.Length)
        {
            var eq = canonical.IndexOf('=', i);
            if (eq < 0 || eq + 1 >= canonical.Length || canonical[eq + 1] != '"')
            {
                break;
            }

            var name = canonical[i..eq];
            var value = new StringBuilder();
            var j = eq + 2;
            for (; j < canonical.Length && canonical[j] != '"'; j++)
            {
                if (canonical[j] == '\\' && j + 1 < canonical.Length)
                {
                    j++;
                    value.Append(canonical[j] == 'n' ? '\n' : canonical[j]);
                }
                else
                {
                    value.Append(canonical[j]);
                }
            }

            labels[name] = value.ToString();
            i = j + 2;
        }

        return labels;
    }

    /// <summary>Checks a name as Prometheus does (letters, digits, underscores and colons, not starting with a digit).</summary>
    public static bool IsValidName(string name, bool allowColon) =>
        name.Length is > 0 and <= MaxNameLength && !char.IsAsciiDigit(name[0])
        && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || (allowColon && c == ':'));
}

/// <summary>Ids the watchdog derives rather than draws, so that the same history gives the same ids.</summary>
public static class WatchdogIds
{
    public static string Anomaly(string tenant, string origin, long atMs) =>
        "anom-" + Hash($"{tenant}\n{origin}\n{atMs}");

    public static string Hash(string text) =>
        Convert.ToHexStringLower(System.IO.Hashing.XxHash64.Hash(Encoding.UTF8.GetBytes(text)));
}
