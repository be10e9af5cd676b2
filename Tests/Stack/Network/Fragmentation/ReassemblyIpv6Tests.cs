// Exact-packet tests of IPv6 reassembly: RFC 8200 §4.5, RFC 5722 (overlaps), RFC 6946 (atomic fragments),
// RFC 7112 (header chain in the first fragment), RFC 4443 §3.3 (time exceeded).
using Microsoft.Extensions.Time.Testing;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Network.Fragmentation;

public class ReassemblyIpv6Tests
{
    private static (FakeTimeProvider Time, FragmentReassembler Reassembler) Make(ReassemblyOptions? options = null, FragmentErrorHandler? handler = null)
    {
        var time = new FakeTimeProvider(Frag.Start);
        return (time, new FragmentReassembler(time, options, handler));
    }

    private static ReassemblyResult Send(FragmentReassembler r, PacketBufferPool pool, byte[] fragment) => r.Process(pool.RentCopy(fragment));

    [Theory]
    [InlineData(false, false, false)]
    [InlineData(true, false, false)]
    [InlineData(true, true, false)]
    [InlineData(true, true, true)]
    [InlineData(false, false, true)]
    public void Rfc8200_4_5_InOrder_ReassemblesToTheOriginal(bool hopByHop, bool routing, bool destinationOptions)
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(2000, hopByHop, routing, destinationOptions);
        Cut[] cuts = Frag.Cuts(d.FragmentableLength, 800, 800);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv6Fragment(d, cuts[0])).Status);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv6Fragment(d, cuts[1])).Status);
        ReassemblyResult result = Send(r, pool, Frag.Ipv6Fragment(d, cuts[2]));
        Assert.Equal(ReassemblyStatus.Completed, result.Status);
        using PacketBuffer packet = result.Packet!;
        Assert.Equal(d.Bytes, packet.ToArray());
        Assert.Equal(NetworkProtocol.IPv6, packet.NetworkProtocol);
        Assert.False(packet.RxChecksumValidated);
        Assert.Equal(d.UnfragmentableLength, packet.Head.Length);
        Assert.Equal(0, r.Drops.Total);
    }

    [Fact]
    public void Rfc8200_4_5_ReverseOrder_Reassembles()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(3000, hopByHop: true, destinationOptions: true);
        List<byte[]> done = Frag.Feed(r, pool, Frag.Cuts(d.FragmentableLength, 1232, 1232).Reverse().Select(c => Frag.Ipv6Fragment(d, c)));
        Assert.Equal(d.Bytes, Assert.Single(done));
    }

    [Fact]
    public void Rfc8200_4_5_UnfragmentablePart_IsTakenFromTheOffsetZeroFragment()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram withHop = Frag.Ipv6Datagram(500, hopByHop: true);
        Ipv6Datagram plain = Frag.Ipv6Datagram(500);
        Cut[] cuts = Frag.Cuts(plain.FragmentableLength, 256);
        // The non-first fragment has no hop-by-hop header; the result follows the first fragment.
        List<byte[]> done = Frag.Feed(r, pool, [Frag.Ipv6Fragment(plain, cuts[1]), Frag.Ipv6Fragment(withHop, cuts[0])]);
        Assert.Equal(withHop.Bytes, Assert.Single(done));
    }

    [Fact]
    public void Rfc8200_4_5_KeyIsSourceDestinationAndIdentification()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(500);
        Cut[] cuts = Frag.Cuts(d.FragmentableLength, 256);
        Send(r, pool, Frag.Ipv6Fragment(d, cuts[0], id: 1));
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv6Fragment(d, cuts[1], id: 2)).Status);
        Assert.Equal(2, r.DatagramsInFlight);
        r.Dispose();
    }

    [Fact]
    public void Rfc6946_AtomicFragment_IsReturnedAtOnce_WithoutTouchingReassemblyState()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(300, hopByHop: true, destinationOptions: true);
        // A pending datagram with the same key must not be disturbed.
        Send(r, pool, Frag.Ipv6Fragment(d, 0, 64, true, id: 7));
        ReassemblyResult result = Send(r, pool, Frag.Ipv6Fragment(d, 0, d.FragmentableLength, false, id: 7));
        Assert.Equal(ReassemblyStatus.Completed, result.Status);
        using (PacketBuffer packet = result.Packet!)
        {
            Assert.Equal(d.Bytes, packet.ToArray());
            Assert.Equal(NetworkProtocol.IPv6, packet.NetworkProtocol);
        }
        Assert.Equal(1, r.DatagramsInFlight);
        Assert.Equal(1, r.FragmentsHeld);
        Assert.Equal(1, r.Events[ReassemblyEvent.AtomicFragment]);
        r.Dispose();
    }

    [Fact]
    public void Rfc7112_FirstFragmentWithoutTheUpperLayerHeader_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var reports = new List<ReassemblyDropReason>();
        var (_, r) = Make(handler: (_, reason) => reports.Add(reason));
        // Destination options (8 bytes) then UDP: a first fragment of 8 bytes holds no UDP header.
        Ipv6Datagram d = Frag.Ipv6Datagram(300, destinationOptions: true);
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.IncompleteHeaderChain), Send(r, pool, Frag.Ipv6Fragment(d, 0, 8, true)));
        Assert.Equal([ReassemblyDropReason.IncompleteHeaderChain], reports); // RFC 7112 §5: Parameter Problem code 3
        // With 16 bytes the UDP header is there.
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv6Fragment(d, 0, 16, true)).Status);
        r.Dispose();
    }

    [Fact]
    public void Rfc7112_FirstFragmentCuttingAnExtensionHeader_IsDropped()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(300, destinationOptions: true);
        d.Bytes[d.UnfragmentableLength + 1] = 2; // destination options now claim 24 bytes
        Assert.Equal(ReassemblyDropReason.IncompleteHeaderChain, Send(r, pool, Frag.Ipv6Fragment(d, 0, 16, true)).DropReason);
    }

    [Fact]
    public void Rfc7112_TcpFirstFragment_MustHoldTheWholeTcpHeader()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        byte[] tcp = Packets.Ipv6Tcp(Packets.Tcp(), Packets.Payload(200));
        var d = new Ipv6Datagram(tcp, Ipv6Header.Length, Ipv6Header.NextHeaderOffset);
        Assert.Equal(ReassemblyDropReason.IncompleteHeaderChain, Send(r, pool, Frag.Ipv6Fragment(d, 0, 16, true)).DropReason);
        Assert.Equal(ReassemblyStatus.Held, Send(r, pool, Frag.Ipv6Fragment(d, 0, 24, true)).Status);
        r.Dispose();
    }

    [Fact]
    public void Rfc8200_4_5_PayloadOver65535_IsDropped_AndReportedForParameterProblem()
    {
        using var pool = new LeakCheckedPool();
        var reports = new List<(int Length, ReassemblyDropReason Reason)>();
        var (_, r) = Make(handler: (p, reason) => reports.Add((p.Length, reason)));
        Ipv6Datagram d = Frag.Ipv6Datagram(100, hopByHop: true);
        byte[] fragment = Frag.Ipv6Fragment(d, 0, 16, false);
        Ipv6FragmentHeader.SetFragment(fragment.AsSpan(d.UnfragmentableLength), Ipv6FragmentHeader.MaxFragmentOffset, false); // 8 + 65528 + 16
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.TooLong), Send(r, pool, fragment));
        Assert.Equal([(fragment.Length, ReassemblyDropReason.TooLong)], reports);
    }

    [Fact]
    public void Rfc8200_4_5_MiddleFragmentNotMultipleOf8_IsDropped_AndReported()
    {
        using var pool = new LeakCheckedPool();
        var reports = new List<ReassemblyDropReason>();
        var (_, r) = Make(handler: (_, reason) => reports.Add(reason));
        Ipv6Datagram d = Frag.Ipv6Datagram(300);
        Send(r, pool, Frag.Ipv6Fragment(d, 0, 64, true));
        Assert.Equal(ReassemblyResult.Dropped(ReassemblyDropReason.NotMultipleOf8), Send(r, pool, Frag.Ipv6Fragment(d, 64, 60, true)));
        Assert.Equal([ReassemblyDropReason.NotMultipleOf8], reports);
        Assert.Equal(1, r.FragmentsHeld); // the datagram itself goes on
        r.Dispose();
    }

    [Fact]
    public void Rfc5722_Overlap_DiscardsTheDatagram_AndLaterFragmentsAreDropped()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(300);
        int length = d.FragmentableLength;
        Send(r, pool, Frag.Ipv6Fragment(d, 0, 128, true));
        Assert.Equal(ReassemblyDropReason.Overlap, Send(r, pool, Frag.Ipv6Fragment(d, 120, length - 120, false)).DropReason);
        Assert.Equal(ReassemblyDropReason.Quarantined, Send(r, pool, Frag.Ipv6Fragment(d, 128, length - 128, false)).DropReason);
        Assert.Equal(ReassemblyDropReason.Quarantined, Send(r, pool, Frag.Ipv6Fragment(d, 0, 128, true)).DropReason);
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(ReassemblyDropReason.Quarantined, Send(r, pool, Frag.Ipv6Fragment(d, 0, 128, true)).DropReason);
        time.Advance(TimeSpan.FromSeconds(1)); // quarantine: the IPv6 timeout, 60 s
        List<byte[]> done = Frag.Feed(r, pool, [Frag.Ipv6Fragment(d, 0, 128, true), Frag.Ipv6Fragment(d, 128, length - 128, false)]);
        Assert.Equal(d.Bytes, Assert.Single(done));
    }

    [Fact]
    public void Rfc4443_3_3_Timeout_IsSixtySeconds_AndReportsTheFirstFragment()
    {
        using var pool = new LeakCheckedPool();
        byte[]? reported = null;
        var (time, r) = Make(handler: (p, reason) =>
        {
            Assert.Equal(ReassemblyDropReason.Timeout, reason);
            reported = p.ToArray();
        });
        Ipv6Datagram d = Frag.Ipv6Datagram(300, hopByHop: true);
        byte[] first = Frag.Ipv6Fragment(d, 0, 128, true);
        Send(r, pool, first);
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(0, r.ExpireDue());
        time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal(1, r.ExpireDue());
        Assert.Equal(first, reported);
        Assert.Equal(0, r.BytesHeld);
    }

    [Fact]
    public void Rfc8200_4_5_ExactDuplicate_IsTolerated()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(300);
        Cut[] cuts = Frag.Cuts(d.FragmentableLength, 128);
        List<byte[]> done = Frag.Feed(r, pool, [Frag.Ipv6Fragment(d, cuts[1]), Frag.Ipv6Fragment(d, cuts[1]), Frag.Ipv6Fragment(d, cuts[0])]);
        Assert.Equal(d.Bytes, Assert.Single(done));
        Assert.Equal(1, r.Drops[ReassemblyDropReason.Duplicate]);
    }

    [Fact]
    public void NotAFragment_PassesThrough_AndABrokenChainIsMalformed()
    {
        using var pool = new LeakCheckedPool();
        var (_, r) = Make();
        Ipv6Datagram d = Frag.Ipv6Datagram(100, hopByHop: true);
        ReassemblyResult pass = Send(r, pool, d.Bytes);
        Assert.Equal(ReassemblyStatus.Completed, pass.Status);
        pass.Packet!.Release();
        byte[] broken = (byte[])d.Bytes.Clone();
        broken[41] = 200; // hop-by-hop length past the payload
        Assert.Equal(ReassemblyDropReason.Malformed, Send(r, pool, broken).DropReason);
    }

    [Fact]
    public void MixedVersions_ShareTheLimits_AndExpireOnTheirOwnTimeouts()
    {
        using var pool = new LeakCheckedPool();
        var (time, r) = Make();
        Send(r, pool, Frag.Ipv6Fragment(Frag.Ipv6Datagram(300), 0, 128, true));
        time.Advance(TimeSpan.FromSeconds(10));
        Send(r, pool, Frag.Ipv4Fragment(Frag.Ipv4Datagram(300), 0, 128, true));
        time.Advance(TimeSpan.FromSeconds(30)); // IPv4 due at 40 s, IPv6 at 60 s
        Assert.Equal(1, r.ExpireDue());
        Assert.Equal(1, r.DatagramsInFlight);
        time.Advance(TimeSpan.FromSeconds(20));
        Assert.Equal(1, r.ExpireDue());
        Assert.Equal(0, r.DatagramsInFlight);
    }
}
