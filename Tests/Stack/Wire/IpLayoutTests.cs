// Exact-packet tests of the transport-header locator: IPv4 IHL, options, lengths, fragments (RFC 791 §3.1, §3.2);
// IPv6 extension-header walk and fragments (RFC 8200 §4, §4.5, RFC 6946); packets whose payload is not in the head.
using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Wire;

public class IpLayoutTests
{
    private static readonly byte[] TcpSegment = [0x9C, 0x40, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x10, 0x01, 0x00, 0, 0, 0, 0, 0xAA, 0xBB];

    // An IPv4 header of IHL·4 bytes (options NOP…EOL), then the payload; total length = header + payload.
    private static byte[] V4(int ihl, IpProtocol protocol, ReadOnlySpan<byte> payload, ushort flagsAndOffset = 0x4000, int? totalLength = null)
    {
        int headerLength = ihl * 4;
        var packet = new byte[Math.Max(headerLength, 20) + payload.Length];
        packet[0] = (byte)(0x40 | ihl);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)(totalLength ?? packet.Length));
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), 0xBEEF);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), flagsAndOffset);
        packet[8] = 64;
        packet[9] = (byte)protocol;
        TestIp.V4Source.CopyTo(packet, 12);
        TestIp.V4Destination.CopyTo(packet, 16);
        for (int i = 20; i < headerLength; i++)
        {
            packet[i] = i == headerLength - 1 ? (byte)0 : (byte)1; // NOP … EOL
        }
        payload.CopyTo(packet.AsSpan(Math.Max(headerLength, 20)));
        return packet;
    }

    // An IPv6 packet whose payload is the given chain bytes and upper layer; the fixed header names `first`.
    private static byte[] V6(IpProtocol first, params byte[][] rest)
    {
        byte[] payload = [.. rest.SelectMany(b => b)];
        byte[] packet = TestIp.V6(first, payload);
        return packet;
    }

    private static byte[] Options(IpProtocol next, int units = 0)
    {
        var header = new byte[(units + 1) * 8];
        header[0] = (byte)next;
        header[1] = (byte)units;
        header[2] = 1; // PadN over the rest
        header[3] = (byte)(header.Length - 4);
        return header;
    }

    private static byte[] Routing(IpProtocol next, byte segmentsLeft) => [(byte)next, 0, 4, segmentsLeft, 0, 0, 0, 0];

    private static byte[] Fragment(IpProtocol next, int offset, bool more, uint id)
    {
        var header = new byte[8];
        header[0] = (byte)next;
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(2), (ushort)(offset | (more ? 1 : 0)));
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), id);
        return header;
    }

    [Fact]
    public void Ipv4_WithoutOptions_TransportAfterTwentyBytes()
    {
        byte[] packet = V4(5, IpProtocol.Tcp, TcpSegment);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out WireError error), error.ToString());
        Assert.Equal(NetworkProtocol.IPv4, ip.Version);
        Assert.Equal(20, ip.HeaderLength);
        Assert.Equal(20, ip.TransportOffset);
        Assert.Equal(TcpSegment.Length, ip.TransportLength);
        Assert.Equal(IpProtocol.Tcp, ip.Protocol);
        Assert.Equal(Ipv4Header.ProtocolOffset, ip.ProtocolFieldOffset);
        Assert.Equal(0xBEEFu, ip.Identification);
        Assert.False(ip.IsFragment);
        Assert.True(ip.HasTransportHeader);
        Assert.False(ip.HasExtensionHeaders);
    }

    [Fact]
    public void Rfc791_3_1_Ipv4WithOptions_TransportAfterIhlTimesFour()
    {
        byte[] packet = V4(8, IpProtocol.Udp, [0, 1, 0, 2, 0, 8, 0, 0]);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.Equal(32, ip.HeaderLength);
        Assert.Equal(32, ip.TransportOffset);
        Assert.Equal(8, ip.TransportLength);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(0)]
    public void Rfc791_3_1_IhlBelowFive_BadHeaderLength(int ihl)
    {
        byte[] packet = V4(ihl, IpProtocol.Tcp, TcpSegment);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Ipv4_IhlPastTheBuffer_BadHeaderLength()
    {
        byte[] packet = V4(15, IpProtocol.Tcp, [], totalLength: 60);

        Assert.False(IpLayout.TryLocate(packet.AsSpan(0, 40), 60, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Ipv4_TotalLengthPastTheBuffer_Truncated()
    {
        byte[] packet = V4(5, IpProtocol.Tcp, TcpSegment, totalLength: 20 + TcpSegment.Length + 1);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Ipv4_TotalLengthBelowTheHeader_BadTotalLength()
    {
        byte[] packet = V4(6, IpProtocol.Tcp, TcpSegment, totalLength: 23);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.BadTotalLength, error);
    }

    [Fact]
    public void Ipv4_TrailingLinkPadding_NotPartOfThePacket()
    {
        byte[] packet = [.. V4(5, IpProtocol.Tcp, TcpSegment), 0, 0, 0, 0, 0, 0];

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.Equal(20 + TcpSegment.Length, ip.Length);
        Assert.Equal(TcpSegment.Length, ip.TransportLength);
    }

    [Fact]
    public void Ipv4_PayloadBeyondTheHead_LengthFromTheHeader()
    {
        byte[] packet = V4(5, IpProtocol.Tcp, [.. TcpSegment, .. new byte[1000]]);

        Assert.True(IpLayout.TryLocate(packet.AsSpan(0, 40), packet.Length, out IpLayout ip, out _));
        Assert.Equal(packet.Length, ip.Length);
        Assert.Equal(packet.Length - 20, ip.TransportLength);
        Assert.False(IpLayout.TryLocate(packet.AsSpan(0, 40), packet.Length - 1, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Theory]
    [InlineData(0x2000, 0, true, true)]         // first: MF, offset 0
    [InlineData(0x2000 | 185, 1480, true, false)] // middle: MF, offset 185·8
    [InlineData(370, 2960, false, false)]      // last: offset 370·8, MF clear
    public void Rfc791_3_2_Ipv4Fragments_OffsetFlagsAndTransportHeader(int flagsAndOffset, int offset, bool more, bool holdsTransport)
    {
        byte[] packet = V4(5, IpProtocol.Udp, new byte[16], (ushort)flagsAndOffset);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.True(ip.IsFragment);
        Assert.Equal(offset, ip.FragmentOffset);
        Assert.Equal(more, ip.MoreFragments);
        Assert.Equal(holdsTransport, ip.HasTransportHeader);
        Assert.Equal(20, ip.TransportOffset);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
    }

    [Fact]
    public void Ipv6_NoExtensionHeaders_TransportAfterFortyBytes()
    {
        byte[] packet = V6(IpProtocol.Tcp, TcpSegment);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.Equal(NetworkProtocol.IPv6, ip.Version);
        Assert.Equal(40, ip.TransportOffset);
        Assert.Equal(TcpSegment.Length, ip.TransportLength);
        Assert.Equal(Ipv6Header.NextHeaderOffset, ip.ProtocolFieldOffset);
        Assert.False(ip.HasExtensionHeaders);
        Assert.False(ip.IsFragment);
        Assert.Equal(-1, ip.FragmentHeaderOffset);
    }

    [Fact]
    public void Rfc8200_4_HopByHopRoutingDestinationOptions_TransportAfterTheChain()
    {
        byte[] packet = V6(IpProtocol.HopByHop, Options(IpProtocol.Ipv6Route), Routing(IpProtocol.Ipv6DestinationOptions, 0),
            Options(IpProtocol.Tcp, units: 1), TcpSegment);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out WireError error), error.ToString());
        Assert.Equal(40 + 8 + 8 + 16, ip.TransportOffset);
        Assert.Equal(IpProtocol.Tcp, ip.Protocol);
        Assert.Equal(40 + 8 + 8, ip.ProtocolFieldOffset); // the destination options header names TCP
        Assert.True(ip.HasExtensionHeaders);
        Assert.True(ip.HasRoutingHeader);
        Assert.Equal(TcpSegment.Length, ip.TransportLength);
    }

    [Fact]
    public void Rfc8200_4_5_FirstFragment_StopsAfterTheFragmentHeader()
    {
        byte[] packet = V6(IpProtocol.HopByHop, Options(IpProtocol.Ipv6Fragment), Fragment(IpProtocol.Udp, 0, more: true, 0x01020304),
            [0, 1, 0, 2, 0, 200, 0x12, 0x34, .. new byte[16]]);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.True(ip.IsFragment);
        Assert.True(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.True(ip.HasTransportHeader);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(48, ip.FragmentHeaderOffset);
        Assert.Equal(40, ip.FragmentHeaderNamedAt); // the hop-by-hop header's next header names the fragment header
        Assert.Equal(56, ip.TransportOffset);
        Assert.Equal(0x01020304u, ip.Identification);
    }

    [Fact]
    public void Rfc8200_4_5_NonFirstFragment_NoTransportHeader()
    {
        byte[] packet = V6(IpProtocol.Ipv6Fragment, Fragment(IpProtocol.Tcp, 1448, more: false, 7), new byte[100]);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.True(ip.IsFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(1448, ip.FragmentOffset);
        Assert.False(ip.HasTransportHeader);
        Assert.Equal(48, ip.TransportOffset);
        Assert.Equal(100, ip.TransportLength);
        Assert.Equal(Ipv6Header.NextHeaderOffset, ip.FragmentHeaderNamedAt);
    }

    [Fact]
    public void Rfc6946_AtomicFragment_IsAFragmentWithItsTransportWhole()
    {
        byte[] packet = V6(IpProtocol.Ipv6Fragment, Fragment(IpProtocol.Tcp, 0, more: false, 9), TcpSegment);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.True(ip.IsFragment);
        Assert.False(ip.MoreFragments);
        Assert.Equal(0, ip.FragmentOffset);
        Assert.Equal(IpProtocol.Tcp, ip.Protocol);
        Assert.Equal(48, ip.TransportOffset);
    }

    [Fact]
    public void Rfc8200_4_5_AFaultAfterTheFragmentHeader_IsLeftToReassembly()
    {
        // A first fragment whose fragmentable part starts with a destination options header cut short.
        byte[] packet = V6(IpProtocol.Ipv6Fragment, Fragment(IpProtocol.Ipv6DestinationOptions, 0, more: true, 1), [(byte)IpProtocol.Tcp, 5, 0, 0]);

        Assert.True(IpLayout.TryLocate(packet, packet.Length, out IpLayout ip, out _));
        Assert.Equal(IpProtocol.Ipv6DestinationOptions, ip.Protocol);
    }

    [Fact]
    public void Rfc8200_4_1_ChainLongerThanTheLimit_ChainTooLong()
    {
        byte[][] chain = [.. Enumerable.Range(0, 17).Select(i => Options(i < 16 ? IpProtocol.Ipv6DestinationOptions : IpProtocol.Tcp)), TcpSegment];
        byte[] packet = V6(IpProtocol.Ipv6DestinationOptions, chain);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.ChainTooLong, error);
    }

    [Fact]
    public void Rfc8200_4_ExtensionHeaderLengthPastThePayload_BadHeaderLength()
    {
        byte[] packet = V6(IpProtocol.HopByHop, [(byte)IpProtocol.Tcp, 3, 1, 12, .. new byte[12]]); // length 3: 32 bytes, 16 there

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
    }

    [Fact]
    public void Rfc8200_4_ChainCutShort_Truncated()
    {
        byte[] packet = V6(IpProtocol.Ipv6Fragment, [(byte)IpProtocol.Tcp, 0, 0, 0]);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Rfc8200_4_1_HopByHopNotFirst_BadField()
    {
        byte[] packet = V6(IpProtocol.Ipv6DestinationOptions, Options(IpProtocol.HopByHop), Options(IpProtocol.Tcp), TcpSegment);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.BadField, error);
    }

    [Fact]
    public void Ipv6_ChainBeyondTheHead_Truncated()
    {
        byte[] packet = V6(IpProtocol.HopByHop, Options(IpProtocol.Tcp, units: 2), TcpSegment);

        Assert.False(IpLayout.TryLocate(packet.AsSpan(0, 50), packet.Length, out _, out WireError error));
        Assert.Equal(WireError.BadHeaderLength, error);
        Assert.True(IpLayout.TryLocate(packet.AsSpan(0, 64), packet.Length, out IpLayout ip, out _));
        Assert.Equal(64, ip.TransportOffset);
    }

    [Fact]
    public void Ipv6_PayloadLengthPastThePacket_Truncated()
    {
        byte[] packet = V6(IpProtocol.Tcp, TcpSegment);

        Assert.False(IpLayout.TryLocate(packet.AsSpan(0, packet.Length - 1), packet.Length - 1, out _, out WireError error));
        Assert.Equal(WireError.Truncated, error);
    }

    [Fact]
    public void Rfc2675_Jumbogram_Unsupported()
    {
        byte[] packet = [.. V6(IpProtocol.HopByHop, [(byte)IpProtocol.Udp, 0, 0xC2, 4, 0, 1, 0, 8]), .. new byte[8]];
        Ipv6Header.SetPayloadLength(packet, 0);

        Assert.False(IpLayout.TryLocate(packet, packet.Length, out _, out WireError error));
        Assert.Equal(WireError.Unsupported, error);
    }

    [Theory]
    [InlineData(new byte[0], WireError.Truncated)]
    [InlineData(new byte[] { 0x50, 0, 0, 20 }, WireError.BadVersion)]
    [InlineData(new byte[] { 0x45, 0, 0, 20 }, WireError.Truncated)]
    [InlineData(new byte[] { 0x60, 0, 0, 0 }, WireError.Truncated)]
    public void ShortOrUnknownInput_NamesItsError(byte[] input, WireError expected)
    {
        Assert.False(IpLayout.TryLocate(input, input.Length, out IpLayout ip, out WireError error));
        Assert.Equal(expected, error);
        Assert.Equal(NetworkProtocol.None, ip.Version);
    }
}
