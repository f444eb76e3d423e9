using System.Runtime.InteropServices;
using System.Text;

namespace Aperture.EmbeddedClickHouse.Native;

/// <summary>
/// UTF-8 copies of a set of strings in one native allocation, with the pointer and length arrays
/// the chdb *_n functions take. Freed as a whole on dispose.
/// </summary>
internal sealed unsafe class Utf8Block : IDisposable
{
    private byte* _memory;

    public Utf8Block(IReadOnlyList<string> strings)
    {
        Count = strings.Count;
        var byteCounts = new int[Count];
        long total = 0;
        for (var i = 0; i < Count; i++)
        {
            byteCounts[i] = Encoding.UTF8.GetByteCount(strings[i]);
            total += byteCounts[i] + 1;
        }

        var tableBytes = (nuint)(Count * (sizeof(byte*) + sizeof(nuint)));
        _memory = (byte*)NativeMemory.Alloc((nuint)total + tableBytes + 1);
        Pointers = (byte**)_memory;
        Lengths = (nuint*)(_memory + (Count * sizeof(byte*)));
        var cursor = _memory + tableBytes;
        for (var i = 0; i < Count; i++)
        {
            var written = Encoding.UTF8.GetBytes(strings[i], new Span<byte>(cursor, byteCounts[i]));
            cursor[written] = 0;
            Pointers[i] = cursor;
            Lengths[i] = (nuint)written;
            cursor += written + 1;
        }
    }

    public int Count { get; }

    public byte** Pointers { get; }

    public nuint* Lengths { get; }

    public void Dispose()
    {
        if (_memory is not null)
        {
            NativeMemory.Free(_memory);
            _memory = null;
        }
    }
}
