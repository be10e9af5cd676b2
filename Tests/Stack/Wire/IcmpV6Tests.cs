using System.Buffers.Binary;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Checksums;
using NetStack.Testing.Generators;
using NetStack.Wire;
using PacketDotNet;
using PacketDotNet.Utils;
using IcmpV6Type = NetStack.Wire.IcmpV6Type;
using PdnIcmpV6Type = PacketDotNet.IcmpV6Type;
using PdnProtocolType = PacketDotNet.ProtocolType;

namespace NetStack.Tests.Stack.Wire;

public class IcmpV6Tests
{
    private static readonly byte[] Loopback = IPAddress.IPv6Loopback.GetAddressBytes();

    // Captured on Linux loopback (::1 → ::1): echo request id 0x1234 seq 1 (checksum by the kernel), the
    // kernel's echo reply, and its port unreachable (code 4) quoting a UDP datagram to port 33434.
    private static readonly byte[] EchoRequest = Convert.FromHexString("80004a4b1234000161626364656667686162636465666768");
    private static readonly byte[] EchoReply = Convert.FromHexString("8100494b1234000161626364656667686162636465666768");
    private static readonly byte[] PortUnreachable = Convert.FromHexString(
        "010441f000000000600d3cc20016114000000000000000000000000000000001000000000000000000000000000000018cf0829a0016002968656c6c6f206e6574737461636b");

    // Packet too big, MTU 1280, from 2001:db8::1 to 2001:db8::2, quoting the datagram above; checksum
    // 0xe080 computed independently.
    private static readonly byte[] Source = Convert.FromHexString("20010db8000000000000000000000001");
    private static readonly byte[] Destination = Convert.FromHexString("20010db8000000000000000000000002");

    private static uint LoopbackPseudo(int length) =>
        InternetChecksum.PseudoHeaderSumV6(Loopback, Loopback, (byte)IpProtocol.IcmpV6, length);

    private static byte[] Build(IcmpV6Repr repr, ReadOnlySpan<byte> payload, uint pseudo, byte fill = 0xA5)
    {
        var message = new byte[repr.BufferLength + payload.Length];
        message.AsSpan().Fill(fill);
        repr.Emit(message);
        payload.CopyTo(message.AsSpan(repr.BufferLength));
        IcmpV6Header.WriteChecksum(message, pseudo);
        return message;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Rfc4443_4_Echo_LinuxBytes_ParseAndReemit(bool request)
    {
        byte[] bytes = request ? EchoRequest : EchoReply;
        Assert.True(IcmpV6Header.TryCreate(bytes, out var header, out var error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(request ? IcmpV6Type.EchoRequest : IcmpV6Type.EchoReply, header.Type);
        Assert.False(header.IsError);
        Assert.Equal(0x1234, header.Identifier);
        Assert.Equal(1, header.SequenceNumber);
        Assert.True(header.VerifyChecksum(LoopbackPseudo(bytes.Length)));
        Assert.False(header.VerifyChecksum(LoopbackPseudo(bytes.Length + 1)));

        Assert.True(IcmpV6Repr.TryParse(header, out var repr, out _));
        Assert.Equal(request ? IcmpV6Repr.EchoRequest(0x1234, 1) : IcmpV6Repr.EchoReply(0x1234, 1), repr);
        Assert.Equal(bytes, Build(repr, header.Payload, LoopbackPseudo(bytes.Length)));
    }

    [Fact]
    public void Rfc4443_3_1_PortUnreachable_LinuxBytes()
    {
        Assert.True(IcmpV6Header.TryCreate(PortUnreachable, out var header, out _));
        Assert.Equal(IcmpV6Type.DestinationUnreachable, header.Type);
        Assert.Equal((byte)IcmpV6UnreachableCode.PortUnreachable, header.Code);
        Assert.True(header.IsError);
        Assert.True(header.VerifyChecksum(LoopbackPseudo(PortUnreachable.Length)));
        Assert.True(IcmpV6Repr.TryParse(header, out var repr, out _));
        Assert.Equal(IcmpV6Repr.DestinationUnreachable(IcmpV6UnreachableCode.PortUnreachable), repr);
        Assert.Equal(0x60, header.Payload[0] & 0xF0);
        Assert.Equal((byte)IpProtocol.Udp, header.Payload[6]);
        Assert.Equal(PortUnreachable, Build(repr, header.Payload, LoopbackPseudo(PortUnreachable.Length)));
    }

    [Fact]
    public void Rfc4443_3_2_PacketTooBig_ExactBytes()
    {
        ReadOnlySpan<byte> invoking = PortUnreachable.AsSpan(8);
        uint pseudo = InternetChecksum.PseudoHeaderSumV6(Source, Destination, (byte)IpProtocol.IcmpV6, 8 + invoking.Length);
        byte[] message = Build(IcmpV6Repr.PacketTooBig(1280), invoking, pseudo);
        Assert.Equal(Convert.FromHexString("0200e08000000500"), message.AsSpan(0, 8).ToArray());
        Assert.Equal(invoking.ToArray(), message.AsSpan(8).ToArray());

        Assert.True(IcmpV6Header.TryCreate(message, out var header, out _));
        Assert.Equal(1280u, header.Mtu);
        Assert.True(header.VerifyChecksum(pseudo));
        Assert.True(IcmpV6Repr.TryParse(header, out var repr, out _));
        Assert.Equal(IcmpV6Repr.PacketTooBig(1280), repr);

        var split = new byte[8];
        repr.Emit(split);
        IcmpV6Header.WriteChecksum(split, pseudo, InternetChecksum.Sum(invoking));
        Assert.Equal(message.AsSpan(0, 8).ToArray(), split);
    }

    [Fact]
    public void Rfc4443_3_4_ParameterProblem_PointerIsFourBytes()
    {
        byte[] message = Build(IcmpV6Repr.ParameterProblem(1, 0x01020304), [], 0);
        Assert.Equal(Convert.FromHexString("0401"), message.AsSpan(0, 2).ToArray());
        Assert.Equal(Convert.FromHexString("01020304"), message.AsSpan(4).ToArray());
        Assert.True(IcmpV6Header.TryCreate(message, out var header, out _));
        Assert.Equal(0x01020304u, header.Pointer);
    }

    [Fact]
    public void TryCreate_ShortBuffer_IsTruncated()
    {
        Assert.False(IcmpV6Header.TryCreate(EchoRequest.AsSpan(0, 7), out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(135)]
    [InlineData(100)]
    [InlineData(5)]
    public void Rfc4443_2_4_UnsupportedType_IsUnsupported(byte type)
    {
        var message = (byte[])EchoRequest.Clone();
        message[0] = type;
        Assert.True(IcmpV6Header.TryCreate(message, out var header, out _));
        Assert.Equal(type < 128, header.IsError);
        Assert.False(IcmpV6Repr.TryParse(header, out _, out var error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Repr_Emit_Parse_IsIdentity(IcmpV6Repr repr)
    {
        uint pseudo = TestIp.PseudoV6(IpProtocol.IcmpV6, 8 + 7);
        byte[] message = Build(repr, "payload"u8, pseudo);
        Assert.True(IcmpV6Header.TryCreate(message, out var header, out _));
        Assert.True(header.VerifyChecksum(pseudo));
        Assert.True(IcmpV6Repr.TryParse(header, out var parsed, out var error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(message, Build(parsed, header.Payload, pseudo));
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Emit_WritesEveryByte(IcmpV6Repr repr)
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
        if (!IcmpV6Header.TryCreate(bytes, out var header, out var error))
        {
            Assert.Equal(WireError.Truncated, error);
            return;
        }
        _ = (int)header.Type + header.Code + header.Checksum + header.RestOfHeader + header.Identifier + header.SequenceNumber;
        _ = header.Mtu + header.Pointer + (uint)header.Payload.Length + (uint)header.Message.Length;
        _ = header.VerifyChecksum(0) && header.IsError;
        if (IcmpV6Repr.TryParse(header, out var repr, out _))
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
    public Property OurMessage_PacketDotNetAgrees() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.IcmpV6ReprGen, TransportGenerators.PayloadGen(64))),
        t =>
        {
            (IcmpV6Repr repr, byte[] payload) = t;
            byte[] message = Build(repr, payload, TestIp.PseudoV6(IpProtocol.IcmpV6, 8 + payload.Length));
            var ip = new IPv6Packet(new ByteArraySegment(TestIp.V6(IpProtocol.IcmpV6, message)));
            var icmp = Assert.IsType<IcmpV6Packet>(ip.PayloadPacket);
            Assert.Equal((byte)repr.Type, (byte)icmp.Type);
            Assert.Equal(repr.Code, icmp.Code);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(message.AsSpan(2)), icmp.Checksum);
            Assert.True(icmp.ValidIcmpChecksum);
        });

    [Property(MaxTest = 200)]
    public Property PacketDotNetMessage_WeAgree() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.IcmpV6ReprGen, TransportGenerators.PayloadGen(64))),
        t =>
        {
            (IcmpV6Repr fields, byte[] payload) = t;
            // PacketDotNet has no setters for the type-specific word: it comes from our emit, PacketDotNet
            // sets type and code and computes the checksum over the pseudo-header.
            var bytes = new byte[8 + payload.Length];
            fields.Emit(bytes);
            payload.CopyTo(bytes, 8);
            var icmp = new IcmpV6Packet(new ByteArraySegment(bytes))
            {
                Type = (PdnIcmpV6Type)(byte)fields.Type,
                Code = fields.Code,
            };
            var ip = new IPv6Packet(new IPAddress(TestIp.V6Source), new IPAddress(TestIp.V6Destination)) { PayloadPacket = icmp };
            ip.NextHeader = PdnProtocolType.IcmpV6; // not inferred from the payload packet
            ip.UpdateCalculatedValues();
            // PacketDotNet sums ParentPacket.HeaderDataSegment, which is only contiguous in a parsed packet:
            // serialize, re-parse, then let it compute the checksum.
            var reparsed = new IPv6Packet(new ByteArraySegment(ip.Bytes));
            var built = Assert.IsType<IcmpV6Packet>(reparsed.PayloadPacket);
            built.UpdateIcmpChecksum();
            ReadOnlySpan<byte> message = reparsed.Bytes.AsSpan(40);
            Assert.Equal(8 + payload.Length, message.Length);

            Assert.True(IcmpV6Header.TryCreate(message, out var header, out _));
            Assert.True(header.VerifyChecksum(TestIp.PseudoV6(IpProtocol.IcmpV6, message.Length)));
            Assert.Equal(built.Checksum, header.Checksum);
            Assert.True(IcmpV6Repr.TryParse(header, out var repr, out var error), error.ToString());
            Assert.Equal(fields, repr);
            Assert.Equal(payload, header.Payload.ToArray());
        });
}
