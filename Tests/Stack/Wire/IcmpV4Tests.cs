using System.Buffers.Binary;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;

namespace NetStack.Tests.Stack.Wire;

public class IcmpV4Tests
{
    // Captured on Linux loopback: an echo request (id 0x1234, seq 1, 16 bytes "abcdefgh" twice) and the
    // kernel's echo reply; then the kernel's port unreachable for a UDP datagram to 127.0.0.1:33434,
    // quoting the whole datagram (its UDP checksum field is the loopback partial sum).
    private static readonly byte[] EchoRequest = Convert.FromHexString("0800c29f1234000161626364656667686162636465666768");
    private static readonly byte[] EchoReply = Convert.FromHexString("0000ca9f1234000161626364656667686162636465666768");
    private static readonly byte[] PortUnreachable = Convert.FromHexString(
        "0303d698000000004500002a8d2140004011af9f7f0000017f000001a6f1829a0016fe2968656c6c6f206e6574737461636b");

    private static byte[] Build(IcmpV4Repr repr, ReadOnlySpan<byte> payload, byte fill = 0xA5)
    {
        var message = new byte[repr.BufferLength + payload.Length];
        message.AsSpan().Fill(fill);
        repr.Emit(message);
        payload.CopyTo(message.AsSpan(repr.BufferLength));
        IcmpV4Header.WriteChecksum(message);
        return message;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Rfc792_Echo_LinuxBytes_ParseAndReemit(bool request)
    {
        byte[] bytes = request ? EchoRequest : EchoReply;
        Assert.True(IcmpV4Header.TryCreate(bytes, out var header, out var error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(request ? IcmpV4Type.EchoRequest : IcmpV4Type.EchoReply, header.Type);
        Assert.Equal(0, header.Code);
        Assert.Equal(0x1234, header.Identifier);
        Assert.Equal(1, header.SequenceNumber);
        Assert.Equal("abcdefghabcdefgh"u8.ToArray(), header.Payload.ToArray());
        Assert.True(header.VerifyChecksum());

        Assert.True(IcmpV4Repr.TryParse(header, out var repr, out _));
        Assert.Equal(request ? IcmpV4Repr.EchoRequest(0x1234, 1) : IcmpV4Repr.EchoReply(0x1234, 1), repr);
        Assert.Equal(bytes, Build(repr, header.Payload));
    }

    [Fact]
    public void Rfc792_PortUnreachable_LinuxBytes_CarryInvokingDatagram()
    {
        Assert.True(IcmpV4Header.TryCreate(PortUnreachable, out var header, out _));
        Assert.Equal(IcmpV4Type.DestinationUnreachable, header.Type);
        Assert.Equal((byte)IcmpV4UnreachableCode.PortUnreachable, header.Code);
        Assert.True(header.VerifyChecksum());
        Assert.True(IcmpV4Repr.TryParse(header, out var repr, out _));
        Assert.True(repr.IsError);
        Assert.Equal(IcmpV4Repr.DestinationUnreachable(IcmpV4UnreachableCode.PortUnreachable), repr);
        // The invoking datagram: IPv4 header (protocol 17) then the UDP header with the destination port.
        Assert.Equal(0x45, header.Payload[0]);
        Assert.Equal((byte)IpProtocol.Udp, header.Payload[9]);
        Assert.Equal(33434, BinaryPrimitives.ReadUInt16BigEndian(header.Payload[22..]));
        Assert.Equal(PortUnreachable, Build(repr, header.Payload));
    }

    [Fact]
    public void Rfc1191_FragmentationNeeded_CarriesNextHopMtu()
    {
        byte[] message = Build(IcmpV4Repr.FragmentationNeeded(1400), PortUnreachable.AsSpan(8));
        Assert.Equal(Convert.FromHexString("0304"), message.AsSpan(0, 2).ToArray());
        Assert.Equal(Convert.FromHexString("00000578"), message.AsSpan(4, 4).ToArray());
        Assert.True(IcmpV4Header.TryCreate(message, out var header, out _));
        Assert.Equal(1400, header.NextHopMtu);
        Assert.True(header.VerifyChecksum());
        Assert.True(IcmpV4Repr.TryParse(header, out var repr, out _));
        Assert.Equal((ushort)1400, repr.NextHopMtu);
    }

    [Fact]
    public void Rfc792_ParameterProblem_PointerIsByteFour()
    {
        byte[] message = Build(IcmpV4Repr.ParameterProblem(9), PortUnreachable.AsSpan(8));
        Assert.Equal(new byte[] { 12, 0, 9, 0, 0, 0 }, new[] { message[0], message[1], message[4], message[5], message[6], message[7] });
        Assert.True(IcmpV4Header.TryCreate(message, out var header, out _));
        Assert.Equal(9, header.Pointer);
    }

    [Fact]
    public void Rfc792_TimeExceeded_UnusedBytesAreZero()
    {
        byte[] message = Build(IcmpV4Repr.TimeExceeded(1), []);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(message.AsSpan(4)));
        Assert.Equal(1, message[1]);
    }

    [Fact]
    public void WriteChecksum_WithSeparatePayloadSum_EqualsContiguous()
    {
        var header = new byte[8];
        IcmpV4Repr.EchoRequest(0x1234, 1).Emit(header);
        IcmpV4Header.WriteChecksum(header, InternetChecksum.Sum(EchoRequest.AsSpan(8)));
        Assert.Equal(EchoRequest.AsSpan(0, 8).ToArray(), header);
    }

    [Fact]
    public void TryCreate_ShortBuffer_IsTruncated()
    {
        Assert.False(IcmpV4Header.TryCreate(EchoRequest.AsSpan(0, 7), out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(5)]
    [InlineData(13)]
    [InlineData(42)]
    public void UnsupportedType_IsUnsupported(byte type)
    {
        var message = (byte[])EchoRequest.Clone();
        message[0] = type;
        Assert.True(IcmpV4Header.TryCreate(message, out var header, out _));
        Assert.False(IcmpV4Repr.TryParse(header, out _, out var error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Repr_Emit_Parse_IsIdentity(IcmpV4Repr repr)
    {
        byte[] message = Build(repr, "payload"u8);
        Assert.True(IcmpV4Header.TryCreate(message, out var header, out _));
        Assert.True(header.VerifyChecksum());
        Assert.True(IcmpV4Repr.TryParse(header, out var parsed, out var error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(message, Build(parsed, header.Payload));
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Emit_WritesEveryByte(IcmpV4Repr repr)
    {
        var a = new byte[8];
        var b = new byte[8];
        a.AsSpan().Fill(0xA5);
        repr.Emit(a);
        repr.Emit(b);
        Assert.Equal(b, a);
    }

    internal static void Exercise(ReadOnlySpan<byte> bytes)
    {
        if (!IcmpV4Header.TryCreate(bytes, out var header, out var error))
        {
            Assert.Equal(WireError.Truncated, error);
            return;
        }
        _ = (int)header.Type + header.Code + header.Checksum + header.RestOfHeader + header.Identifier + header.SequenceNumber;
        _ = header.NextHopMtu + header.Pointer + header.Payload.Length + header.Message.Length;
        _ = header.VerifyChecksum();
        if (IcmpV4Repr.TryParse(header, out var repr, out _))
        {
            repr.Emit(new byte[repr.BufferLength]);
        }
    }

    [Property(MaxTest = 1000)]
    public void RandomBytes_NeverThrow(byte[] bytes) => Exercise(bytes);

    [Fact]
    public void EveryPrefix_NeverThrows()
    {
        for (int n = 0; n <= PortUnreachable.Length; n++)
        {
            Exercise(PortUnreachable.AsSpan(0, n));
        }
    }

    [Property(MaxTest = 200)]
    public Property OurEcho_PacketDotNetAgrees() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.IcmpV4ReprGen, TransportGenerators.PayloadGen(64))),
        t =>
        {
            (IcmpV4Repr repr, byte[] payload) = t;
            byte[] message = Build(repr, payload);
            var ip = new IPv4Packet(new ByteArraySegment(TestIp.V4(IpProtocol.Icmp, message)));
            var icmp = Assert.IsType<IcmpV4Packet>(ip.PayloadPacket);
            Assert.Equal(((int)repr.Type << 8) | repr.Code, (int)icmp.TypeCode);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(2)), icmp.Checksum);
            Assert.True(icmp.ValidIcmpChecksum);
            if (repr.Type is IcmpV4Type.EchoRequest or IcmpV4Type.EchoReply)
            {
                Assert.Equal(repr.Identifier, icmp.Id);
                Assert.Equal(repr.SequenceNumber, icmp.Sequence);
            }
        });

    [Property(MaxTest = 200)]
    public Property PacketDotNetEcho_WeAgree() => Prop.ForAll(
        Arb.From(Gen.Zip(Gen.Zip(TransportGenerators.UInt16Gen, TransportGenerators.UInt16Gen), Gen.Zip(TransportGenerators.PayloadGen(64), Gen.Elements(true, false)))),
        t =>
        {
            ((ushort id, ushort seq), (byte[] payload, bool request)) = t;
            var bytes = new byte[8 + payload.Length];
            payload.CopyTo(bytes, 8);
            var icmp = new IcmpV4Packet(new ByteArraySegment(bytes))
            {
                TypeCode = request ? IcmpV4TypeCode.EchoRequest : IcmpV4TypeCode.EchoReply,
                Id = id,
                Sequence = seq,
            };
            icmp.UpdateIcmpChecksum();
            byte[] message = icmp.Bytes;

            Assert.True(IcmpV4Header.TryCreate(message, out var header, out _));
            Assert.True(header.VerifyChecksum());
            Assert.Equal(icmp.Checksum, header.Checksum);
            Assert.True(IcmpV4Repr.TryParse(header, out var repr, out _));
            Assert.Equal(request ? IcmpV4Repr.EchoRequest(id, seq) : IcmpV4Repr.EchoReply(id, seq), repr);
            Assert.Equal(payload, header.Payload.ToArray());
        });
}
