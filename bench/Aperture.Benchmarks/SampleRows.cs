using System.Buffers.Binary;
using System.Text;

namespace Aperture.Benchmarks;

/// <summary>
/// Deterministic profiling-sample rows and their RowBinary encoding, so that every path of a
/// benchmark inserts exactly the same rows.
/// </summary>
public sealed class SampleRows
{
    public const string TableDefinition =
        "(ts DateTime64(9, 'UTC'), agent LowCardinality(String), event_type Enum8('cpu' = 1, 'lock' = 2, 'syscall' = 3), stack_id UInt64, count UInt32) " +
        "ENGINE = MergeTree ORDER BY (agent, event_type, ts)";

    public static readonly string[] Columns = ["ts", "agent", "event_type", "stack_id", "count"];

    private static readonly string[] Agents = [.. Enumerable.Range(0, 16).Select(i => $"agent-{i:00}")];

    public SampleRows(int count)
    {
        Count = count;
        var random = new Random(20261123);
        Timestamps = new long[count];
        AgentIndex = new byte[count];
        EventTypes = new sbyte[count];
        StackIds = new ulong[count];
        Counts = new uint[count];
        var start = 1_795_000_000_000_000_000L;
        for (var i = 0; i < count; i++)
        {
            Timestamps[i] = start + (i * 1_000_000L);
            AgentIndex[i] = (byte)random.Next(Agents.Length);
            EventTypes[i] = (sbyte)(1 + random.Next(3));
            StackIds[i] = (ulong)random.NextInt64(1, 50_000);
            Counts[i] = (uint)random.Next(1, 100);
        }
    }

    public int Count { get; }

    public long[] Timestamps { get; }

    public byte[] AgentIndex { get; }

    public sbyte[] EventTypes { get; }

    public ulong[] StackIds { get; }

    public uint[] Counts { get; }

    public IEnumerable<object[]> AsObjects()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return
            [
                DateTimeOffset.FromUnixTimeMilliseconds(Timestamps[i] / 1_000_000).UtcDateTime.AddTicks(Timestamps[i] % 1_000_000 / 100),
                Agents[AgentIndex[i]],
                (sbyte)EventTypes[i],
                StackIds[i],
                Counts[i],
            ];
        }
    }

    /// <summary>The rows in ClickHouse's RowBinary format.</summary>
    public byte[] ToRowBinary()
    {
        using var output = new MemoryStream(Count * 40);
        Span<byte> scratch = stackalloc byte[8];
        var agentBytes = Agents.Select(Encoding.UTF8.GetBytes).ToArray();
        for (var i = 0; i < Count; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(scratch, Timestamps[i]);
            output.Write(scratch);
            var agent = agentBytes[AgentIndex[i]];
            output.WriteByte((byte)agent.Length);
            output.Write(agent);
            output.WriteByte((byte)EventTypes[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(scratch, StackIds[i]);
            output.Write(scratch);
            BinaryPrimitives.WriteUInt32LittleEndian(scratch, Counts[i]);
            output.Write(scratch[..4]);
        }

        return output.ToArray();
    }
}
