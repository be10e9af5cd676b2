using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using NetStack.Icmp;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

/// <summary>Outbound: headers, fragmentation (RFC 791 §3.2, RFC 8200 §4.5), IDs, routes, spoofing, path MTU (RFC 1191, RFC 8201).</summary>
public class StackOutputTests
{
    private static readonly IPEndPoint Peer4 = new(IPAddress.Parse("10.0.0.2"), 9000);
    private static readonly IPEndPoint Peer6 = new(IPAddress.Parse("fd00::2"), 9000);

    /// <summary>Reassembles IPv4 fragments by hand (checking each) and returns the UDP datagram.</summary>
    private static byte[] JoinV4(List<byte[]> fragments, int mtu)
    {
        ushort id = Pkt.CheckIpv4(fragments[0]).Identification;
        var data = new List<byte>();
        for (int i = 0; i < fragments.Count; i++)
        {
            byte[] f = fragments[i];
            Assert.True(f.Length <= mtu, $"fragment {i}: {f.Length} > {mtu}");
            Ipv4Repr ip = Pkt.CheckIpv4(f);
            Assert.Equal(id, ip.Identification);
            Assert.Equal(data.Count, ip.FragmentOffset);
            Assert.Equal(i < fragments.Count - 1, ip.MoreFragments);
            Assert.False(ip.DontFragment);
            if (ip.MoreFragments)
            {
                Assert.Equal(0, ip.PayloadLength % 8);
            }
            data.AddRange(f[ip.HeaderLength..]);
        }
        return [.. data];
    }

    [Fact]
    public void UdpV4_Small_ExactHeaders()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7001));
        byte[] data = Pkt.Data(21);
        Assert.Equal(21, udp.SendTo(data, Peer4));
        byte[] p = h.SentOne();
        Ipv4Repr ip = Pkt.CheckIpv4(p);
        Assert.Equal(StackHarness.Local4.V4, ip.Source);
        Assert.Equal(StackHarness.Peer4.V4, ip.Destination);
        Assert.Equal(IpProtocol.Udp, ip.Protocol);
        Assert.Equal(64, ip.TimeToLive);
        Assert.Equal(20, ip.HeaderLength);
        byte[] d = Pkt.CheckUdp(p);
        Assert.Equal(Pkt.UdpDatagram(data, 7001, 9000, StackHarness.Local4, StackHarness.Peer4), d);
    }

    [Fact]
    public void Rfc791_3_2_UdpV4_4000Bytes_IsFragmentedForMtu1500()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7001));
        byte[] data = Pkt.Data(4000);
        udp.SendTo(data, Peer4);
        List<byte[]> fragments = h.Sent();
        Assert.Equal(3, fragments.Count);
        Assert.Equal(1500, fragments[0].Length);
        Assert.Equal(1480, Pkt.CheckIpv4(fragments[1]).FragmentOffset);
        byte[] datagram = JoinV4(fragments, 1500);
        Assert.Equal(Pkt.UdpDatagram(data, 7001, 9000, StackHarness.Local4, StackHarness.Peer4), datagram);
        Assert.Equal(3, h.Stack.Events[IpEvent.FragmentsSent]);
    }

    [Fact]
    public void Rfc8200_4_5_UdpV6_4000Bytes_IsFragmentedAtTheSource()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.IPv6Any, 7001));
        byte[] data = Pkt.Data(4000);
        udp.SendTo(data, Peer6);
        List<byte[]> fragments = h.Sent();
        Assert.Equal(3, fragments.Count);
        var joined = new List<byte>();
        uint? id = null;
        for (int i = 0; i < fragments.Count; i++)
        {
            byte[] f = fragments[i];
            Assert.True(f.Length <= 1500);
            Ipv6Repr ip = Pkt.CheckIpv6(f);
            Assert.Equal(IpProtocol.Ipv6Fragment, ip.NextHeader);
            Assert.Equal(StackHarness.Local6.Value, ip.Source);
            Assert.True(Ipv6FragmentHeader.TryCreate(f.AsSpan(40), out var fh, out _));
            Assert.Equal(IpProtocol.Udp, fh.NextHeader);
            Assert.Equal(joined.Count, fh.FragmentOffset);
            Assert.Equal(i < fragments.Count - 1, fh.MoreFragments);
            id ??= fh.Identification;
            Assert.Equal(id, fh.Identification);
            if (fh.MoreFragments)
            {
                Assert.Equal(0, (f.Length - 48) % 8);
            }
            joined.AddRange(f[48..]);
        }
        Assert.Equal(1496, fragments[0].Length); // 40 + 8 + 1448: the largest multiple of 8 that fits
        Assert.Equal(Pkt.UdpDatagram(data, 7001, 9000, StackHarness.Local6, StackHarness.Peer6), joined.ToArray());
    }

    [Fact]
    public void DontFragment_TooBig_MessageSize_V4AndV6()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.DontFragment = true;
        var e = Assert.Throws<SocketException>(() => udp.SendTo(Pkt.Data(1473), Peer4));
        Assert.Equal(SocketError.MessageSize, e.SocketErrorCode);
        e = Assert.Throws<SocketException>(() => udp.SendTo(Pkt.Data(1453), Peer6));
        Assert.Equal(SocketError.MessageSize, e.SocketErrorCode);
        h.AssertNothingSent();
        // At the MTU exactly it goes, with DF set on IPv4.
        udp.SendTo(Pkt.Data(1472), Peer4);
        byte[] p = h.SentOne();
        Assert.Equal(1500, p.Length);
        Assert.True(Pkt.CheckIpv4(p).DontFragment);
        udp.SendTo(Pkt.Data(1452), Peer6);
        Assert.Equal(1500, h.SentOne().Length);
        // Past what IP can carry at all.
        udp.DontFragment = false;
        e = Assert.Throws<SocketException>(() => udp.SendTo(new byte[65508], Peer4));
        Assert.Equal(SocketError.MessageSize, e.SocketErrorCode);
    }

    [Fact]
    public void Rfc6864_Ipv4Ids_DifferBetweenDatagrams()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        for (int i = 0; i < 20; i++)
        {
            udp.SendTo(Pkt.Data(10), Peer4);
        }
        var ids = h.Sent().Select(p => Pkt.CheckIpv4(p).Identification).ToList();
        Assert.Equal(20, ids.Distinct().Count());
    }

    [Fact]
    public void Routes_LongestPrefixWins_DefaultRouteOtherwise()
    {
        using var h = new StackHarness();
        var second = new ChannelEndpoint(new ChannelEndpointOptions { Mtu = 1400 });
        Nic nic2 = h.Stack.CreateNic(second);
        nic2.AddAddress(NetPrefix.Parse("192.168.1.1/24"));
        h.Stack.Routes.Add(new Route(NetPrefix.Parse("0.0.0.0/0"), h.Nic));
        h.Stack.Routes.Add(new Route(NetPrefix.Parse("172.16.0.0/12"), nic2, Mtu: 1300));
        h.Stack.Routes.Add(new Route(NetPrefix.Parse("172.16.5.0/24"), h.Nic));
        h.Stack.Routes.Add(new Route(NetPrefix.Parse("::/0"), nic2));
        try
        {
            Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(NetAddress.Parse("172.16.5.9"), default, out RouteInfo r));
            Assert.Same(h.Nic, r.Nic);
            Assert.Equal(StackHarness.Local4, r.Source);
            Assert.Equal(1500, r.Mtu);
            Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(NetAddress.Parse("172.17.0.1"), default, out r));
            Assert.Same(nic2, r.Nic);
            Assert.Equal(NetAddress.Parse("192.168.1.1"), r.Source);
            Assert.Equal(1300, r.Mtu); // the route's MTU below the NIC's
            Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(NetAddress.Parse("8.8.8.8"), default, out r));
            Assert.Same(h.Nic, r.Nic);
            Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(NetAddress.Parse("10.0.0.77"), default, out r));
            Assert.Same(h.Nic, r.Nic);
            Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(NetAddress.Parse("fd00::9"), default, out r));
            Assert.Same(h.Nic, r.Nic); // on-link /64 beats ::/0
            // ::/0 via nic2, which has no IPv6 address: no source.
            Assert.Equal(SendResult.NoSourceAddress, h.Stack.TryResolveRoute(NetAddress.Parse("2001:db8::1"), default, out _));

            using var udp = h.Stack.Udp.CreateEndpoint();
            udp.SendTo(Pkt.Data(8), new IPEndPoint(IPAddress.Parse("172.17.0.1"), 53));
            Assert.Equal(1, second.NumQueued);
            h.AssertNothingSent();
        }
        finally
        {
            second.Close();
        }
    }

    [Fact]
    public void NoRoute_NetworkUnreachable()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        var e = Assert.Throws<SocketException>(() => udp.SendTo(Pkt.Data(8), new IPEndPoint(IPAddress.Parse("192.0.2.1"), 53)));
        Assert.Equal(SocketError.NetworkUnreachable, e.SocketErrorCode);
        e = Assert.Throws<SocketException>(() => udp.SendTo(Pkt.Data(8), new IPEndPoint(IPAddress.Parse("2001:db8::1"), 53)));
        Assert.Equal(SocketError.NetworkUnreachable, e.SocketErrorCode);
        Assert.Equal(2, h.Stack.Drops[IpDropReason.NoRoute]);
        h.AssertNothingSent();
    }

    [Fact]
    public void Spoofing_OffRefusesNonLocalSource_OnAllowsIt()
    {
        using var h = new StackHarness();
        var foreign = NetAddress.Parse("10.0.0.200");
        Assert.Equal(SendResult.NoSourceAddress, h.Stack.TryResolveRoute(StackHarness.Peer4, foreign, out _));
        using (var udp = h.Stack.Udp.CreateEndpoint())
        {
            var e = Assert.Throws<SocketException>(() => udp.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.200"), 53)));
            Assert.Equal(SocketError.AddressNotAvailable, e.SocketErrorCode);
        }
        h.Nic.Spoofing = true;
        Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(StackHarness.Peer4, foreign, out RouteInfo r));
        Assert.Equal(foreign, r.Source);
        using (var udp = h.Stack.Udp.CreateEndpoint())
        {
            udp.Bind(new IPEndPoint(IPAddress.Parse("10.0.0.200"), 53));
            udp.SendTo(Pkt.Data(8), Peer4);
            byte[] p = h.SentOne();
            Assert.Equal(foreign.V4, Pkt.CheckIpv4(p).Source);
            Pkt.CheckUdp(p);
        }
        // Promiscuous + spoofing: a ping to any address is answered from that address.
        h.Nic.Promiscuous = true;
        byte[] echo = Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(8, 0, 0x00010001, Pkt.Data(4)), dst: NetAddress.Parse("198.51.100.7"));
        h.Inject(echo);
        Assert.Equal(NetAddress.Parse("198.51.100.7").V4, Pkt.CheckIpv4(h.SentOne()).Source);
    }

    [Fact]
    public void Rfc1191_FragmentationNeeded_LowersPathMtu_NextDatagramFragmentedToIt()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.SendTo(Pkt.Data(1400), Peer4);
        byte[] sent = h.SentOne();
        Assert.Equal(1428, sent.Length);
        // A router says the next hop carries 1000 bytes, quoting our packet (header + 8 bytes).
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 1000, sent.AsSpan(0, 28)), src: NetAddress.Parse("10.0.0.254")));
        Assert.Equal(1000, h.Stack.PathMtu.Get(StackHarness.Peer4, 1500));
        udp.SendTo(Pkt.Data(1400), Peer4);
        List<byte[]> fragments = h.Sent();
        Assert.Equal(2, fragments.Count);
        Assert.All(fragments, f => Assert.True(f.Length <= 1000));
        JoinV4(fragments, 1000);
        // Never below min_pmtu, 552 (Linux's net.ipv4.route.min_pmtu): a forged MTU of 20 or 68 cannot starve a path.
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 20, sent.AsSpan(0, 28))));
        Assert.Equal(552, h.Stack.PathMtu.Get(StackHarness.Peer4, 1500));
        udp.SendTo(Pkt.Data(1000), Peer4);
        fragments = h.Sent();
        Assert.All(fragments, f => Assert.True(f.Length <= 552));
        JoinV4(fragments, 552);
        // Never raised by ICMP.
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 1400, sent.AsSpan(0, 28))));
        Assert.Equal(552, h.Stack.PathMtu.Get(StackHarness.Peer4, 1500));
        h.AssertNothingSent();
    }

    [Fact]
    public void Rfc8201_4_PacketTooBig_LowersPathMtu_BelowTheMinimumIsDiscarded()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.SendTo(Pkt.Data(1400), Peer6);
        byte[] sent = h.SentOne();
        // RFC 8201 §4: a Packet Too Big reporting less than 1280 is discarded, not clamped.
        h.Inject(Pkt.Ip6(IpProtocol.IcmpV6, Pkt.Icmp6(2, 0, 1000, sent.AsSpan(0, 1232))));
        Assert.Equal(1500, h.Stack.PathMtu.Get(StackHarness.Peer6, 1500));
        Assert.Equal(1, h.Stack.Icmp.Events[IcmpEvent.PathMtuIgnored]);
        h.Inject(Pkt.Ip6(IpProtocol.IcmpV6, Pkt.Icmp6(2, 0, 1300, sent.AsSpan(0, 1232))));
        Assert.Equal(1300, h.Stack.PathMtu.Get(StackHarness.Peer6, 1500));
        udp.SendTo(Pkt.Data(1400), Peer6);
        List<byte[]> fragments = h.Sent();
        Assert.Equal(2, fragments.Count);
        Assert.True(fragments[0].Length <= 1300);
        Assert.All(fragments, f => Assert.Equal(IpProtocol.Ipv6Fragment, Pkt.CheckIpv6(f).NextHeader));
    }

    [Fact]
    public void PacketTooBig_QuotingAPacketWeDidNotSend_IsIgnored()
    {
        using var h = new StackHarness();
        // Quoted source is not ours: 10.0.0.2 → 10.0.0.7.
        byte[] quote = Pkt.Udp4(Pkt.Data(4), src: StackHarness.Peer4, dst: NetAddress.Parse("10.0.0.7"));
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 576, quote)));
        Assert.Equal(1500, h.Stack.PathMtu.Get(NetAddress.Parse("10.0.0.7"), 1500));
        Assert.Equal(0, h.Stack.PathMtu.Count);
    }

    [Fact]
    public async Task Rfc1122_4_1_3_3_ConnectedUdp_GetsConnectionRefused_AfterPortUnreachable()
    {
        using var h = new StackHarness();
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Connect(Peer4);
        udp.SendTo(Pkt.Data(16));
        byte[] sent = h.SentOne();
        var pending = udp.ReceiveFromAsync(new byte[100]);
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 3, 0, sent)));
        var e = await Assert.ThrowsAsync<SocketException>(async () => await pending);
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
        // Reported once: the next send goes.
        udp.SendTo(Pkt.Data(16));
        Assert.Single(h.Sent());
        // IPv6: the same through a send.
        using var udp6 = h.Stack.Udp.CreateEndpoint();
        udp6.Connect(Peer6);
        udp6.SendTo(Pkt.Data(16));
        sent = h.SentOne();
        h.Inject(Pkt.Ip6(IpProtocol.IcmpV6, Pkt.Icmp6(1, 4, 0, sent)));
        e = Assert.Throws<SocketException>(() => udp6.SendTo(Pkt.Data(16)));
        Assert.Equal(SocketError.ConnectionRefused, e.SocketErrorCode);
    }

    [Fact]
    public void EchoReply_OnALinkWithMtu1280_FragmentsAsNeeded()
    {
        using var h = new StackHarness(mtu: 1280);
        byte[] data = Pkt.Data(2000);
        // A reassembled big echo request (sent to us in two fragments) is answered in fragments.
        byte[] icmp = Pkt.Icmp4(8, 0, 0x00070008, data);
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, icmp.AsSpan(0, 1200), id: 5, mf: true));
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, icmp.AsSpan(1200), id: 5, fragmentOffset: 1200));
        List<byte[]> fragments = h.Sent();
        Assert.Equal(2, fragments.Count);
        byte[] reply = JoinV4(fragments, 1280);
        Assert.Equal(Pkt.Icmp4(0, 0, 0x00070008, data), reply);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Send_PushesTheHeaderIntoHeadroom_TtlAndTrafficClassAsGiven(bool v6)
    {
        using var h = new StackHarness();
        NetAddress peer = v6 ? StackHarness.Peer6 : StackHarness.Peer4;
        Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(peer, default, out RouteInfo route));
        NetStack.Buffers.PacketBuffer packet = h.Pool.Rent(16, 64);
        byte[] body = Pkt.Data(16);
        body.CopyTo(packet.Append(16));
        Assert.Equal(SendResult.Sent, h.Stack.Send(route, (IpProtocol)253, packet, timeToLive: 9, trafficClass: 0xB9));
        NetStack.Buffers.PacketBuffer? sent = h.Channel!.Read();
        Assert.Same(packet, sent); // no copy: the header went in front of the data
        byte[] bytes = sent!.ToArray();
        sent.Release();
        if (v6)
        {
            Ipv6Repr ip = Pkt.CheckIpv6(bytes);
            Assert.Equal(0xB9, ip.TrafficClass);
            Assert.Equal(9, ip.HopLimit);
            Assert.Equal((IpProtocol)253, ip.NextHeader);
        }
        else
        {
            Ipv4Repr ip = Pkt.CheckIpv4(bytes);
            Assert.Equal(0xB9 >> 2, ip.Dscp);
            Assert.Equal(0xB9 & 3, ip.Ecn);
            Assert.Equal(9, ip.TimeToLive);
            Assert.Equal((IpProtocol)253, ip.Protocol);
        }
        Assert.Equal(body, bytes[^16..]);
    }
}
