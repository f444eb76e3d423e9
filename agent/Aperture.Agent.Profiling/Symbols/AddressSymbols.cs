using System.Globalization;

namespace Aperture.Agent.Profiling.Symbols;

/// <summary>Sorted address ranges with names: a perf map or the kernel's symbol table.</summary>
internal sealed class AddressSymbols
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;
    private readonly string[]? _modules;

    public AddressSymbols(List<(ulong Start, ulong End, string Name, string? Module)> entries)
    {
        entries.Sort((a, b) => a.Start.CompareTo(b.Start));
        _starts = new ulong[entries.Count];
        _ends = new ulong[entries.Count];
        _names = new string[entries.Count];
        var anyModule = false;
        for (var i = 0; i < entries.Count; i++)
        {
            _starts[i] = entries[i].Start;
            _ends[i] = entries[i].End;
            _names[i] = entries[i].Name;
            anyModule |= entries[i].Module != null;
        }

        if (anyModule)
        {
            _modules = [.. entries.Select(e => e.Module ?? string.Empty)];
        }
    }

    public int Count => _names.Length;

    public bool TryLookup(ulong address, out string name, out string? module)
    {
        var index = Array.BinarySearch(_starts, address);
        if (index < 0)
        {
            index = ~index - 1;
        }

        // Ranges may overlap (a JIT runtime re-using freed code memory): look back a few entries for one that encloses it.
        for (var i = index; i >= 0 && i > index - 8; i--)
        {
            if (address >= _starts[i] && address < _ends[i])
            {
                name = _names[i];
                module = _modules?[i] is { Length: > 0 } m ? m : null;
                return true;
            }
        }

        name = string.Empty;
        module = null;
        return false;
    }
}

/// <summary>/tmp/perf-PID.map: "START SIZE name" per line, hex, written by JIT runtimes (.NET, Node, the JVM with an agent).</summary>
internal static class PerfMapParser
{
    public static AddressSymbols Parse(TextReader reader)
    {
        var entries = new List<(ulong, ulong, string, string?)>();
        while (reader.ReadLine() is { } line)
        {
            var span = line.AsSpan().Trim();
            var first = span.IndexOf(' ');
            if (first <= 0)
            {
                continue;
            }

            var afterStart = span[(first + 1)..].TrimStart(' ');
            var second = afterStart.IndexOf(' ');
            if (second <= 0)
            {
                continue;
            }

            if (TryParseHex(span[..first], out var start) && TryParseHex(afterStart[..second], out var size) && size > 0)
            {
                entries.Add((start, start + size, afterStart[(second + 1)..].Trim().ToString(), null));
            }
        }

        return new AddressSymbols(entries);
    }

    internal static bool TryParseHex(ReadOnlySpan<char> text, out ulong value)
    {
        if (text.StartsWith("0x", StringComparison.OrdinalIgnoreCase))
        {
            text = text[2..];
        }

        return ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out value);
    }
}

/// <summary>/proc/kallsyms: "address type name [module]". Addresses read as zero when kptr_restrict hides them.</summary>
internal static class KallsymsParser
{
    /// <returns>null when the addresses are hidden (all zero) or there are no text symbols.</returns>
    public static AddressSymbols? Parse(TextReader reader)
    {
        var raw = new List<(ulong Start, string Name, string? Module)>();
        while (reader.ReadLine() is { } line)
        {
            var parts = line.Split([' ', '\t'], 4, StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 3 || parts[1].Length != 1 || !PerfMapParser.TryParseHex(parts[0], out var address) || address == 0)
            {
                continue;
            }

            var type = char.ToLowerInvariant(parts[1][0]);
            if (type != 't' && type != 'w')
            {
                continue;
            }

            var module = parts.Length > 3 ? parts[3].Trim() : null;
            raw.Add((address, parts[2], module is { Length: > 0 } ? module.Trim('[', ']', '\t', ' ') : null));
        }

        if (raw.Count == 0)
        {
            return null;
        }

        raw.Sort((a, b) => a.Start.CompareTo(b.Start));
        var entries = new List<(ulong, ulong, string, string?)>(raw.Count);
        for (var i = 0; i < raw.Count; i++)
        {
            // kallsyms has no sizes: each symbol runs to the next one (capped so the last one does not claim everything).
            var end = i + 1 < raw.Count ? raw[i + 1].Start : raw[i].Start + 4096;
            if (end == raw[i].Start)
            {
                continue;
            }

            entries.Add((raw[i].Start, end, raw[i].Name, raw[i].Module is { } m ? $"[{m}]" : null));
        }

        return new AddressSymbols(entries);
    }
}
