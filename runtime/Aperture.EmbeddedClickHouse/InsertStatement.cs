using System.Text.RegularExpressions;

namespace Aperture.EmbeddedClickHouse;

/// <summary>
/// Recognises <c>INSERT INTO … FORMAT name</c>, whose data follows the statement, and splits it
/// into the statement the engine's streaming insert takes and the format of the data.
/// </summary>
public static partial class InsertStatement
{
    /// <summary>The whole text is an INSERT that ends in a FORMAT clause (the URL form).</summary>
    public static bool TrySplit(string text, out string statement, out string format)
    {
        var match = WholeInsert().Match(text);
        match = match.Success && !InlineData().IsMatch(match.Groups["head"].Value) ? match : Match.Empty;
        statement = match.Success ? match.Groups["head"].Value : string.Empty;
        format = match.Success ? match.Groups["format"].Value : string.Empty;
        return match.Success;
    }

    /// <summary>
    /// The text begins with an INSERT … FORMAT clause and its data follows (the body form).
    /// <paramref name="dataOffset"/> is the character where the data begins: after the format
    /// name, spaces and tabs, and at most one line break.
    /// </summary>
    public static bool TrySplitPrefix(string text, out string statement, out string format, out int dataOffset)
    {
        var match = InsertPrefix().Match(text);
        match = match.Success && !InlineData().IsMatch(match.Groups["head"].Value) ? match : Match.Empty;
        statement = match.Success ? match.Groups["head"].Value : string.Empty;
        format = match.Success ? match.Groups["format"].Value : string.Empty;
        dataOffset = match.Success ? match.Index + match.Length : 0;
        return match.Success;
    }

    /// <summary>The statement is an INSERT of any form (VALUES, SELECT or FORMAT).</summary>
    public static bool IsInsert(string text) => AnyInsert().IsMatch(text);

    [GeneratedRegex(@"\A\s*(?<head>INSERT\s+INTO\s.+?)\s+FORMAT\s+(?<format>[A-Za-z][A-Za-z0-9_]*)\s*;?\s*\z",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex WholeInsert();

    [GeneratedRegex(@"\A\s*(?<head>INSERT\s+INTO\s.+?)\s+FORMAT\s+(?<format>[A-Za-z][A-Za-z0-9_]*)[ \t]*(\r?\n)?",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex InsertPrefix();

    /// <summary>A FORMAT word after VALUES or SELECT is inside the statement's own data, not its clause.</summary>
    [GeneratedRegex(@"\b(VALUES|SELECT)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex InlineData();

    [GeneratedRegex(@"\A\s*INSERT\s", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AnyInsert();
}
