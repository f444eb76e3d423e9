using System.Globalization;
using System.Text;

namespace Aperture.Agent.Profiling.Symbols;

/// <summary>
/// Sorted address ranges with names: a perf map or the kernel's symbol table. The kernel alone has over a
/// hundred thousand text symbols, so names are kept as UTF-8 in one buffer and become strings only when a
/// sample lands in them (and then once); modules, shared by thousands of entries, are kept once each.
/// </summary>
internal sealed class AddressSymbols
{
    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly int[] _nameOffsets;
    private readonly byte[] _names;
    private readonly ushort[]? _moduleIndexes;
    private readonly string[] _modules;
    private readonly Dictionary<int, string> _decoded = [];
    private readonly Lock _decoding = new();

    private AddressSymbols(ulong[] starts, ulong[] ends, int[] nameOffsets, byte[] names, ushort[]? moduleIndexes, string[] modules)
    {
        _starts = starts;
        _ends = ends;
        _nameOffsets = nameOffsets;
        _names = names;
        _moduleIndexes = moduleIndexes;
        _modules = modules;
    }

    public int Count => _starts.Length;

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
                name = Name(i);
                module = _moduleIndexes is null || _moduleIndexes[i] == 0 ? null : _modules[_moduleIndexes[i]];
                return true;
            }
        }

        name = string.Empty;
        module = null;
        return false;
    }

    private string Name(int index)
    {
        lock (_decoding)
        {
            if (!_decoded.TryGetValue(index, out var name))
            {
                name = Encoding.UTF8.GetString(_names, _nameOffsets[index], _nameOffsets[index + 1] - _nameOffsets[index]);
                _decoded[index] = name;
            }

            return name;
        }
    }

    /// <summary>Collects entries in any order; <see cref="Build"/> sorts them by start.</summary>
    public sealed class Builder
    {
        private readonly List<(ulong Start, ulong End, int NameOffset, int NameLength, ushort Module)> _entries;
        private readonly Dictionary<string, ushort> _moduleIndexes = new(StringComparer.Ordinal) { [string.Empty] = 0 };
        private readonly List<string> _modules = [string.Empty];
        private byte[] _names;
        private int _namesLength;

        /// <param name="expectedEntries">A guess that saves the doubling garbage of a large table.</param>
        /// <param name="expectedNameBytes">Likewise for the names.</param>
        public Builder(int expectedEntries = 256, int expectedNameBytes = 4096)
        {
            _entries = new(expectedEntries);
            _names = new byte[expectedNameBytes];
        }

        public int Count => _entries.Count;

        public void Add(ulong start, ulong end, ReadOnlySpan<char> name, string? module = null)
        {
            var length = Encoding.UTF8.GetByteCount(name);
            EnsureRoom(length);
            Encoding.UTF8.GetBytes(name, _names.AsSpan(_namesLength));
            Append(start, end, length, module);
        }

        public void Add(ulong start, ulong end, ReadOnlySpan<byte> utf8Name, string? module = null)
        {
            EnsureRoom(utf8Name.Length);
            utf8Name.CopyTo(_names.AsSpan(_namesLength));
            Append(start, end, utf8Name.Length, module);
        }

        /// <param name="endAtNextStart">
        /// For tables without sizes (kallsyms): each entry runs to the next one's start (the last one a page), and entries
        /// sharing a start keep only the last.
        /// </param>
        public AddressSymbols Build(bool endAtNextStart = false)
        {
            _entries.Sort((a, b) => a.Start.CompareTo(b.Start));
            if (endAtNextStart)
            {
                var kept = new List<(ulong Start, ulong End, int NameOffset, int NameLength, ushort Module)>(_entries.Count);
                for (var i = 0; i < _entries.Count; i++)
                {
                    var end = i + 1 < _entries.Count ? _entries[i + 1].Start : _entries[i].Start + 4096;
                    if (end != _entries[i].Start)
                    {
                        kept.Add(_entries[i] with { End = end });
                    }
                }

                _entries.Clear();
                _entries.AddRange(kept);
                kept.Clear();
            }

            var starts = new ulong[_entries.Count];
            var ends = new ulong[_entries.Count];
            var offsets = new int[_entries.Count + 1];
            var names = new byte[_namesLength];
            var modules = _modules.Count > 1 ? new ushort[_entries.Count] : null;
            var written = 0;
            for (var i = 0; i < _entries.Count; i++)
            {
                var entry = _entries[i];
                starts[i] = entry.Start;
                ends[i] = entry.End;
                offsets[i] = written;
                _names.AsSpan(entry.NameOffset, entry.NameLength).CopyTo(names.AsSpan(written));
                written += entry.NameLength;
                if (modules is not null)
                {
                    modules[i] = entry.Module;
                }
            }

            offsets[_entries.Count] = written;
            return new AddressSymbols(starts, ends, offsets, names, modules, [.. _modules]);
        }

        private void Append(ulong start, ulong end, int nameLength, string? module)
        {
            ushort moduleIndex = 0;
            if (module is { Length: > 0 } && !_moduleIndexes.TryGetValue(module, out moduleIndex))
            {
                // More distinct modules than a ushort holds would be a strange kernel; the rest go unnamed.
                if (_modules.Count < ushort.MaxValue)
                {
                    moduleIndex = (ushort)_modules.Count;
                    _moduleIndexes[module] = moduleIndex;
                    _modules.Add(module);
                }
            }

            _entries.Add((start, end, _namesLength, nameLength, moduleIndex));
            _namesLength += nameLength;
        }

        private void EnsureRoom(int length)
        {
            if (_namesLength + length > _names.Length)
            {
                Array.Resize(ref _names, Math.Max(_names.Length * 2, _namesLength + length));
            }
        }
    }
}

/// <summary>/tmp/perf-PID.map: "START SIZE name" per line, hex, written by JIT runtimes (.NET, Node, the JVM with an agent).</summary>
internal static class PerfMapParser
{
    public static AddressSymbols Parse(TextReader reader)
    {
        var entries = new AddressSymbols.Builder();
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
                entries.Add(start, start + size, afterStart[(second + 1)..].Trim());
            }
        }

        return entries.Build();
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
        // kallsyms has no sizes and its modules' symbols need not be in order: collect, sort, then each runs to the next.
        // A kernel has some 100,000-150,000 text symbols of about 25 bytes each.
        var raw = new AddressSymbols.Builder(expectedEntries: 160_000, expectedNameBytes: 4 << 20);
        while (reader.ReadLine() is { } line)
        {
            var rest = line.AsSpan();
            if (!NextField(ref rest, out var addressText) || !NextField(ref rest, out var typeText) || !NextField(ref rest, out var name)
                || typeText.Length != 1 || !PerfMapParser.TryParseHex(addressText, out var address) || address == 0)
            {
                continue;
            }

            var type = char.ToLowerInvariant(typeText[0]);
            if (type != 't' && type != 'w')
            {
                continue;
            }

            var module = rest.Trim().Trim("[]\t ");
            raw.Add(address, address, name, module.Length > 0 ? $"[{module}]" : null);
        }

        if (raw.Count == 0)
        {
            return null;
        }

        return raw.Build(endAtNextStart: true);
    }

    private static bool NextField(ref ReadOnlySpan<char> rest, out ReadOnlySpan<char> field)
    {
        rest = rest.TrimStart(" \t");
        var end = rest.IndexOfAny(' ', '\t');
        field = end < 0 ? rest : rest[..end];
        rest = end < 0 ? [] : rest[end..];
        return field.Length > 0;
    }
}
