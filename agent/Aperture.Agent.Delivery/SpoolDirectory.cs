using System.Globalization;

namespace Aperture.Agent.Delivery;

/// <summary>One payload waiting in the spool: its place in the global order, channel and size.</summary>
public sealed record SpoolEntry(long Sequence, string Channel, long Bytes, string Path);

/// <summary>
/// A bounded directory of payloads waiting for their upstream, one file each, named by a global
/// sequence so that a restarted agent finds them in the order they came. When a new payload would pass
/// the size limit the oldest payloads (of any channel) are deleted first and counted as dropped.
/// Files are written under a temporary name and renamed, so a crash never leaves half a payload.
/// </summary>
public sealed class SpoolDirectory
{
    private const string Suffix = ".spool";
    private readonly Lock _gate = new();
    private readonly SortedDictionary<long, SpoolEntry> _entries = [];
    private readonly Dictionary<string, SortedSet<long>> _byChannel = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _droppedByChannel = new(StringComparer.Ordinal);
    private long _next;
    private long _bytes;

    public SpoolDirectory(string path, long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        Path = System.IO.Path.GetFullPath(path);
        MaxBytes = maxBytes;
        Directory.CreateDirectory(Path);
        foreach (var file in Directory.EnumerateFiles(Path))
        {
            var name = System.IO.Path.GetFileName(file);
            if (name.EndsWith(".tmp", StringComparison.Ordinal))
            {
                File.Delete(file); // a write that a crash interrupted
                continue;
            }

            var parts = name.Split('.');
            if (parts.Length == 3 && "." + parts[2] == Suffix && long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
            {
                Add(new SpoolEntry(sequence, parts[1], new FileInfo(file).Length, file));
                _next = Math.Max(_next, sequence + 1);
            }
        }

        Evict(0);
    }

    public string Path { get; }

    public long MaxBytes { get; private set; }

    public long Bytes
    {
        get
        {
            lock (_gate)
            {
                return _bytes;
            }
        }
    }

    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>Payloads deleted unsent to make room, over all channels, since the agent started.</summary>
    public long Dropped
    {
        get
        {
            lock (_gate)
            {
                return _droppedByChannel.Values.Sum();
            }
        }
    }

    public long DroppedOf(string channel)
    {
        lock (_gate)
        {
            return _droppedByChannel.GetValueOrDefault(channel);
        }
    }

    public int CountOf(string channel)
    {
        lock (_gate)
        {
            return _byChannel.TryGetValue(channel, out var set) ? set.Count : 0;
        }
    }

    /// <summary>A new limit (after a reload) takes effect at once: what no longer fits goes, oldest first.</summary>
    public void Resize(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBytes, 1);
        lock (_gate)
        {
            MaxBytes = maxBytes;
            Evict(0);
        }
    }

    /// <returns>The entry, or null when the payload alone is larger than the whole spool (counted as dropped).</returns>
    public SpoolEntry? Append(string channel, ReadOnlySpan<byte> payload)
    {
        if (channel.Length == 0 || !channel.All(char.IsAsciiLetterOrDigit))
        {
            throw new ArgumentException("A channel name is ASCII letters and digits", nameof(channel));
        }

        lock (_gate)
        {
            if (payload.Length > MaxBytes)
            {
                _droppedByChannel[channel] = _droppedByChannel.GetValueOrDefault(channel) + 1;
                return null;
            }

            Evict(payload.Length);
            var sequence = _next++;
            var path = System.IO.Path.Combine(Path, $"{sequence.ToString("D20", CultureInfo.InvariantCulture)}.{channel}{Suffix}");
            var temporary = path + ".tmp";
            using (var file = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                file.Write(payload);
                file.Flush(flushToDisk: true);
            }

            File.Move(temporary, path);
            var entry = new SpoolEntry(sequence, channel, payload.Length, path);
            Add(entry);
            return entry;
        }
    }

    /// <summary>The oldest entries of a channel, in the order they were spooled.</summary>
    public IReadOnlyList<SpoolEntry> Oldest(string channel, int max)
    {
        lock (_gate)
        {
            return _byChannel.TryGetValue(channel, out var set) ? [.. set.Take(max).Select(s => _entries[s])] : [];
        }
    }

    /// <returns>The payload, or null when the entry was dropped meanwhile.</returns>
    public byte[]? Read(SpoolEntry entry)
    {
        try
        {
            return File.ReadAllBytes(entry.Path);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            Forget(entry.Sequence);
            return null;
        }
    }

    public void Remove(SpoolEntry entry)
    {
        lock (_gate)
        {
            if (Forget(entry.Sequence))
            {
                File.Delete(entry.Path);
            }
        }
    }

    private void Add(SpoolEntry entry)
    {
        _entries[entry.Sequence] = entry;
        if (!_byChannel.TryGetValue(entry.Channel, out var set))
        {
            _byChannel[entry.Channel] = set = [];
        }

        set.Add(entry.Sequence);
        _bytes += entry.Bytes;
    }

    private bool Forget(long sequence)
    {
        lock (_gate)
        {
            if (!_entries.Remove(sequence, out var entry))
            {
                return false;
            }

            _byChannel[entry.Channel].Remove(sequence);
            _bytes -= entry.Bytes;
            return true;
        }
    }

    /// <summary>Deletes the oldest entries until <paramref name="incoming"/> more bytes fit.</summary>
    private void Evict(long incoming)
    {
        while (_bytes + incoming > MaxBytes && _entries.Count > 0)
        {
            var oldest = _entries.First().Value;
            Forget(oldest.Sequence);
            File.Delete(oldest.Path);
            _droppedByChannel[oldest.Channel] = _droppedByChannel.GetValueOrDefault(oldest.Channel) + 1;
        }
    }
}
