// Exact tests for what fuzzing found in the code under test (the inputs themselves replay from Fuzz/Corpora/).
using NetStack.Buffers;
using NetStack.Link;
using NetStack.Link.Channels;
using NetStack.Network;
using NetStack.Network.Fragmentation;
using NetStack.Simulation;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Fuzz;

public class FuzzFindingsTests
{
    private static byte[] NestedAtomicFragments(int depth, IpProtocol upper, byte[] upperBytes)
    {
        var chain = new List<byte>();
        for (int i = 0; i < depth; i++)
        {
            var header = new byte[Ipv6FragmentRepr.BufferLength];
            new Ipv6FragmentRepr { NextHeader = i == depth - 1 ? upper : IpProtocol.Ipv6Fragment, Identification = (uint)i }.Emit(header);
            chain.AddRange(header);
        }
        chain.AddRange(upperBytes);
        var repr = new Ipv6Repr
        {
            HopLimit = 64,
            Source = new UInt128(0xFD00_0000_0000_0000, 1),
            Destination = new UInt128(0xFD00_0000_0000_0000, 2),
            PayloadLength = chain.Count,
            NextHeader = IpProtocol.Ipv6Fragment,
        };
        var packet = new byte[Ipv6Repr.BufferLength + chain.Count];
        repr.Emit(packet);
        chain.CopyTo(packet, Ipv6Repr.BufferLength);
        return packet;
    }

    // RFC 8200 §4.1: each extension header at most once. Before the fix every nested atomic fragment went back
    // through reassembly and the stack's input once more: 8000 of them in a 64 KiB packet overflowed a 1.5 MiB
    // thread stack, 180 (one 1500-byte packet) a 256 KiB one.
    [Theory]
    [InlineData(2)]
    [InlineData(180)]
    [InlineData(8000)]
    public void RFC8200_4_1_nested_fragment_headers_are_dropped_without_recursing(int depth)
    {
        byte[] udp = new byte[12];
        new UdpRepr { SourcePort = 1, DestinationPort = 9, PayloadLength = 4 }.Emit(udp);
        byte[] packet = NestedAtomicFragments(depth, IpProtocol.Udp, udp);
        Assert.True(packet.Length <= 65575);
        using var pool = new LeakCheckedPool();
        var link = new ChannelEndpoint(new ChannelEndpointOptions { Gso = GsoSupport.None, Mtu = 65535 });
        var stack = new NetworkStack(new NetworkStackOptions { TimeProvider = new ManualClock(), Pool = pool.Pool });
        stack.CreateNic(link).AddAddress(NetPrefix.Parse("fd00::2/64"));
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                link.InjectInbound(pool.Pool.RentCopy(packet));
            }
            catch (Exception e)
            {
                failure = e;
            }
        }, 256 * 1024);
        thread.Start();
        thread.Join();
        Assert.Null(failure);
        Assert.Equal(1, stack.Reassembler.Drops[ReassemblyDropReason.Malformed]);
        Assert.Equal(1, stack.Drops[IpDropReason.Fragment]);
        Assert.Equal(0, stack.Reassembler.Events[ReassemblyEvent.AtomicFragment]);
        stack.Dispose();
        link.Close();
    }

    [Fact]
    public void RFC8200_4_1_a_first_fragment_whose_fragmentable_part_opens_with_a_fragment_header_is_dropped()
    {
        // A real (M set) first fragment carrying an atomic fragment header, then its last fragment.
        byte[] inner = NestedAtomicFragments(2, IpProtocol.Udp, new byte[32]);
        using var pool = new LeakCheckedPool();
        using var reassembler = new FragmentReassembler(new ManualClock());
        byte[] first = inner[..(40 + 8 + 16)]; // fixed header, a fragment header with M set, 16 bytes of data
        new Ipv6FragmentRepr { NextHeader = IpProtocol.Ipv6Fragment, MoreFragments = true, Identification = 7 }.Emit(first.AsSpan(40));
        Ipv6Header.SetPayloadLength(first, 24);
        ReassemblyResult result = reassembler.Process(pool.Pool.RentCopy(first));
        Assert.Equal(ReassemblyStatus.Dropped, result.Status);
        Assert.Equal(ReassemblyDropReason.Malformed, result.DropReason);
        Assert.Equal(0, reassembler.FragmentsHeld);
    }
}
