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

namespace NetStack.Tests.Stack.Wire;

public class UdpTests
{
    private static readonly byte[] Loopback4 = [127, 0, 0, 1];
    private static readonly byte[] Loopback6 = IPAddress.IPv6Loopback.GetAddressBytes();

    // "hello netstack" from 127.0.0.1:42737 to 127.0.0.1:33434, captured from Linux on loopback: the field
    // holds the partial checksum 0xfe29; the full checksum, computed independently, is 0xd99b.
    private static readonly byte[] LinuxDatagramV4 = Convert.FromHexString("a6f1829a0016fe2968656c6c6f206e6574737461636b");
    // The same over ::1 (port 36080): partial 0x0029, full 0xf19d.
    private static readonly byte[] LinuxDatagramV6 = Convert.FromHexString("8cf0829a0016002968656c6c6f206e6574737461636b");

    private static uint Pseudo4(int length) => InternetChecksum.PseudoHeaderSumV4(Loopback4, Loopback4, (byte)IpProtocol.Udp, length);

    private static uint Pseudo6(int length) => InternetChecksum.PseudoHeaderSumV6(Loopback6, Loopback6, (byte)IpProtocol.Udp, length);

    private static byte[] Emit(UdpRepr repr, byte fill = 0xA5)
    {
        var buffer = new byte[repr.BufferLength];
        buffer.AsSpan().Fill(fill);
        repr.Emit(buffer);
        return buffer;
    }

    [Fact]
    public void Rfc768_LinuxDatagram_ParsesAndKnownChecksum()
    {
        Assert.True(UdpHeader.TryCreate(LinuxDatagramV4, out var header, out var error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(42737, header.SourcePort);
        Assert.Equal(33434, header.DestinationPort);
        Assert.Equal(22, header.Length);
        Assert.Equal("hello netstack"u8.ToArray(), header.Payload.ToArray());

        var datagram = (byte[])LinuxDatagramV4.Clone();
        UdpHeader.WriteChecksum(datagram, Pseudo4(datagram.Length));
        Assert.Equal(0xd99b, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)));
        Assert.True(UdpHeader.VerifyChecksum(datagram, Pseudo4(datagram.Length), NetworkProtocol.IPv4, out error));
        Assert.Equal(WireError.None, error);

        var v6 = (byte[])LinuxDatagramV6.Clone();
        UdpHeader.WriteChecksum(v6, Pseudo6(v6.Length));
        Assert.Equal(0xf19d, BinaryPrimitives.ReadUInt16BigEndian(v6.AsSpan(6)));
        Assert.True(UdpHeader.VerifyChecksum(v6, Pseudo6(v6.Length), NetworkProtocol.IPv6, out _));
    }

    [Fact]
    public void Design4_PartialChecksum_MatchesLinuxLoopback()
    {
        Assert.True(UdpHeader.TryCreate(LinuxDatagramV4, out var header, out _));
        Assert.True(UdpRepr.TryParse(header, NetworkProtocol.IPv4, out var repr, out _));
        Assert.Equal(14, repr.PayloadLength);
        var datagram = new byte[LinuxDatagramV4.Length];
        datagram.AsSpan().Fill(0xA5);
        repr.Emit(datagram);
        "hello netstack"u8.CopyTo(datagram.AsSpan(8));
        UdpHeader.WritePartialChecksum(datagram, Pseudo4(datagram.Length));
        Assert.Equal(LinuxDatagramV4, datagram);

        var v6 = (byte[])LinuxDatagramV6.Clone();
        UdpHeader.SetChecksum(v6, 0xFFFF);
        UdpHeader.WritePartialChecksum(v6, Pseudo6(v6.Length));
        Assert.Equal(LinuxDatagramV6, v6);
    }

    [Fact]
    public void Rfc768_ComputedZeroChecksum_IsSentAsAllOnes()
    {
        // Pick the last payload word so that the sum complements to zero.
        var datagram = new byte[10];
        new UdpRepr { SourcePort = 1000, DestinationPort = 2000, PayloadLength = 2 }.Emit(datagram);
        uint pseudo = TestIp.PseudoV4(IpProtocol.Udp, datagram.Length);
        ushort partial = InternetChecksum.Fold(InternetChecksum.Sum(datagram, pseudo));
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(8), (ushort)~partial);
        Assert.Equal(0, InternetChecksum.Compute(datagram, pseudo));

        UdpHeader.WriteChecksum(datagram, pseudo);
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)));
        Assert.True(UdpHeader.VerifyChecksum(datagram, pseudo, NetworkProtocol.IPv6, out _));

        var header = datagram.AsSpan(0, 8).ToArray();
        UdpHeader.WriteChecksum(header, pseudo, InternetChecksum.Sum(datagram.AsSpan(8)));
        Assert.Equal(0xFFFF, BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(6)));
    }

    [Fact]
    public void Rfc8200_8_1_ZeroChecksumOverIpv6_IsBadField()
    {
        var datagram = (byte[])LinuxDatagramV6.Clone();
        UdpHeader.SetChecksum(datagram, 0);
        Assert.True(UdpHeader.TryCreate(datagram, out var header, out _));
        Assert.False(UdpRepr.TryParse(header, NetworkProtocol.IPv6, out _, out var error));
        Assert.Equal(WireError.BadField, error);
        Assert.False(header.VerifyChecksum(Pseudo6(datagram.Length), NetworkProtocol.IPv6, out error));
        Assert.Equal(WireError.BadField, error);
    }

    [Fact]
    public void Rfc768_ZeroChecksumOverIpv4_MeansNoChecksum()
    {
        var datagram = (byte[])LinuxDatagramV4.Clone();
        UdpHeader.SetChecksum(datagram, 0);
        Assert.True(UdpHeader.TryCreate(datagram, out var header, out _));
        Assert.True(UdpRepr.TryParse(header, NetworkProtocol.IPv4, out _, out _));
        Assert.True(UdpRepr.TryParse(header, NetworkProtocol.IPv4, out _, out _));
        Assert.True(header.VerifyChecksum(Pseudo4(datagram.Length), NetworkProtocol.IPv4, out var error));
        Assert.Equal(WireError.None, error);
    }

    [Fact]
    public void WrongChecksum_IsBadChecksum()
    {
        var datagram = (byte[])LinuxDatagramV4.Clone();
        UdpHeader.WriteChecksum(datagram, Pseudo4(datagram.Length));
        datagram[^1] ^= 0x40;
        Assert.False(UdpHeader.VerifyChecksum(datagram, Pseudo4(datagram.Length), NetworkProtocol.IPv4, out var error));
        Assert.Equal(WireError.BadChecksum, error);
    }

    [Fact]
    public void TryCreate_ShortBuffer_IsTruncated()
    {
        Assert.False(UdpHeader.TryCreate(LinuxDatagramV4.AsSpan(0, 7), out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void TryCreate_LengthPastBuffer_IsTruncated()
    {
        Assert.False(UdpHeader.TryCreate(LinuxDatagramV4.AsSpan(0, 21), out _, out var error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void TryCreate_LengthBelowHeader_IsBadTotalLength(int length)
    {
        var datagram = (byte[])LinuxDatagramV4.Clone();
        UdpHeader.SetLength(datagram, (ushort)length);
        Assert.False(UdpHeader.TryCreate(datagram, out _, out var error));
        Assert.Equal(WireError.BadTotalLength, error);
    }

    [Fact]
    public void Payload_StopsAtLengthField()
    {
        var padded = LinuxDatagramV4.Concat(new byte[] { 0, 0, 0, 0 }).ToArray();
        Assert.True(UdpHeader.TryCreate(padded, out var header, out _));
        Assert.Equal(14, header.Payload.Length);
        Assert.Equal(22, header.Datagram.Length);
    }

    [Fact]
    public void Mutators_ChangeOnlyTheirField()
    {
        var datagram = (byte[])LinuxDatagramV4.Clone();
        UdpHeader.SetLength(datagram, 9);
        UdpHeader.SetChecksum(datagram, 0x1234);
        Assert.True(UdpHeader.TryCreate(datagram, out var header, out _));
        Assert.Equal(9, header.Length);
        Assert.Equal(0x1234, header.Checksum);
        Assert.Equal(42737, header.SourcePort);
        Assert.Equal(33434, header.DestinationPort);
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Repr_Emit_Parse_IsIdentity(UdpRepr repr)
    {
        var datagram = new byte[8 + repr.PayloadLength];
        repr.Emit(datagram);
        UdpHeader.WriteChecksum(datagram, TestIp.PseudoV6(IpProtocol.Udp, datagram.Length));
        Assert.True(UdpHeader.TryCreate(datagram, out var header, out var error), error.ToString());
        Assert.True(UdpRepr.TryParse(header, NetworkProtocol.IPv6, out var parsed, out error), error.ToString());
        Assert.Equal(repr, parsed);
        Assert.Equal(Emit(repr), Emit(parsed));
    }

    [Property(MaxTest = 300, Arbitrary = [typeof(TransportGenerators)])]
    public void Emit_WritesEveryByte(UdpRepr repr) => Assert.Equal(Emit(repr, 0x00), Emit(repr, 0xA5));

    [Property(MaxTest = 200)]
    public Property Checksum_WholeSplitAndPartial_Agree() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.UInt16Gen.Two(), TransportGenerators.PayloadGen(300))),
        t =>
        {
            ((ushort sport, ushort dport), byte[] payload) = t;
            var repr = new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length };
            var datagram = new byte[8 + payload.Length];
            repr.Emit(datagram);
            payload.CopyTo(datagram, 8);
            uint pseudo = TestIp.PseudoV4(IpProtocol.Udp, datagram.Length);
            UdpHeader.WriteChecksum(datagram, pseudo);
            Assert.True(UdpHeader.VerifyChecksum(datagram, pseudo, NetworkProtocol.IPv6, out _));
            Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)));

            var header = Emit(repr);
            UdpHeader.WriteChecksum(header, pseudo, InternetChecksum.Sum(payload));
            Assert.Equal(datagram.AsSpan(0, 8).ToArray(), header);

            var partial = (byte[])datagram.Clone();
            UdpHeader.WritePartialChecksum(partial, pseudo);
            ushort completed = InternetChecksum.Finish(InternetChecksum.Sum(partial));
            UdpHeader.SetChecksum(partial, completed == 0 ? (ushort)0xFFFF : completed);
            Assert.Equal(datagram, partial);
        });

    internal static void Exercise(ReadOnlySpan<byte> bytes)
    {
        if (!UdpHeader.TryCreate(bytes, out var header, out var error))
        {
            Assert.NotEqual(WireError.None, error);
            return;
        }
        _ = header.SourcePort + header.DestinationPort + header.Length + header.Checksum + header.Payload.Length + header.Datagram.Length;
        _ = header.VerifyChecksum(0, NetworkProtocol.IPv6, out _);
        if (UdpRepr.TryParse(header, NetworkProtocol.IPv6, out var repr, out _))
        {
            _ = Emit(repr);
        }
    }

    [Property(MaxTest = 1000)]
    public void RandomBytes_NeverThrow(byte[] bytes) => Exercise(bytes);

    [Property(MaxTest = 50)]
    public Property EveryPrefix_NeverThrows() => Prop.ForAll(
        Arb.From(TransportGenerators.PayloadGen(40)),
        payload =>
        {
            var datagram = new byte[8 + payload.Length];
            new UdpRepr { SourcePort = 7, DestinationPort = 9, PayloadLength = payload.Length }.Emit(datagram);
            payload.CopyTo(datagram, 8);
            for (int n = 0; n <= datagram.Length; n++)
            {
                Exercise(datagram.AsSpan(0, n));
            }
        });

    [Property(MaxTest = 200)]
    public Property OurDatagram_PacketDotNetAgrees() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.UInt16Gen.Two(), Gen.Zip(TransportGenerators.PayloadGen(64), Gen.Elements(false, true)))),
        t =>
        {
            ((ushort sport, ushort dport), (byte[] payload, bool v6)) = t;
            var repr = new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length };
            var datagram = new byte[8 + payload.Length];
            repr.Emit(datagram);
            payload.CopyTo(datagram, 8);
            UdpHeader.WriteChecksum(datagram, v6 ? TestIp.PseudoV6(IpProtocol.Udp, datagram.Length) : TestIp.PseudoV4(IpProtocol.Udp, datagram.Length));
            byte[] packet = v6 ? TestIp.V6(IpProtocol.Udp, datagram) : TestIp.V4(IpProtocol.Udp, datagram);
            IPPacket ip = v6 ? new IPv6Packet(new ByteArraySegment(packet)) : new IPv4Packet(new ByteArraySegment(packet));
            var udp = Assert.IsType<UdpPacket>(ip.PayloadPacket);
            Assert.Equal(sport, udp.SourcePort);
            Assert.Equal(dport, udp.DestinationPort);
            Assert.Equal(datagram.Length, udp.Length);
            Assert.Equal(payload, udp.PayloadData ?? []);
            Assert.True(udp.ValidUdpChecksum);
            Assert.Equal(BinaryPrimitives.ReadUInt16BigEndian(datagram.AsSpan(6)), udp.Checksum);
        });

    [Property(MaxTest = 200)]
    public Property PacketDotNetDatagram_WeAgree() => Prop.ForAll(
        Arb.From(Gen.Zip(TransportGenerators.UInt16Gen.Two(), Gen.Zip(TransportGenerators.PayloadGen(64), Gen.Elements(false, true)))),
        t =>
        {
            ((ushort sport, ushort dport), (byte[] payload, bool v6)) = t;
            var udp = new UdpPacket(sport, dport) { PayloadData = payload };
            IPPacket ip = v6
                ? new IPv6Packet(new IPAddress(TestIp.V6Source), new IPAddress(TestIp.V6Destination))
                : new IPv4Packet(new IPAddress(TestIp.V4Source), new IPAddress(TestIp.V4Destination));
            ip.PayloadPacket = udp;
            ip.UpdateCalculatedValues();
            udp.UpdateUdpChecksum();
            ReadOnlySpan<byte> datagram = ip.Bytes.AsSpan(v6 ? 40 : 20);

            Assert.True(UdpHeader.TryCreate(datagram, out var header, out var error), error.ToString());
            NetworkProtocol network = v6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
            uint pseudo = v6 ? TestIp.PseudoV6(IpProtocol.Udp, header.Length) : TestIp.PseudoV4(IpProtocol.Udp, header.Length);
            if (udp.Checksum != 0)
            {
                Assert.True(header.VerifyChecksum(pseudo, network, out error), error.ToString());
            }
            Assert.True(UdpRepr.TryParse(header, NetworkProtocol.IPv4, out var repr, out _));
            Assert.Equal(new UdpRepr { SourcePort = sport, DestinationPort = dport, PayloadLength = payload.Length }, repr);
            Assert.Equal(payload, header.Payload.ToArray());
            Assert.Equal(udp.Checksum, header.Checksum);
        });
}
