using System.Buffers.Binary;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace Aperture.Agent.Profiling.Symbols;

/// <summary>A PT_LOAD segment: where a range of the file lands in the object's virtual addresses.</summary>
internal readonly record struct LoadSegment(ulong FileOffset, ulong VirtualAddress, ulong FileSize, ulong MemorySize);

/// <summary>
/// The function symbols of a 64-bit little-endian ELF file (.symtab and .dynsym), its PT_LOAD segments and its
/// GNU build-id. Only the headers, the symbol sections and their string tables are read, not the whole file.
/// </summary>
internal sealed class ElfSymbolTable
{
    private const uint PtLoad = 1;
    private const uint PtNote = 4;
    private const uint ShtSymtab = 2;
    private const uint ShtDynsym = 11;
    private const int SttFunc = 2;
    private const int SttGnuIfunc = 10;
    private const long MaxSectionBytes = 512L * 1024 * 1024;
    private const int MaxHeaders = 65_535;

    private readonly ulong[] _starts;
    private readonly ulong[] _ends;
    private readonly string[] _names;

    private ElfSymbolTable(List<LoadSegment> segments, List<(ulong Start, ulong Size, string Name)> symbols, string? buildId)
    {
        Segments = segments;
        BuildId = buildId;
        symbols.Sort((a, b) => a.Start != b.Start ? a.Start.CompareTo(b.Start) : b.Size.CompareTo(a.Size));
        var starts = new List<ulong>(symbols.Count);
        var ends = new List<ulong>(symbols.Count);
        var names = new List<string>(symbols.Count);
        for (var i = 0; i < symbols.Count; i++)
        {
            var (start, size, name) = symbols[i];
            if (starts.Count > 0 && starts[^1] == start)
            {
                // Aliases at one address (e.g. the .symtab and .dynsym copies): keep the first, the largest.
                continue;
            }

            var end = start + size;
            if (size == 0)
            {
                // Hand-written assembly often declares no size: let it run to the next symbol, as perf does.
                var j = i + 1;
                while (j < symbols.Count && symbols[j].Start == start)
                {
                    j++;
                }

                end = j < symbols.Count ? symbols[j].Start : start + 1;
            }

            starts.Add(start);
            ends.Add(end);
            names.Add(name);
        }

        _starts = [.. starts];
        _ends = [.. ends];
        _names = [.. names];
    }

    public IReadOnlyList<LoadSegment> Segments { get; }

    /// <summary>The GNU build-id as lowercase hex, when the file carries one.</summary>
    public string? BuildId { get; }

    public int SymbolCount => _names.Length;

    /// <summary>
    /// The symbols of the separate debug file (/usr/lib/debug/.build-id/xx/yyyy.debug), which carries the .symtab
    /// that distributions strip from libraries; looked up before this file's own symbols.
    /// </summary>
    public ElfSymbolTable? DebugSymbols { get; set; }

    /// <summary>Reads the ELF file at <paramref name="path"/>; null when it is not a 64-bit little-endian ELF file.</summary>
    public static ElfSymbolTable? Load(string path)
    {
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return Load(handle);
    }

    public static ElfSymbolTable? Load(SafeFileHandle handle)
    {
        var length = RandomAccess.GetLength(handle);
        var header = new byte[64];
        if (length < 64 || RandomAccess.Read(handle, header, 0) < 64)
        {
            return null;
        }

        if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F' || header[4] != 2 || header[5] != 1)
        {
            return null;
        }

        var span = header.AsSpan();
        var phoff = BinaryPrimitives.ReadUInt64LittleEndian(span[32..]);
        var shoff = BinaryPrimitives.ReadUInt64LittleEndian(span[40..]);
        var phentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[54..]);
        var phnum = BinaryPrimitives.ReadUInt16LittleEndian(span[56..]);
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[58..]);
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[60..]);

        var segments = new List<LoadSegment>();
        string? buildId = null;
        if (phnum > 0 && phentsize >= 56)
        {
            var table = ReadRange(handle, length, phoff, (long)phnum * phentsize);
            for (var i = 0; table != null && i < phnum; i++)
            {
                var ph = table.AsSpan(i * phentsize, 56);
                var type = BinaryPrimitives.ReadUInt32LittleEndian(ph);
                var offset = BinaryPrimitives.ReadUInt64LittleEndian(ph[8..]);
                var filesz = BinaryPrimitives.ReadUInt64LittleEndian(ph[32..]);
                if (type == PtLoad)
                {
                    segments.Add(new LoadSegment(offset, BinaryPrimitives.ReadUInt64LittleEndian(ph[16..]), filesz, BinaryPrimitives.ReadUInt64LittleEndian(ph[40..])));
                }
                else if (type == PtNote && buildId == null && filesz <= 1 << 16)
                {
                    var notes = ReadRange(handle, length, offset, (long)filesz);
                    buildId = notes == null ? null : FindBuildId(notes);
                }
            }
        }

        var symbols = new List<(ulong, ulong, string)>();
        if (shnum > 0 && shnum <= MaxHeaders && shentsize >= 64)
        {
            var sections = ReadRange(handle, length, shoff, (long)shnum * shentsize);
            for (var i = 0; sections != null && i < shnum; i++)
            {
                var sh = sections.AsSpan(i * shentsize, 64);
                var type = BinaryPrimitives.ReadUInt32LittleEndian(sh[4..]);
                if (type != ShtSymtab && type != ShtDynsym)
                {
                    continue;
                }

                var offset = BinaryPrimitives.ReadUInt64LittleEndian(sh[24..]);
                var size = BinaryPrimitives.ReadUInt64LittleEndian(sh[32..]);
                var link = BinaryPrimitives.ReadUInt32LittleEndian(sh[40..]);
                var entsize = BinaryPrimitives.ReadUInt64LittleEndian(sh[56..]);
                if (link >= shnum || entsize < 24 || size > MaxSectionBytes)
                {
                    continue;
                }

                var strtabHeader = sections.AsSpan((int)link * shentsize, 64);
                var strOffset = BinaryPrimitives.ReadUInt64LittleEndian(strtabHeader[24..]);
                var strSize = BinaryPrimitives.ReadUInt64LittleEndian(strtabHeader[32..]);
                if (strSize > MaxSectionBytes)
                {
                    continue;
                }

                var symbolBytes = ReadRange(handle, length, offset, (long)size);
                var strings = ReadRange(handle, length, strOffset, (long)strSize);
                if (symbolBytes != null && strings != null)
                {
                    ReadSymbols(symbolBytes, (int)entsize, strings, symbols);
                }
            }
        }

        return new ElfSymbolTable(segments, symbols, buildId);
    }

    /// <summary>Turns an offset into the file (from /proc/PID/maps) into the object's own virtual address.</summary>
    public ulong? FileOffsetToVirtualAddress(ulong fileOffset)
    {
        foreach (var segment in Segments)
        {
            if (fileOffset >= segment.FileOffset && fileOffset < segment.FileOffset + segment.FileSize)
            {
                return fileOffset - segment.FileOffset + segment.VirtualAddress;
            }
        }

        return null;
    }

    /// <summary>The function whose range holds <paramref name="virtualAddress"/>, or null.</summary>
    public string? Lookup(ulong virtualAddress)
    {
        if (DebugSymbols?.Lookup(virtualAddress) is { } fromDebugFile)
        {
            return fromDebugFile;
        }

        var index = Array.BinarySearch(_starts, virtualAddress);
        if (index < 0)
        {
            index = ~index - 1;
        }

        // A symbol that starts earlier may still enclose the address when a smaller one sits inside it; look back a little.
        for (var i = index; i >= 0 && i > index - 4; i--)
        {
            if (virtualAddress >= _starts[i] && virtualAddress < _ends[i])
            {
                return _names[i];
            }
        }

        return null;
    }

    private static void ReadSymbols(byte[] table, int entrySize, byte[] strings, List<(ulong, ulong, string)> symbols)
    {
        for (var offset = 0; offset + 24 <= table.Length; offset += entrySize)
        {
            var sym = table.AsSpan(offset, 24);
            var kind = sym[4] & 0xf;
            var sectionIndex = BinaryPrimitives.ReadUInt16LittleEndian(sym[6..]);
            var value = BinaryPrimitives.ReadUInt64LittleEndian(sym[8..]);
            if ((kind != SttFunc && kind != SttGnuIfunc) || sectionIndex == 0 || value == 0)
            {
                continue;
            }

            var nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(sym);
            if (nameOffset >= strings.Length)
            {
                continue;
            }

            var nameBytes = strings.AsSpan((int)nameOffset);
            var end = nameBytes.IndexOf((byte)0);
            var name = Encoding.UTF8.GetString(end < 0 ? nameBytes : nameBytes[..end]);
            if (name.Length > 0)
            {
                symbols.Add((value, BinaryPrimitives.ReadUInt64LittleEndian(sym[16..]), name));
            }
        }
    }

    private static string? FindBuildId(byte[] notes)
    {
        var offset = 0;
        while (offset + 12 <= notes.Length)
        {
            var nameSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(offset));
            var descSize = (int)BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(offset + 4));
            var type = BinaryPrimitives.ReadUInt32LittleEndian(notes.AsSpan(offset + 8));
            var nameStart = offset + 12;
            var descStart = nameStart + Align4(nameSize);
            if (nameSize < 0 || descSize < 0 || descStart + descSize > notes.Length)
            {
                return null;
            }

            // NT_GNU_BUILD_ID, owner "GNU\0"
            if (type == 3 && nameSize == 4 && notes.AsSpan(nameStart, 4).SequenceEqual("GNU\0"u8))
            {
                return Convert.ToHexStringLower(notes, descStart, descSize);
            }

            offset = descStart + Align4(descSize);
        }

        return null;
    }

    private static int Align4(int value) => (value + 3) & ~3;

    private static byte[]? ReadRange(SafeFileHandle handle, long fileLength, ulong offset, long count)
    {
        if (count <= 0 || count > MaxSectionBytes || offset > (ulong)fileLength || (long)offset + count > fileLength)
        {
            return null;
        }

        var buffer = new byte[count];
        var read = 0;
        while (read < count)
        {
            var n = RandomAccess.Read(handle, buffer.AsSpan(read), (long)offset + read);
            if (n <= 0)
            {
                return null;
            }

            read += n;
        }

        return buffer;
    }
}
