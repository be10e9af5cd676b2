// Exact-byte unit tests for the IPv6 fixed header view and repr (RFC 8200 §3).
using System.Net;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class Ipv6HeaderTests
{
    // Version 6, traffic class 0xAB, flow label 0x12345, payload length 8, next header UDP, hop limit 64,
    // 2001:db8::1 -> 2001:db8::2, then an 8-byte UDP header.
    internal static readonly byte[] UdpPacket = Convert.FromHexString(
        "6AB12345" + "0008" + "11" + "40"
        + "20010DB8000000000000000000000001"
        + "20010DB8000000000000000000000002"
        + "303900350008ABCD");

    private static readonly UInt128 Source = IPAddressConversions.ToIpv6Value(IPAddress.Parse("2001:db8::1"));
    private static readonly UInt128 Destination = IPAddressConversions.ToIpv6Value(IPAddress.Parse("2001:db8::2"));

    [Fact]
    public void Rfc8200_FixedHeader_ParsesEveryField()
    {
        byte[] buffer = [.. UdpPacket, 0, 0, 0, 0]; // link padding after the payload

        Assert.True(Ipv6Header.TryCreate(buffer, out Ipv6Header ip, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(6, ip.Version);
        Assert.Equal(0xAB, ip.TrafficClass);
        Assert.Equal(0xAB >> 2, ip.Dscp);
        Assert.Equal(0xAB & 3, ip.Ecn);
        Assert.Equal(0x12345u, ip.FlowLabel);
        Assert.Equal(8, ip.PayloadLength);
        Assert.Equal(IpProtocol.Udp, ip.NextHeader);
        Assert.Equal(64, ip.HopLimit);
        Assert.Equal(Source, ip.Source);
        Assert.Equal(Destination, ip.Destination);
        Assert.Equal(IPAddress.Parse("2001:db8::1").GetAddressBytes(), ip.SourceAddress.ToArray());
        Assert.Equal(IPAddress.Parse("2001:db8::2").GetAddressBytes(), ip.DestinationAddress.ToArray());
        Assert.Equal(UdpPacket.AsSpan(0, 40).ToArray(), ip.Header.ToArray());
        Assert.Equal(UdpPacket.AsSpan(40).ToArray(), ip.Payload.ToArray());
        Assert.Equal(UdpPacket.Length, ip.Packet.Length);
    }

    [Fact]
    public void Rfc8200_FixedHeader_ReprEmitsTheSameBytes()
    {
        var repr = new Ipv6Repr
        {
            TrafficClass = 0xAB,
            FlowLabel = 0x12345,
            PayloadLength = 8,
            NextHeader = IpProtocol.Udp,
            HopLimit = 64,
            Source = Source,
            Destination = Destination,
        };
        var buffer = new byte[Ipv6Repr.BufferLength];
        buffer.AsSpan().Fill(0xA5);

        repr.Emit(buffer);

        Assert.Equal(UdpPacket.AsSpan(0, 40).ToArray(), buffer);
        Assert.True(Ipv6Header.TryCreate(UdpPacket, out Ipv6Header ip, out _));
        Assert.True(Ipv6Repr.TryParse(ip, out Ipv6Repr parsed, out WireError error));
        Assert.Equal(WireError.None, error);
        Assert.Equal(repr, parsed);
    }

    [Fact]
    public void TryCreate_ShorterThanFixedHeader_Truncated()
    {
        Assert.False(Ipv6Header.TryCreate(UdpPacket.AsSpan(0, 39), out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Rfc8200_PayloadLengthPastBuffer_Truncated()
    {
        Assert.False(Ipv6Header.TryCreate(UdpPacket.AsSpan(0, 47), out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void TryCreate_VersionFour_BadVersion()
    {
        byte[] packet = (byte[])UdpPacket.Clone();
        packet[0] = 0x4A;
        Assert.False(Ipv6Header.TryCreate(packet, out _, out WireError error));
        Assert.Equal(WireError.BadVersion, error);
    }

    [Fact]
    public void Rfc2675_JumbogramPayloadLengthZeroWithJumboOption_Unsupported()
    {
        byte[] packet = (byte[])UdpPacket.Clone();
        Ipv6Header.SetPayloadLength(packet, 0);
        Ipv6Header.SetNextHeader(packet, IpProtocol.HopByHop);
        // Hop-by-hop: next header UDP, length 0, Jumbo Payload option (type 0xC2, length 4, 65544).
        byte[] jumbo = [.. packet.AsSpan(0, 40), 0x11, 0x00, 0xC2, 0x04, 0x00, 0x01, 0x00, 0x08, .. new byte[65536]];

        Assert.False(Ipv6Header.TryCreate(jumbo, out _, out WireError error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Fact]
    public void Rfc8200_PayloadLengthZeroWithoutJumboOption_IsAnEmptyPayload()
    {
        byte[] packet = (byte[])UdpPacket.Clone();
        Ipv6Header.SetPayloadLength(packet, 0);
        Ipv6Header.SetNextHeader(packet, IpProtocol.Ipv6NoNext);

        Assert.True(Ipv6Header.TryCreate(packet, out Ipv6Header ip, out _));
        Assert.True(ip.Payload.IsEmpty);

        // Next header hop-by-hop but no jumbo option: accepted, the walker then finds nothing to walk.
        Ipv6Header.SetNextHeader(packet, IpProtocol.HopByHop);
        Assert.True(Ipv6Header.TryCreate(packet, out ip, out _));
        Assert.False(Ipv6ExtensionWalker.TryWalk(ip, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void SetPayloadLengthAndHopLimit_RewriteInPlace()
    {
        byte[] packet = [.. UdpPacket, .. new byte[100]];
        Ipv6Header.SetPayloadLength(packet, 108);
        Ipv6Header.SetHopLimit(packet, 1);

        Assert.True(Ipv6Header.TryCreate(packet, out Ipv6Header ip, out _));
        Assert.Equal(108, ip.PayloadLength);
        Assert.Equal(108, ip.Payload.Length);
        Assert.Equal(1, ip.HopLimit);
        Assert.Equal(0x12345u, ip.FlowLabel);
    }

    [Fact]
    public void IPAddressConversions_Ipv6_RoundTrip()
    {
        IPAddress address = IPAddress.Parse("2001:db8::1");
        UInt128 value = IPAddressConversions.ToIpv6Value(address);
        Assert.Equal(new UInt128(0x20010DB800000000, 1), value);
        Assert.Equal(address, IPAddressConversions.FromIpv6Value(value));
        Assert.Equal(address, IPAddressConversions.FromBytes(address.GetAddressBytes()));
        Span<byte> bytes = stackalloc byte[16];
        Assert.Equal(16, IPAddressConversions.WriteBytes(address, bytes));
        Assert.Equal(address.GetAddressBytes(), bytes.ToArray());
        Assert.Throws<ArgumentException>(() => IPAddressConversions.ToIpv6Value(IPAddress.Loopback));
        Assert.Throws<ArgumentException>(() => IPAddressConversions.WriteBytes(address, new byte[4]));
    }
}
