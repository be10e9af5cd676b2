// Exact-packet tests of the one transport-checksum check: TCP (RFC 9293 §3.1), UDP and its zero rules (RFC 768,
// RFC 8200 §8.1), ICMPv4 (RFC 792) and ICMPv6 (RFC 4443 §2.3), flat and over a packet split into pieces.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Tests.Stack.Wire;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Checksums;

public class TransportChecksumTests
{
    private readonly PacketBufferPool _pool = new(new PacketBufferPoolOptions(), "transport-checksum-tests");

    private static readonly byte[] Payload = [.. Enumerable.Range(0, 37).Select(i => (byte)(i * 7))];

    private static byte[] Tcp(bool v6)
    {
        byte[] segment = [0x9C, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0x01, 0x00, 0, 0, 0, 0, .. Payload];
        TcpHeader.WriteChecksum(segment, v6 ? TestIp.PseudoV6(IpProtocol.Tcp, segment.Length) : TestIp.PseudoV4(IpProtocol.Tcp, segment.Length));
        return v6 ? TestIp.V6(IpProtocol.Tcp, segment) : TestIp.V4(IpProtocol.Tcp, segment);
    }

    private static byte[] Udp(bool v6, bool zero = false, int trailing = 0)
    {
        byte[] datagram = [0x13, 0x88, 0x00, 0x35, 0, 0, 0, 0, .. Payload];
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)datagram.Length);
        if (!zero)
        {
            UdpHeader.WriteChecksum(datagram, v6 ? TestIp.PseudoV6(IpProtocol.Udp, datagram.Length) : TestIp.PseudoV4(IpProtocol.Udp, datagram.Length));
        }
        byte[] payload = [.. datagram, .. new byte[trailing]];
        return v6 ? TestIp.V6(IpProtocol.Udp, payload) : TestIp.V4(IpProtocol.Udp, payload);
    }

    private static TransportChecksumStatus Verify(byte[] packet)
    {
        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout layout, out WireError error), error.ToString());
        return TransportChecksum.Verify(packet, layout);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc9293_3_1_Tcp_GoodThenOneBitFlipped_GoodThenBad(bool v6)
    {
        byte[] packet = Tcp(v6);
        Assert.Equal(TransportChecksumStatus.Good, Verify(packet));

        packet[^1] ^= 0x01;
        Assert.Equal(TransportChecksumStatus.Bad, Verify(packet));
    }

    [Fact]
    public void Rfc9293_3_1_TcpPseudoHeader_CoversTheAddresses()
    {
        byte[] packet = Tcp(v6: false);
        packet[Ipv4Header.DestinationOffset + 3] ^= 0x40; // the IP header's own checksum is not the transport's business

        Assert.Equal(TransportChecksumStatus.Bad, Verify(packet));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc768_Udp_Good(bool v6) => Assert.Equal(TransportChecksumStatus.Good, Verify(Udp(v6)));

    [Fact]
    public void Rfc768_UdpZeroChecksumOverIpv4_Absent() => Assert.Equal(TransportChecksumStatus.Absent, Verify(Udp(v6: false, zero: true)));

    [Fact]
    public void Rfc8200_8_1_UdpZeroChecksumOverIpv6_ZeroOverIpv6() =>
        Assert.Equal(TransportChecksumStatus.ZeroOverIpv6, Verify(Udp(v6: true, zero: true)));

    [Fact]
    public void Rfc768_UdpLengthShorterThanTheIpPayload_SumsTheUdpLength()
    {
        byte[] packet = Udp(v6: false, trailing: 5);
        packet[^1] = 0xFF; // past the UDP length: not covered

        Assert.Equal(TransportChecksumStatus.Good, Verify(packet));
    }

    [Fact]
    public void Rfc768_UdpLengthPastTheIpPayload_Malformed()
    {
        byte[] packet = Udp(v6: true);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(40 + UdpHeader.LengthOffset), (ushort)(packet.Length - 40 + 1));

        Assert.Equal(TransportChecksumStatus.Malformed, Verify(packet));
    }

    [Fact]
    public void Rfc792_IcmpV4_NoPseudoHeader()
    {
        byte[] message = [8, 0, 0, 0, 0x12, 0x34, 0, 1, .. Payload];
        IcmpV4Header.WriteChecksum(message);
        byte[] packet = TestIp.V4(IpProtocol.Icmp, message);

        Assert.Equal(TransportChecksumStatus.Good, Verify(packet));
        packet[^2] ^= 0x80;
        Assert.Equal(TransportChecksumStatus.Bad, Verify(packet));
    }

    [Fact]
    public void Rfc4443_2_3_IcmpV6_WithPseudoHeader()
    {
        byte[] message = [128, 0, 0, 0, 0x12, 0x34, 0, 1, .. Payload];
        IcmpV6Header.WriteChecksum(message, TestIp.PseudoV6(IpProtocol.IcmpV6, message.Length));
        byte[] packet = TestIp.V6(IpProtocol.IcmpV6, message);

        Assert.Equal(TransportChecksumStatus.Good, Verify(packet));
        // The same message summed without the pseudo-header (as ICMPv4 over IPv6 would be) is not covered.
        packet[Ipv6Header.NextHeaderOffset] = (byte)IpProtocol.Icmp;
        Assert.Equal(TransportChecksumStatus.NotCovered, Verify(packet));
    }

    [Fact]
    public void Rfc791_3_2_Fragment_NotCovered()
    {
        byte[] packet = Udp(v6: false);
        Ipv4Header.SetFragment(packet, dontFragment: false, moreFragments: true, 0);
        Ipv4Header.RecomputeChecksum(packet);

        Assert.Equal(TransportChecksumStatus.NotCovered, Verify(packet));
    }

    [Theory]
    [InlineData(false, 21)]
    [InlineData(false, 61)]
    [InlineData(true, 41)]
    [InlineData(true, 63)]
    public void PacketInPieces_SameVerdictAsFlat(bool v6, int headLength)
    {
        foreach (bool corrupt in (ReadOnlySpan<bool>)[false, true])
        {
            byte[] flat = Tcp(v6);
            if (corrupt)
            {
                flat[^3] ^= 0x10;
            }
            PacketBuffer packet = _pool.RentCopy(flat.AsSpan(0, headLength));
            PacketBuffer rest = _pool.RentCopy(flat.AsSpan(headLength));
            try
            {
                Assert.True(packet.AppendReference(rest, 0, rest.Length));
                Assert.True(packet.FragmentCount > 1);
                Assert.True(IpLayout.TryLocate(packet.Head, packet.Length, out IpLayout layout, out _));
                Assert.Equal(Verify(flat), TransportChecksum.Verify(packet, layout));
                Assert.Equal(corrupt ? TransportChecksumStatus.Bad : TransportChecksumStatus.Good, TransportChecksum.Verify(packet, layout));
            }
            finally
            {
                rest.Release();
                packet.Release();
            }
        }
        Assert.Equal(0, _pool.LiveBuffers);
    }

    [Fact]
    public void RangePastThePacket_NotCoveredNeverThrows()
    {
        byte[] packet = Tcp(v6: false);

        Assert.Equal(TransportChecksumStatus.NotCovered, TransportChecksum.Verify(packet, NetworkProtocol.IPv4, IpProtocol.Tcp, 20, packet.Length));
        Assert.Equal(TransportChecksumStatus.NotCovered, TransportChecksum.Verify(packet, NetworkProtocol.IPv4, IpProtocol.Tcp, packet.Length + 1, 0));
        Assert.Equal(TransportChecksumStatus.Malformed, TransportChecksum.Verify(packet, NetworkProtocol.IPv4, IpProtocol.Udp, packet.Length - 4, 4));
    }
}
