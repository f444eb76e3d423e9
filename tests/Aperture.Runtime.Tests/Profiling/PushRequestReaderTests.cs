using System.Collections.Immutable;
using Aperture.Contracts.Grpc;
using Aperture.Runtime.Platform;
using Aperture.Runtime.Profiling;
using Google.Protobuf;
using ProtoStack = Aperture.Contracts.Grpc.Stack;

namespace Aperture.Runtime.Tests.Profiling;

/// <summary>The hand-written protobuf reader against the generated encoder, byte for byte.</summary>
public sealed class PushRequestReaderTests
{
    private static readonly ProfilingOptions Limits = new();

    private static PushRequest TableBatch()
    {
        var request = new PushRequest { AgentId = "agent-ä", Sequence = 7, SamplePeriodNs = 10_101_010 };
        request.Strings.AddRange(["", "main", "handle_request", "/usr/bin/app", "λ::closure"]);
        request.Stacks.Add(new ProtoStack { Frames = { new Frame { Ip = 0x401000, FunctionIndex = 1, ModuleIndex = 3 }, new Frame { Ip = 0x401200, FunctionIndex = 2, ModuleIndex = 3 } } });
        request.Stacks.Add(new ProtoStack { Frames = { new Frame { Ip = 0x401000, FunctionIndex = 1, ModuleIndex = 3 }, new Frame { Ip = 0x402000, FunctionIndex = 4 } } });
        request.Events.Add(new Event { Type = EventType.Cpu, TimestampNs = 1_000, Count = 3, StackIndex = 0, Pid = 10, Tid = 11 });
        request.Events.Add(new Event { Type = EventType.Lock, TimestampNs = 2_000, StackIndex = 1, WaitNs = 500, LockAddress = 0xdead, Pid = 10, Tid = 12 });
        request.Events.Add(new Event { Type = EventType.Syscall, TimestampNs = 3_000, Count = 2, StackIndex = 0, LatencyNs = 900, Syscall = "read" });
        return request;
    }

    [Fact]
    public void Reads_every_field_and_gives_stacks_the_ids_of_their_decoded_frames()
    {
        var batch = PushRequestReader.Read(TableBatch().ToByteArray(), Limits, 42, new StackInterner());

        Assert.Equal("agent-ä", batch.AgentId);
        Assert.Equal(7UL, batch.Sequence);
        Assert.Equal(10_101_010L, batch.SamplePeriodNs);
        Assert.Equal(42L, batch.ReceivedAtNs);
        var expectedFirst = new CallStack([new StackFrame(0x401000, "main", "/usr/bin/app"), new StackFrame(0x401200, "handle_request", "/usr/bin/app")]);
        var expectedSecond = new CallStack([new StackFrame(0x401000, "main", "/usr/bin/app"), new StackFrame(0x402000, "λ::closure", "")]);
        Assert.Equal(new[] { expectedFirst.Id, expectedSecond.Id }.Order(), batch.Stacks.Keys.Order());
        Assert.Equal(expectedSecond.Frames, batch.Stacks[expectedSecond.Id].Frames);

        Assert.Equal(
            [
                new ProfileEvent(EventKind.Cpu, 1_000, expectedFirst.Id, 3, 0, 0, 0, 10, 11),
                new ProfileEvent(EventKind.Lock, 2_000, expectedSecond.Id, 1, 500, 0xdead, 0, 10, 12),
                new ProfileEvent(EventKind.Syscall, 3_000, expectedFirst.Id, 2, 900, 0, SyscallNames.Id("read"), 0, 0),
            ],
            batch.Events.ToArray());
    }

    [Fact]
    public void Inline_names_and_table_names_give_the_same_stack()
    {
        var inline = new PushRequest { AgentId = "a", Sequence = 1 };
        inline.Events.Add(new Event
        {
            Type = EventType.Cpu,
            TimestampNs = 5,
            Stack = new ProtoStack { Frames = { new Frame { Ip = 0x401000, Function = "main", Module = "/usr/bin/app" }, new Frame { Ip = 0x401200, Function = "handle_request", Module = "/usr/bin/app" } } },
        });
        var interner = new StackInterner();
        var fromInline = PushRequestReader.Read(inline.ToByteArray(), Limits, 1, interner);
        var fromTable = PushRequestReader.Read(TableBatch().ToByteArray(), Limits, 2, interner);

        var id = Assert.Single(fromInline.Stacks.Keys);
        Assert.Contains(id, fromTable.Stacks.Keys);
        // The second batch found the stack held: the very same instance, not a copy.
        Assert.Same(fromInline.Stacks[id], fromTable.Stacks[id]);
    }

    [Fact]
    public void Unknown_fields_are_skipped_as_protobuf_requires()
    {
        var bytes = TableBatch().ToByteArray();
        using var extended = new MemoryStream();
        extended.Write(bytes);
        using (var output = new CodedOutputStream(extended, leaveOpen: true))
        {
            output.WriteTag(99, WireFormat.WireType.Varint);
            output.WriteUInt64(12345);
            output.WriteTag(100, WireFormat.WireType.LengthDelimited);
            output.WriteString("from a newer agent");
            output.WriteTag(101, WireFormat.WireType.Fixed64);
            output.WriteFixed64(1);
            output.WriteTag(102, WireFormat.WireType.Fixed32);
            output.WriteFixed32(1);
        }

        var batch = PushRequestReader.Read(extended.ToArray(), Limits, 1, new StackInterner());
        Assert.Equal(3, batch.Events.Length);
    }

    public static TheoryData<string, byte[]> Malformed => new()
    {
        { "truncated varint", [0x10, 0x80] },
        { "length past the end", [0x0a, 0x05, (byte)'a'] },
        { "field number 0", [0x00, 0x01] },
        { "group wire type", [0x0b] },
        { "varint of eleven bytes", [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01] },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_bytes_are_an_invalid_request_naming_the_body(string why, byte[] bytes)
    {
        var e = Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(bytes, Limits, 1, new StackInterner()));
        Assert.True(e.Message.StartsWith("the body is not a valid PushRequest", StringComparison.Ordinal), why);
    }

    [Fact]
    public void A_name_that_is_not_utf8_is_refused()
    {
        var request = TableBatch();
        var bytes = request.ToByteArray();
        // "main" in the string table becomes 0xff 0xfe 'i' 'n': same length, invalid UTF-8.
        var at = bytes.AsSpan().IndexOf("main"u8);
        bytes[at] = 0xff;
        bytes[at + 1] = 0xfe;

        var e = Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(bytes, Limits, 1, new StackInterner()));
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void The_limits_and_references_of_the_generated_path_still_hold()
    {
        var noStack = new PushRequest { AgentId = "a" };
        noStack.Events.Add(new Event { Type = EventType.Cpu, StackIndex = 3 });
        Assert.Equal("events[0].stack", Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(noStack.ToByteArray(), Limits, 1, new StackInterner())).Field);

        var badIndex = TableBatch();
        badIndex.Stacks[0].Frames[0].FunctionIndex = 99;
        Assert.Equal("stacks[0]", Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(badIndex.ToByteArray(), Limits, 1, new StackInterner())).Field);

        var unknownType = TableBatch();
        unknownType.Events[1].Type = (EventType)9;
        Assert.Equal("events[1].type", Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(unknownType.ToByteArray(), Limits, 1, new StackInterner())).Field);

        var noAgent = TableBatch();
        noAgent.AgentId = " ";
        Assert.Equal("agent_id", Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(noAgent.ToByteArray(), Limits, 1, new StackInterner())).Field);

        var deep = new PushRequest { AgentId = "a" };
        var stack = new ProtoStack();
        stack.Frames.AddRange(Enumerable.Range(0, Limits.MaxFramesPerStack + 1).Select(i => new Frame { Ip = (ulong)i + 1, Function = "f" }));
        deep.Stacks.Add(stack);
        Assert.Equal("stacks[0]", Assert.Throws<InvalidRequestException>(() => PushRequestReader.Read(deep.ToByteArray(), Limits, 1, new StackInterner())).Field);
    }
}
