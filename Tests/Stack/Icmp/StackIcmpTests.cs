using System.Buffers.Binary;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Tests.Stack.Network;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Icmp;

/// <summary>ICMP at the stack: echo, error generation (RFC 792, RFC 1122 §3.2.2, RFC 4443), rate limiting, suppression.</summary>
public class StackIcmpTests
{
    [Fact]
    public void Rfc792_EchoRequestV4_ExactReply_SameIdSeqData_AddressesSwapped_TosPassedThrough()
    {
        using var h = new StackHarness();
        byte[] data = Pkt.Data(37);
        h.Inject(Pkt.Echo4Request(0xBEEF, 0x0102, data, tos: 0xB9)); // DSCP 46, ECN 01
        byte[] reply = h.SentOne();
        Ipv4Repr ip = Pkt.CheckIpv4(reply);
        Assert.Equal(StackHarness.Local4.V4, ip.Source);
        Assert.Equal(StackHarness.Peer4.V4, ip.Destination);
        Assert.Equal(46, ip.Dscp);
        Assert.Equal(1, ip.Ecn);
        Assert.Equal(64, ip.TimeToLive);
        Assert.False(ip.IsFragment);
        byte[] icmp = Pkt.CheckIcmp4(reply);
        // Type 0 code 0, same identifier, sequence and data; the checksum was verified above.
        byte[] expected = Pkt.Icmp4(0, 0, 0xBEEF_0102, data);
        Assert.Equal(expected, icmp);
        Assert.Equal(1, h.Stack.Icmp.Events[IcmpEvent.EchoRepliesSent]);
    }

    [Fact]
    public void Rfc4443_4_2_EchoRequestV6_ExactReply_TrafficClassPassedThrough()
    {
        using var h = new StackHarness();
        byte[] data = Pkt.Data(100);
        h.Inject(Pkt.Echo6Request(7, 9, data, trafficClass: 0x2A));
        byte[] reply = h.SentOne();
        Ipv6Repr ip = Pkt.CheckIpv6(reply);
        Assert.Equal(StackHarness.Local6.Value, ip.Source);
        Assert.Equal(StackHarness.Peer6.Value, ip.Destination);
        Assert.Equal(0x2A, ip.TrafficClass);
        Assert.Equal(64, ip.HopLimit);
        byte[] icmp = Pkt.CheckIcmp6(reply);
        Assert.Equal(Pkt.Icmp6(129, 0, (7u << 16) | 9, data, StackHarness.Local6, StackHarness.Peer6), icmp);
    }

    [Fact]
    public void EchoRequest_WithBadIcmpChecksum_IsDropped()
    {
        using var h = new StackHarness();
        byte[] p = Pkt.Echo4Request(1, 1, Pkt.Data(8));
        p[^1] ^= 0xFF;
        h.Inject(p);
        h.AssertNothingSent();
        Assert.Equal(1, h.Stack.Icmp.Events[IcmpEvent.DroppedChecksum]);
    }

    [Fact]
    public void Rfc1122_4_1_3_1_UdpToClosedPortV4_PortUnreachable_QuotesWithin576()
    {
        using var h = new StackHarness();
        byte[] offending = Pkt.Udp4(Pkt.Data(1000), sport: 1234, dport: 9);
        h.Inject(offending);
        byte[] error = h.SentOne();
        Assert.True(error.Length <= 576, $"{error.Length} bytes");
        Assert.Equal(576, error.Length); // as much as fits (RFC 1812 §4.3.2.3)
        Ipv4Repr ip = Pkt.CheckIpv4(error);
        Assert.Equal(StackHarness.Local4.V4, ip.Source);
        Assert.Equal(StackHarness.Peer4.V4, ip.Destination);
        byte[] icmp = Pkt.CheckIcmp4(error);
        Assert.Equal(3, icmp[0]);
        Assert.Equal(3, icmp[1]);
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
        Assert.Equal(offending.AsSpan(0, icmp.Length - 8).ToArray(), icmp[8..]);
        Assert.Equal(1, h.Stack.Udp.Drops[UdpDropReason.NoPort]);
    }

    [Fact]
    public void Rfc4443_3_1_UdpToClosedPortV6_PortUnreachable_QuotesWithin1280()
    {
        using var h = new StackHarness();
        byte[] offending = Pkt.Udp6(Pkt.Data(1400), sport: 1234, dport: 9);
        h.Inject(offending);
        byte[] error = h.SentOne();
        Assert.Equal(1280, error.Length);
        Ipv6Repr ip = Pkt.CheckIpv6(error);
        Assert.Equal(StackHarness.Local6.Value, ip.Source);
        Assert.Equal(StackHarness.Peer6.Value, ip.Destination);
        byte[] icmp = Pkt.CheckIcmp6(error);
        Assert.Equal(1, icmp[0]);
        Assert.Equal(4, icmp[1]);
        Assert.Equal(offending.AsSpan(0, icmp.Length - 8).ToArray(), icmp[8..]);
    }

    [Fact]
    public void SmallOffendingPacket_IsQuotedWhole()
    {
        using var h = new StackHarness();
        byte[] offending = Pkt.Udp4(Pkt.Data(10), dport: 9);
        h.Inject(offending);
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(offending, icmp[8..]);
    }

    [Fact]
    public void Rfc4443_2_4f_ErrorsAreRateLimited_BurstThenSuppressed_RefillWithTheClock()
    {
        using var h = new StackHarness(icmpBurst: 5, icmpRate: 10, icmpRateLimit: TimeSpan.Zero); // the global bucket alone
        for (int i = 0; i < 8; i++)
        {
            h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9));
        }
        Assert.Equal(5, h.Sent().Count);
        Assert.Equal(3, h.Stack.Icmp.Events[IcmpEvent.ErrorsRateLimited]);
        h.Clock.Advance(TimeSpan.FromMilliseconds(100)); // one token at 10/s
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9));
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9));
        Assert.Single(h.Sent());
        h.Clock.Advance(TimeSpan.FromSeconds(10)); // refilled up to the burst, not beyond
        for (int i = 0; i < 8; i++)
        {
            h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9));
        }
        Assert.Equal(5, h.Sent().Count);
        // Echo replies draw from the same global budget (issue 14: no reflection beyond it).
        h.Inject(Pkt.Echo4Request(1, 1, Pkt.Data(4)));
        h.AssertNothingSent();
        Assert.Equal(1, h.Stack.Icmp.Events[IcmpEvent.EchoRepliesRateLimited]);
    }

    [Fact]
    public void Rfc1122_3_2_2_NoErrorAboutAnIcmpError()
    {
        using var h = new StackHarness();
        // IPv4: the first fragment of an ICMP Destination Unreachable times out: no Time Exceeded about it;
        // the first fragment of an echo request does get one.
        byte[] error4 = Pkt.Icmp4(3, 3, 0, Pkt.Data(40));
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, error4.AsSpan(0, 24), id: 1, mf: true));
        byte[] echo4 = Pkt.Icmp4(8, 0, 1, Pkt.Data(40));
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, echo4.AsSpan(0, 24), id: 2, mf: true));
        h.Clock.Advance(TimeSpan.FromSeconds(31));
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(new byte[] { 11, 1 }, icmp[..2]);
        Assert.Equal(8, icmp[8 + 20]); // about the echo request
        Assert.True(h.Stack.Icmp.Events[IcmpEvent.ErrorsSuppressed] >= 1);

        // IPv6: an ICMPv6 error carrying a destination option with action 10 (which asks for a Parameter
        // Problem) is dropped without one (RFC 4443 §2.4(e.1)); an echo request with it gets one.
        byte[] err6 = Pkt.Icmp6(1, 4, 0, Pkt.Data(48));
        h.Inject(Pkt.Ip6(IpProtocol.Ipv6DestinationOptions, Pkt.Concat(Pkt.OptionsHeader(IpProtocol.IcmpV6, 0x9E, 2, 0, 0), err6)));
        h.AssertNothingSent();
        Assert.Equal(1, h.Stack.Drops[IpDropReason.Ipv6UnrecognizedOption]);
        byte[] echo6 = Pkt.Icmp6(128, 0, 1, Pkt.Data(8));
        h.Inject(Pkt.Ip6(IpProtocol.Ipv6DestinationOptions, Pkt.Concat(Pkt.OptionsHeader(IpProtocol.IcmpV6, 0x9E, 2, 0, 0), echo6)));
        byte[] pp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 2 }, pp[..2]);
    }

    [Fact]
    public void Rfc1122_3_2_2_NoErrorToAMulticastOrBroadcastSource_NorAboutMulticastDestination()
    {
        using var h = new StackHarness();
        h.Nic.Promiscuous = true; // so that packets to multicast destinations get as far as UDP
        // Multicast destination, closed port: no port unreachable (RFC 1122 §3.2.2, RFC 4443 §2.4(e.3)).
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9, dst: NetAddress.Parse("224.0.0.9")));
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9, dst: NetAddress.Parse("255.255.255.255")));
        h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9, dst: NetAddress.Parse("ff02::1")));
        h.AssertNothingSent();
        // Multicast sources are dropped before anything could answer them.
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9, src: NetAddress.Parse("224.0.0.1")));
        h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9, src: NetAddress.Parse("ff02::1")));
        h.AssertNothingSent();
        Assert.Equal(2, h.Stack.Drops[IpDropReason.BadSourceAddress]);
    }

    [Fact]
    public void Rfc792_ReassemblyTimeout_OnlyNonFirstFragment_NoTimeExceeded()
    {
        using var h = new StackHarness();
        byte[] udp = Pkt.UdpDatagram(Pkt.Data(64), 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        h.Inject(Pkt.Ip4(IpProtocol.Udp, udp.AsSpan(32), id: 9, fragmentOffset: 32));
        h.Clock.Advance(TimeSpan.FromSeconds(31));
        h.AssertNothingSent();
        Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
    }

    [Fact]
    public void Rfc1122_3_2_2_1_UnknownIpv4Protocol_ProtocolUnreachable()
    {
        using var h = new StackHarness();
        byte[] offending = Pkt.Ip4((IpProtocol)253, Pkt.Data(20));
        h.Inject(offending);
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(3, icmp[0]);
        Assert.Equal(2, icmp[1]);
        Assert.Equal(offending, icmp[8..]);
        Assert.Equal(1, h.Stack.Drops[IpDropReason.UnknownProtocol]);
    }

    [Fact]
    public void Rfc8200_4_UnknownNextHeader_ParameterProblemCode1_PointerAtNextHeader()
    {
        using var h = new StackHarness();
        h.Inject(Pkt.Ip6((IpProtocol)253, Pkt.Data(16)));
        byte[] icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 1 }, icmp[..2]);
        Assert.Equal(6u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
        // After a destination options header at 40, the pointer names that header's next-header byte.
        h.Inject(Pkt.Ip6(IpProtocol.Ipv6DestinationOptions, Pkt.Concat(Pkt.OptionsHeader((IpProtocol)253), Pkt.Data(16))));
        icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 1 }, icmp[..2]);
        Assert.Equal(40u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
    }

    [Fact]
    public void Rfc8200_4_7_NoNextHeader_SilentlyIgnored()
    {
        using var h = new StackHarness();
        h.Inject(Pkt.Ip6(IpProtocol.Ipv6NoNext, Pkt.Data(16)));
        h.AssertNothingSent();
    }

    public static TheoryData<byte, bool, bool> OptionActions => new()
    {
        // option type, multicast destination, expect Parameter Problem
        { 0x1E, false, false }, // 00: skip, deliver
        { 0x5E, false, false }, // 01: discard silently
        { 0x9E, false, true },  // 10: discard + PP code 2
        { 0x9E, true, true },   // 10: even to multicast
        { 0xDE, false, true },  // 11: discard + PP code 2
        { 0xDE, true, false },  // 11: not when the destination was multicast
    };

    [Theory]
    [MemberData(nameof(OptionActions))]
    public void Rfc8200_4_2_UnrecognizedOption_ActsByHighOrderBits(byte type, bool multicast, bool expectProblem)
    {
        using var h = new StackHarness();
        h.Nic.Promiscuous = multicast;
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.IPv6Any, 7000));
        NetAddress dst = multicast ? NetAddress.Parse("ff02::1") : StackHarness.Local6;
        byte[] datagram = Pkt.UdpDatagram(Pkt.Data(12), 5000, 7000, StackHarness.Peer6, dst);
        // Destination options at 40: [next, len, PadN(0 data)… ] then our option: Pad1 first so the option sits at 43.
        byte[] ext = Pkt.OptionsHeader(IpProtocol.Udp, 0x00, type, 2, 0xAB, 0xCD);
        byte[] packet = Pkt.Ip6(IpProtocol.Ipv6DestinationOptions, Pkt.Concat(ext, datagram), dst: dst);
        h.Inject(packet);
        bool delivered = udp.TryReceive(new byte[64], out var r);
        Assert.Equal(type >> 6 == 0, delivered);
        if (expectProblem)
        {
            byte[] error = h.SentOne();
            byte[] icmp = Pkt.CheckIcmp6(error);
            Assert.Equal(new byte[] { 4, 2 }, icmp[..2]);
            Assert.Equal(43u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
            Assert.Equal(packet, icmp[8..]);
            Assert.Equal(StackHarness.Local6.Value, Pkt.CheckIpv6(error).Source); // never from the multicast address
        }
        else
        {
            h.AssertNothingSent();
        }
        Assert.Equal(type >> 6 == 0 ? 0 : 1, h.Stack.Drops[IpDropReason.Ipv6UnrecognizedOption]);
        if (delivered)
        {
            Assert.Equal(12, r.ReceivedBytes);
        }
    }

    [Fact]
    public void Rfc8200_4_2_UnrecognizedHopByHopOption_PointerAtTheOption()
    {
        using var h = new StackHarness();
        byte[] datagram = Pkt.UdpDatagram(Pkt.Data(12), 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
        byte[] hbh = Pkt.OptionsHeader(IpProtocol.Udp, 1, 0, 0x9F, 1, 0); // PadN(2 bytes) then the option at 44
        h.Inject(Pkt.Ip6(IpProtocol.HopByHop, Pkt.Concat(hbh, datagram)));
        byte[] icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 2 }, icmp[..2]);
        Assert.Equal(44u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
    }

    [Fact]
    public void Rfc8200_4_4_RoutingHeaderWithSegmentsLeft_ParameterProblemCode0_PointerAtRoutingType()
    {
        using var h = new StackHarness();
        byte[] datagram = Pkt.UdpDatagram(Pkt.Data(12), 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
        byte[] routing = [(byte)IpProtocol.Udp, 2, 4, 1, 0, 0, 0, 0, .. new byte[16]]; // type 4 (SRH), segments left 1
        byte[] packet = Pkt.Ip6(IpProtocol.Ipv6Route, Pkt.Concat(routing, datagram));
        h.Inject(packet);
        byte[] icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 0 }, icmp[..2]);
        Assert.Equal(42u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
        Assert.Equal(1, h.Stack.Drops[IpDropReason.Ipv6RoutingHeader]);
        // Segments left 0: the header is ignored and the datagram delivered (to a closed port here).
        routing[3] = 0;
        h.Inject(Pkt.Ip6(IpProtocol.Ipv6Route, Pkt.Concat(routing, datagram)));
        icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 1, 4 }, icmp[..2]);
    }

    [Fact]
    public void Rfc792_ReassemblyTimeout_TimeExceededCode1_V4AndV6()
    {
        using var h = new StackHarness();
        byte[] udp = Pkt.UdpDatagram(Pkt.Data(64), 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        byte[] first = Pkt.Ip4(IpProtocol.Udp, udp.AsSpan(0, 32), id: 77, mf: true);
        h.Inject(first);
        byte[] udp6 = Pkt.UdpDatagram(Pkt.Data(64), 5000, 7000, StackHarness.Peer6, StackHarness.Local6);
        byte[] first6 = Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, 0, true, 99), udp6[..32]));
        h.Inject(first6);
        h.Clock.Advance(TimeSpan.FromSeconds(29));
        h.AssertNothingSent();
        h.Clock.Advance(TimeSpan.FromSeconds(2)); // IPv4: 30 s
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(new byte[] { 11, 1 }, icmp[..2]);
        Assert.Equal(first, icmp[8..]);
        h.Clock.Advance(TimeSpan.FromSeconds(30)); // IPv6: 60 s
        byte[] icmp6 = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 3, 1 }, icmp6[..2]);
        Assert.Equal(first6, icmp6[8..]);
    }

    [Fact]
    public void Rfc8200_4_5_FragmentMakingThePayloadTooLong_ParameterProblem_PointerAtFragmentOffset()
    {
        using var h = new StackHarness();
        // A hop-by-hop header (8 bytes) before the fragment header: the offset field is at 40 + 8 + 2 = 50.
        byte[] hbh = Pkt.OptionsHeader(IpProtocol.Ipv6Fragment);
        byte[] packet = Pkt.Ip6(IpProtocol.HopByHop, Pkt.Concat(hbh, Pkt.FragmentHeader(IpProtocol.Udp, 65528, true, 5), Pkt.Data(16)));
        h.Inject(packet);
        byte[] icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 0 }, icmp[..2]);
        Assert.Equal(50u, BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
    }

    [Fact]
    public void Rfc1122_3_2_2_Promiscuous_NoErrorAboutADirectedBroadcast()
    {
        using var h = new StackHarness();
        h.Nic.Promiscuous = true;
        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9, dst: NetAddress.Parse("10.0.0.255")));
        h.AssertNothingSent();
        Assert.Equal(1, h.Stack.Icmp.Events[IcmpEvent.ErrorsSuppressed]);
    }

    [Theory]
    [InlineData("224.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("10.0.0.255")]
    [InlineData("ff02::1")]
    public void Rfc4443_4_2_EchoToAGroup_IsAnsweredFromAUnicastAddressOfOurs(string group)
    {
        using var h = new StackHarness();
        h.Nic.Promiscuous = true;
        h.Nic.Spoofing = true; // even when any source is allowed, a reply never comes from a group
        var dst = NetAddress.Parse(group);
        h.Inject(dst.IsV4
            ? Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(8, 0, 0x00010002, Pkt.Data(8)), dst: dst)
            : Pkt.Ip6(IpProtocol.IcmpV6, Pkt.Icmp6(128, 0, 0x00010002, Pkt.Data(8), dst: dst), dst: dst));
        byte[] reply = h.SentOne();
        if (dst.IsV4)
        {
            Assert.Equal(StackHarness.Local4.V4, Pkt.CheckIpv4(reply).Source);
            Assert.Equal(0, Pkt.CheckIcmp4(reply)[0]);
        }
        else
        {
            Assert.Equal(StackHarness.Local6.Value, Pkt.CheckIpv6(reply).Source);
            Assert.Equal(129, Pkt.CheckIcmp6(reply)[0]);
        }
    }

    [Fact]
    public void ReassemblyTimeout_QuotesTheFirstFragmentWithoutLinkPadding()
    {
        using var h = new StackHarness(rawLink: true);
        byte[] udp = Pkt.UdpDatagram(Pkt.Data(64), 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        byte[] first = Pkt.Ip4(IpProtocol.Udp, udp.AsSpan(0, 32), id: 78, mf: true);
        h.Inject([.. first, 0xEE, 0xEE, 0xEE, 0xEE]);
        h.Clock.Advance(TimeSpan.FromSeconds(31));
        byte[] icmp = Pkt.CheckIcmp4(h.SentOne());
        Assert.Equal(first, icmp[8..]);
    }
}
