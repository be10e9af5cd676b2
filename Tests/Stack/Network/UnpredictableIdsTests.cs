// Tests of the stack's unpredictable choices (issue 14, item 10): SipHash against its reference vector, RFC 6056
// ephemeral ports, IPv6 fragment identifications (RFC 7739 §5) and IPv4 identifications (RFC 6864, Linux's
// ip_idents for datagrams that may fragment, a connection's own counter for its atomic ones).
using System.Buffers.Binary;
using System.Net;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Udp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

public class UnpredictableIdsTests
{
    [Fact]
    public void SipHash24_MatchesTheReferenceImplementation()
    {
        // Key 00..0f, messages 00..27 (40 bytes) and 00..2f (48 bytes): the reference C implementation's output for these inputs.
        var sip = new SipHash(0x0706050403020100UL, 0x0F0E0D0C0B0A0908UL);
        Assert.Equal(0x0E3EA96B5304A7D0UL, sip.Hash(0x0706050403020100UL, 0x0F0E0D0C0B0A0908UL, 0x1716151413121110UL, 0x1F1E1D1C1B1A1918UL, 0x2726252423222120UL));
        Assert.Equal(0xE612A3CB9ECBA951UL, sip.Hash(0x0706050403020100UL, 0x0F0E0D0C0B0A0908UL, 0x1716151413121110UL, 0x1F1E1D1C1B1A1918UL, 0x2726252423222120UL, 0x2F2E2D2C2B2A2928UL));
    }

    [Fact]
    public void Rfc6056_UdpEphemeralPorts_AreNotSequential()
    {
        // Sequential ports (each bind the last + 1) let an off-path attacker guess the next one (RFC 6056 §1).
        using var h = new StackHarness();
        var endpoints = new List<UdpEndpoint>();
        try
        {
            for (int i = 0; i < 64; i++)
            {
                UdpEndpoint e = h.Stack.Udp.CreateEndpoint();
                endpoints.Add(e);
                e.Bind(new IPEndPoint(IPAddress.Any, 0));
            }
            int[] ports = endpoints.Select(e => e.LocalEndPoint!.Port).ToArray();
            int consecutive = ports.Zip(ports.Skip(1)).Count(p => p.Second == p.First + 1);
            Assert.True(consecutive <= 2, $"{consecutive} of 63 ports followed their predecessor");
            Assert.True(ports.Distinct().Count() == ports.Length);
        }
        finally
        {
            endpoints.ForEach(e => e.Dispose());
        }
    }

    [Fact]
    public void Rfc6056_Algorithm4_PortsOfOneDestination_JumpAndOtherDestinationsStartElsewhere()
    {
        var selector = new EphemeralPortSelector(49152, 65535, new Random(5));
        NetAddress local = NetAddress.Parse("10.0.0.1");
        NetAddress a = NetAddress.Parse("192.0.2.1"), b = NetAddress.Parse("192.0.2.2");
        var taken = new HashSet<ushort>();
        var toA = new List<ushort>();
        for (int i = 0; i < 20; i++)
        {
            Assert.True(selector.TrySelect(local, a, 443, taken, static (t, p) => !t.Contains(p), out ushort port));
            taken.Add(port);
            toA.Add(port);
        }
        Assert.True(selector.TrySelect(local, b, 443, taken, static (t, p) => !t.Contains(p), out ushort toB));
        Assert.All(toA.Zip(toA.Skip(1)), p => Assert.InRange(((p.Second - p.First + 16384) % 16384), 2, 16));
        Assert.DoesNotContain(toA, p => Math.Abs(p - toB) < 64);
        Assert.All(taken, p => Assert.InRange(p, 49152, 65535));
    }

    [Fact]
    public void Rfc6056_Selector_FullRange_ReportsNoPort()
    {
        var selector = new EphemeralPortSelector(60000, 60009, new Random(1));
        var taken = new HashSet<ushort>();
        for (int i = 0; i < 10; i++)
        {
            Assert.True(selector.TrySelect(taken, static (t, p) => !t.Contains(p), out ushort port));
            Assert.True(taken.Add(port));
        }
        Assert.False(selector.TrySelect(taken, static (t, p) => !t.Contains(p), out _));
        Assert.False(selector.TrySelect(NetAddress.Parse("10.0.0.1"), NetAddress.Parse("10.0.0.2"), 80, taken, static (t, p) => !t.Contains(p), out _));
    }

    [Fact]
    public void Rfc7739_5_Ipv6FragmentIds_AreNotSequential()
    {
        using var h = new StackHarness(mtu: 1280);
        using UdpEndpoint udp = h.Stack.Udp.CreateEndpoint();
        var ids = new List<uint>();
        for (int i = 0; i < 16; i++)
        {
            udp.SendTo(Pkt.Data(2000), new IPEndPoint(IPAddress.Parse("fd00::2"), 9));
            byte[] first = h.Sent()[0];
            ids.Add(System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(first.AsSpan(40 + 4)));
        }
        Assert.Equal(ids.Count, ids.Distinct().Count());
        int small = ids.Zip(ids.Skip(1)).Count(p => unchecked(p.Second - p.First) < 1024);
        Assert.True(small <= 1, $"{small} of 15 IDs followed their predecessor closely: {string.Join(",", ids)}");
    }

    [Fact]
    public void Ipv4Ids_OneFlow_CountsUp_AndAnIdleBucketJumps()
    {
        var clock = new ManualClock();
        var ids = new Ipv4IdGenerator(clock, new Random(3));
        ushort first = ids.Next(0x0A000001, 0x0A000002, 17);
        Assert.Equal((ushort)(first + 1), ids.Next(0x0A000001, 0x0A000002, 17));
        ushort reserved = ids.Next(0x0A000001, 0x0A000002, 17, count: 4);
        Assert.Equal((ushort)(reserved + 4), ids.Next(0x0A000001, 0x0A000002, 17));
        // After an idle second the counter moves by a pseudo-random amount below 1000 (Linux's ip_idents_reserve):
        // watching its own IDs, a host sharing the bucket cannot count how many packets were sent meanwhile.
        var jumps = new HashSet<int>();
        for (int i = 0; i < 8; i++)
        {
            ushort before = ids.Next(0x0A000001, 0x0A000002, 17);
            clock.Advance(TimeSpan.FromSeconds(1));
            ushort after = ids.Next(0x0A000001, 0x0A000002, 17);
            int jump = (ushort)(after - before) - 1;
            Assert.InRange(jump, 0, 999);
            jumps.Add(jump);
        }
        Assert.True(jumps.Count >= 6, "the jumps vary");
    }

    [Fact]
    public void Rfc6864_4_1_ConnectionAtomicDatagrams_CountOnTheirOwnCounter_UnmovedByOtherFlows()
    {
        using var h = new StackHarness();
        Assert.Equal(SendResult.Sent, h.Stack.TryResolveRoute(StackHarness.Peer4, default, out RouteInfo route));
        RouteInfo one = h.Stack.ForConnection(route, IpProtocol.Tcp, (49152UL << 16) | 80);
        RouteInfo two = h.Stack.ForConnection(route, IpProtocol.Tcp, (49153UL << 16) | 80);
        ushort a1 = SendId(h, one), b1 = SendId(h, two), a2 = SendId(h, one), a3 = SendId(h, one), b2 = SendId(h, two);
        // Consecutive on each connection whatever the other sends in between (no shared counter to observe).
        Assert.Equal((ushort)(a1 + 1), a2);
        Assert.Equal((ushort)(a2 + 1), a3);
        Assert.Equal((ushort)(b1 + 1), b2);
        // A datagram that may be fragmented (DF clear) takes the stack's shared counters, never the connection's.
        SendId(h, one, dontFragment: false);
        Assert.Equal((ushort)(a3 + 1), SendId(h, one));
    }

    [Fact]
    public void Ipv4FlowStart_IsKeyedByAddressesProtocolAndPorts()
    {
        var clock = new ManualClock();
        var ids = new Ipv4IdGenerator(clock, new Random(3));
        var starts = new HashSet<ushort>();
        for (ulong ports = 0; ports < 64; ports++)
        {
            starts.Add(ids.FlowStart(0x0A000001, 0x0A000002, 6, ((49152UL + ports) << 16) | 80));
        }
        Assert.True(starts.Count >= 60, $"{starts.Count} distinct starts of 64 connections");
        Assert.Equal(ids.FlowStart(0x0A000001, 0x0A000002, 6, 1), ids.FlowStart(0x0A000001, 0x0A000002, 6, 1));
        Assert.NotEqual(new Ipv4IdGenerator(clock, new Random(4)).FlowStart(0x0A000001, 0x0A000002, 6, 1), ids.FlowStart(0x0A000001, 0x0A000002, 6, 1));
        var own = new Ipv4FlowIds(65534);
        Assert.Equal(65534, own.Take(3)); // a GSO super-segment's three segments: 65534, 65535, 0
        Assert.Equal(1, own.Take(1));
    }

    private static ushort SendId(StackHarness h, in RouteInfo route, bool dontFragment = true)
    {
        PacketBuffer packet = h.Pool.Rent(20, headroom: 64);
        packet.Append(20).Clear();
        Assert.Equal(SendResult.Sent, h.Stack.Send(route, IpProtocol.Tcp, packet, dontFragment: dontFragment));
        return BinaryPrimitives.ReadUInt16BigEndian(h.SentOne().AsSpan(4));
    }
}
