// Exact-packet tests of the ICMP hardening of issue 14: per-destination error budgets and the global budget that
// echo replies draw from (item 10), per-source input limits, path-MTU floors and what a transport is told (item 6).
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tests.Stack.Network;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Icmp;

public class IcmpHardeningTests
{
    private static readonly NetAddress Other4 = NetAddress.Parse("10.0.0.3");

    [Fact]
    public void ErrorBudget_OneFloodedDestination_DoesNotStarveAnother()
    {
        // One global bucket used to let 50 port unreachables to one host (a reflection target) use up every error.
        using var h = new StackHarness(icmpBurst: 50, icmpRate: 1000);
        for (int i = 0; i < 100; i++)
        {
            h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9));
        }
        Assert.Equal(6, h.Sent().Count); // Linux's XRLIM_BURST_FACTOR at icmp_ratelimit 1 s
        Assert.Equal(94, h.Stack.Icmp.Events[IcmpEvent.ErrorsRateLimited]);

        h.Inject(Pkt.Udp4(Pkt.Data(4), dport: 9, src: Other4));
        Assert.Equal(Other4.V4, Pkt.CheckIpv4(h.SentOne()).Destination);
    }

    [Fact]
    public void ErrorBudget_PerDestination_EarnsOneMessagePerInterval()
    {
        using var h = new StackHarness(icmpBurst: 50, icmpRate: 1000);
        for (int i = 0; i < 10; i++)
        {
            h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9));
        }
        Assert.Equal(6, h.Sent().Count);
        h.Clock.Advance(TimeSpan.FromMilliseconds(999));
        h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9));
        h.AssertNothingSent();
        h.Clock.Advance(TimeSpan.FromMilliseconds(1));
        h.Inject(Pkt.Udp6(Pkt.Data(4), dport: 9));
        h.SentOne();
    }

    [Fact]
    public void EchoReplies_DrawFromTheGlobalBudget_AFloodReflectsAtMostTheBurst()
    {
        using var h = new StackHarness(icmpBurst: 50, icmpRate: 1000);
        for (int i = 0; i < 200; i++)
        {
            NetAddress source = NetAddress.FromV4(StackHarness.Peer4.V4 + (uint)(i % 100)); // forged, many sources
            h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(8, 0, (uint)i, Pkt.Data(8)), src: source));
        }
        Assert.Equal(50, h.Sent().Count);
        Assert.Equal(150, h.Stack.Icmp.Events[IcmpEvent.EchoRepliesRateLimited]);
        h.Clock.Advance(TimeSpan.FromMilliseconds(10)); // 1000/s: ten more
        for (int i = 0; i < 20; i++)
        {
            h.Inject(Pkt.Echo4Request(1, (ushort)i, Pkt.Data(8)));
        }
        Assert.Equal(10, h.Sent().Count);
    }

    [Fact]
    public void ErrorInput_FloodFromOneSource_IsLimitedPerSource_OtherSourcesStillHeard()
    {
        using var h = new StackHarness();
        byte[] quote = Pkt.Udp4(Pkt.Data(4), sport: 40000, dport: 53, src: StackHarness.Local4, dst: StackHarness.Peer4);
        for (int i = 0; i < 200; i++)
        {
            h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 3, 0, quote), src: NetAddress.Parse("10.0.0.254")));
        }
        Assert.Equal(50, h.Stack.Icmp.Events[IcmpEvent.ErrorsReceived]); // IcmpErrorInputBurst
        Assert.Equal(150, h.Stack.Icmp.Events[IcmpEvent.ErrorsInputRateLimited]);
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 3, 0, quote), src: NetAddress.Parse("10.0.0.253")));
        Assert.Equal(51, h.Stack.Icmp.Events[IcmpEvent.ErrorsReceived]);
        h.Clock.Advance(TimeSpan.FromMilliseconds(10)); // 100/s: one more from the flooder
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 3, 0, quote), src: NetAddress.Parse("10.0.0.254")));
        Assert.Equal(52, h.Stack.Icmp.Events[IcmpEvent.ErrorsReceived]);
    }

    [Fact]
    public void MinPmtu_ForgedFragmentationNeededWithMtu68_LeavesThePathAt552()
    {
        // The attack of issue 14 item 6: one forged message with MTU 68 used to set the path to 68 for ten minutes.
        using var h = new StackHarness();
        // (A UDP quote: TCP updates the cache only for a segment in flight, TcpPathMtuTests.)
        byte[] quote = Pkt.Udp4(Pkt.Data(4), src: StackHarness.Local4, dst: StackHarness.Peer4);
        h.Inject(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 68, quote.AsSpan(0, 28)), src: NetAddress.Parse("192.0.2.1")));
        Assert.Equal(552, h.Stack.PathMtu.Get(StackHarness.Peer4, 1500));
        Assert.Equal(552, h.Stack.PathMtu.Ipv4MinimumMtu);
    }

    [Fact]
    public void Rfc5927_4_1_IcmpError_CarriesTheQuotedTcpSequenceNumber()
    {
        using var pool = new NetStack.Tests.Support.LeakCheckedPool();
        using var stack = new NetworkStack(new NetworkStackOptions { Pool = pool.Pool, TimeProvider = new ManualClock() });
        var link = new RawTestLink();
        Nic nic = stack.CreateNic(link);
        nic.AddAddress(NetPrefix.Parse("10.0.0.1/24"));
        var transport = new RecordingTransport();
        stack.RegisterTransport(IpProtocol.Tcp, transport);

        byte[] segment = new byte[20];
        BinaryPrimitives.WriteUInt16BigEndian(segment, 443);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), 51000);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), 0x01020304);
        segment[12] = 0x50;
        byte[] quoted = Pkt.Ip4(IpProtocol.Tcp, segment, src: StackHarness.Local4, dst: StackHarness.Peer4);
        link.Inject(pool.Pool.RentCopy(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 4, 1200, quoted.AsSpan(0, 28)), src: NetAddress.Parse("10.0.0.254"))));
        // A quote cut after the ports carries no sequence number.
        link.Inject(pool.Pool.RentCopy(Pkt.Ip4(IpProtocol.Icmp, Pkt.Icmp4(3, 3, 0, quoted.AsSpan(0, 24)), src: NetAddress.Parse("10.0.0.254"))));
        link.Close();

        Assert.Equal(2, transport.Errors.Count);
        IcmpError tooBig = transport.Errors[0];
        Assert.Equal(IcmpErrorKind.PacketTooBig, tooBig.Kind);
        Assert.Equal(1200, tooBig.Mtu);
        Assert.True(tooBig.HasQuotedSequence);
        Assert.Equal(0x01020304u, tooBig.QuotedSequence);
        Assert.Equal((ushort)443, tooBig.LocalPort);
        Assert.False(transport.Errors[1].HasQuotedSequence);
        Assert.Equal((ushort)443, transport.Errors[1].LocalPort);
    }

    [Fact]
    public void PathMtuCache_Full_ForgetsTheLeastRecentlyUpdated()
    {
        var clock = new ManualClock();
        var cache = new PathMtuCache(clock, capacity: 3, TimeSpan.FromMinutes(10));
        for (uint i = 1; i <= 3; i++)
        {
            cache.Update(NetAddress.FromV4(0x0A000000 + i), 1000);
            clock.Advance(TimeSpan.FromSeconds(1));
        }
        cache.Update(NetAddress.FromV4(0x0A000001), 900); // refreshed: now the most recent
        cache.Update(NetAddress.FromV4(0x0A000004), 1000);
        Assert.Equal(3, cache.Count);
        Assert.Equal(1500, cache.Get(NetAddress.FromV4(0x0A000002), 1500));
        Assert.Equal(900, cache.Get(NetAddress.FromV4(0x0A000001), 1500));
        clock.Advance(TimeSpan.FromMinutes(11));
        Assert.Equal(1500, cache.Get(NetAddress.FromV4(0x0A000001), 1500));
        Assert.Equal(2, cache.Count);
    }

    private sealed class RecordingTransport : ITransportProtocol
    {
        public List<IcmpError> Errors { get; } = [];

        public void Deliver(in IpPacketInfo info, PacketBuffer packet)
        {
        }

        public void DeliverIcmpError(in IcmpError error) => Errors.Add(error);
    }
}
