// Hostile input at the stack level: fragment floods, tiny fragments and endless IPv6 extension-header chains
// stay within the configured bounds, are counted, and leave nothing behind (ARCHITECTURE.md §6).
using System.Diagnostics;
using System.Net;
using NetStack.Icmp;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network;

public class HostileInputTests
{
    private static readonly ReassemblyOptions Tight = new() { MaxBytes = 128 * 1024, MaxDatagrams = 64 };

    [Fact]
    public void RandomFragmentFlood_StaysWithinMaxBytes_AndNothingLeaksAfterExpiry()
    {
        using var h = new StackHarness(reassembly: Tight, debugPool: false);
        var random = new Random(1234);
        long peak = 0;
        for (int i = 0; i < 4000; i++)
        {
            bool v6 = random.Next(2) == 0;
            int offset = random.Next(0, 8000) * 8;
            byte[] data = new byte[random.Next(1, 180) * 8];
            random.NextBytes(data);
            bool more = random.Next(4) != 0;
            var src = v6 ? NetAddress.FromV6(StackHarness.Peer6.Value + (UInt128)random.Next(1, 50)) : NetAddress.FromV4(StackHarness.Peer4.V4 + (uint)random.Next(0, 50));
            ushort id = (ushort)random.Next(0, 300);
            h.Inject(v6
                ? Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Udp, offset, more, id), data), src: src)
                : Pkt.Ip4(IpProtocol.Udp, data, src: src, id: id, mf: more, fragmentOffset: offset));
            long held = h.Stack.Reassembler.BytesHeld;
            Assert.True(held <= Tight.MaxBytes, $"{held} bytes held after fragment {i}");
            Assert.True(h.Stack.Reassembler.DatagramsInFlight <= Tight.MaxDatagrams);
            peak = Math.Max(peak, held);
            if (i % 256 == 0)
            {
                h.Sent(); // errors the flood provoked (rate-limited)
            }
        }
        Assert.True(peak > Tight.MaxBytes / 2, "the flood did fill the reassembly memory");
        Assert.True(h.Stack.Reassembler.Drops[ReassemblyDropReason.Evicted] > 0);
        Assert.True(h.Stack.Icmp.Events[IcmpEvent.ErrorsRateLimited] > 0 || h.Stack.Icmp.Events[IcmpEvent.ErrorsSent] <= 50);
        h.Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(0, h.Stack.Reassembler.BytesHeld);
        Assert.Equal(0, h.Stack.Reassembler.FragmentsHeld);
        Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
        h.Sent();
        Assert.Equal(0, h.Pool.LiveBuffers); // before any dispose: expiry released everything
    }

    [Fact]
    public void TinyFragments_Reassemble_WithinDefaultLimits()
    {
        using var h = new StackHarness(debugPool: false);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        byte[] payload = Pkt.Data(800);
        byte[] d = Pkt.UdpDatagram(payload, 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        for (int offset = 0; offset < d.Length; offset += 8)
        {
            int length = Math.Min(8, d.Length - offset);
            h.Inject(Pkt.Ip4(IpProtocol.Udp, d.AsSpan(offset, length), id: 3, mf: offset + length < d.Length, fragmentOffset: offset));
        }
        var buffer = new byte[1000];
        Assert.True(udp.TryReceive(buffer, out var r));
        Assert.Equal(payload, buffer[..r.ReceivedBytes]);
    }

    [Fact]
    public void TinyFragments_PastTheMemoryBound_AreDroppedAndCounted()
    {
        var limits = new ReassemblyOptions { MaxBytes = 64 * 1024 };
        using var h = new StackHarness(reassembly: limits, debugPool: false);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.Any, 7000));
        byte[] d = Pkt.UdpDatagram(Pkt.Data(800), 5000, 7000, StackHarness.Peer4, StackHarness.Local4);
        for (int offset = 0; offset < d.Length; offset += 8)
        {
            int length = Math.Min(8, d.Length - offset);
            h.Inject(Pkt.Ip4(IpProtocol.Udp, d.AsSpan(offset, length), id: 3, mf: offset + length < d.Length, fragmentOffset: offset));
            Assert.True(h.Stack.Reassembler.BytesHeld <= limits.MaxBytes);
        }
        Assert.Equal(0, udp.Available);
        Assert.True(h.Stack.Reassembler.Drops[ReassemblyDropReason.MemoryLimit] > 0);
        Assert.True(h.Stack.Drops[IpDropReason.Fragment] > 0);
    }

    [Fact]
    public void TinyFragments_PastTheFragmentCount_DiscardTheDatagram()
    {
        using var h = new StackHarness(debugPool: false);
        for (int i = 0; i < 200; i++)
        {
            h.Inject(Pkt.Ip4(IpProtocol.Udp, new byte[8], id: 4, mf: true, fragmentOffset: i * 8));
        }
        Assert.True(h.Stack.Reassembler.Drops[ReassemblyDropReason.TooManyFragments] > 0);
        Assert.True(h.Stack.Reassembler.FragmentsHeld <= h.Stack.Options.Reassembly.MaxFragmentsPerDatagram);
    }

    [Fact]
    public void Rfc7112_TinyIpv6FirstFragment_WithoutTheTransportHeader_ParameterProblemCode3()
    {
        // A bare link: the channel endpoint's RX validation walks past the fragment header and drops this itself.
        using var h = new StackHarness(rawLink: true);
        // Destination options (16 bytes) then UDP, in the fragmentable part; the first fragment carries only 8 bytes.
        byte[] chain = Pkt.Concat(Pkt.OptionsHeader(IpProtocol.Udp, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0), Pkt.UdpDatagram(Pkt.Data(40), 5000, 7000, StackHarness.Peer6, StackHarness.Local6));
        Assert.Equal(16 + 48, chain.Length);
        byte[] first = Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Ipv6DestinationOptions, 0, true, 8), chain[..8]));
        h.Inject(first);
        byte[] icmp = Pkt.CheckIcmp6(h.SentOne());
        Assert.Equal(new byte[] { 4, 3 }, icmp[..2]);
        Assert.Equal(0u, System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(icmp.AsSpan(4)));
        Assert.Equal(first, icmp[8..]);
        Assert.Equal(1, h.Stack.Reassembler.Drops[ReassemblyDropReason.IncompleteHeaderChain]);
        Assert.Equal(0, h.Stack.Reassembler.DatagramsInFlight);
    }

    private static byte[] EndlessChain(int headers, IpProtocol last = IpProtocol.Udp)
    {
        var parts = new List<byte[]>();
        for (int i = 0; i < headers; i++)
        {
            parts.Add(Pkt.OptionsHeader(i == headers - 1 ? last : IpProtocol.Ipv6DestinationOptions));
        }
        parts.Add(Pkt.UdpDatagram(Pkt.Data(8), 5000, 7000, StackHarness.Peer6, StackHarness.Local6));
        return Pkt.Ip6(IpProtocol.Ipv6DestinationOptions, Pkt.Concat([.. parts]));
    }

    [Fact]
    public void EndlessExtensionHeaderChain_IsBounded_CountedDrop_Fast()
    {
        using var h = new StackHarness(rawLink: true, debugPool: false);
        using var udp = h.Stack.Udp.CreateEndpoint();
        udp.Bind(new IPEndPoint(IPAddress.IPv6Any, 7000));
        // Within the walker's limit: delivered.
        h.Inject(EndlessChain(10));
        Assert.Equal(1, udp.Available);
        byte[] endless = EndlessChain(1000); // 8000 bytes of headers: the most one packet can carry on a big link
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 1000; i++)
        {
            h.Inject(endless);
        }
        watch.Stop();
        Assert.Equal(1000, h.Stack.Drops[IpDropReason.Ipv6BadExtensionChain]);
        Assert.Equal(1, udp.Available);
        h.AssertNothingSent();
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"{watch.Elapsed} for 1000 packets");
    }

    [Fact]
    public void EndlessExtensionHeaderChain_OnTheChannel_IsTheLinksDrop()
    {
        using var h = new StackHarness(debugPool: false);
        h.Inject(EndlessChain(1000));
        Assert.Equal(1, h.Channel!.RxDrops[RxDropReason.Ipv6BadExtensionChain]);
        h.AssertNothingSent();
    }

    [Fact]
    public void EndlessChainBehindAFragmentHeader_IsDroppedByReassembly()
    {
        using var h = new StackHarness(rawLink: true, debugPool: false);
        byte[] inner = EndlessChain(40)[40..]; // 40 destination options headers then UDP
        // Two fragments: the first holds the whole (too long) chain, which the walker refuses (RFC 7112 §5).
        byte[] first = Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Ipv6DestinationOptions, 0, true, 77), inner[..320]));
        byte[] second = Pkt.Ip6(IpProtocol.Ipv6Fragment, Pkt.Concat(Pkt.FragmentHeader(IpProtocol.Ipv6DestinationOptions, 320, false, 77), inner[320..]));
        h.Inject(first);
        h.Inject(second);
        Assert.Equal(1, h.Stack.Reassembler.Drops[ReassemblyDropReason.IncompleteHeaderChain]);
        Assert.Equal(0, h.Stack.Events[IpEvent.DatagramsReassembled]);
        h.Clock.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(0, h.Stack.Reassembler.BytesHeld);
    }
}
