// ARCHITECTURE.md §4 as properties: GRO then GSO split is the identity (per flow, byte for byte), and GRO never merges
// segments that differ in a field the rules forbid. Every run checks that no buffer leaked.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Link.Gso;
using NetStack.Testing.Generators;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

public class GroPropertyTests
{
    private static int SourcePortOf(byte[] packet)
    {
        int offset;
        if (packet[0] >> 4 == 4)
        {
            offset = (packet[0] & 0x0F) * 4;
        }
        else
        {
            Assert.True(Ipv6ExtensionWalker.TryWalk((IpProtocol)packet[6], packet.AsSpan(40), out Ipv6ExtensionChain chain, out _));
            offset = 40 + chain.UpperLayerOffset;
        }
        return (packet[offset] << 8) | packet[offset + 1];
    }

    [Property(MaxTest = 150)]
    public Property GroThenGsoSplit_ReturnsTheOriginalSegments() => Prop.ForAll(Arb.From(TcpFlowGenerators.Scenario), scenario =>
    {
        List<SegmentSpec>[] segments = [.. scenario.Flows.Select((f, i) => f.Segments(i))];
        var expected = segments.Select(list => list.Select(s => s.Build()).ToList()).ToArray();
        var actual = segments.Select(_ => new List<byte[]>()).ToArray();
        int[] next = new int[segments.Length];
        using var h = new GroHarness(new GroOptions { MaxFlows = scenario.MaxFlows });
        var outputs = new List<PacketBuffer>();
        for (int i = 0; i < scenario.Order.Length; i++)
        {
            int flow = scenario.Order[i];
            h.Enqueue(segments[flow][next[flow]++]);
            if (scenario.FlushAfter[i])
            {
                h.Gro.Flush();
            }
        }
        h.Gro.Flush();
        outputs.AddRange(h.TakePackets());
        int represented = 0;
        foreach (PacketBuffer packet in outputs)
        {
            List<byte[]> split = TcpGroTests.Split(h.Pool, packet);
            Assert.Equal(packet.Gso.IsGso ? packet.SegmentsRepresented : 1, split.Count);
            Assert.True(packet.Length <= GroOptions.MaxIpLength);
            represented += packet.SegmentsRepresented;
            foreach (byte[] segment in split)
            {
                actual[SourcePortOf(segment) - 1000].Add(segment);
            }
            packet.Release();
        }
        for (int f = 0; f < expected.Length; f++)
        {
            Assert.Equal(expected[f].Count, actual[f].Count);
            for (int s = 0; s < expected[f].Count; s++)
            {
                Assert.True(expected[f][s].AsSpan().SequenceEqual(actual[f][s]), $"flow {f} segment {s} differs");
            }
        }
        ReasonCounters(h.Gro, scenario.Order.Length, represented);
    });

    private static void ReasonCounters(TcpGro gro, int packetsIn, int represented)
    {
        var e = gro.Events;
        Assert.Equal(packetsIn, e[GroEvent.PacketsIn]);
        Assert.Equal(packetsIn, represented);
        Assert.Equal(packetsIn, e[GroEvent.PacketsCoalesced] + e[GroEvent.SuperSegmentsOut] + e[GroEvent.SinglesOut] + e[GroEvent.PassThrough]);
        Assert.Equal(gro.Flushes.Total, e[GroEvent.SuperSegmentsOut] + e[GroEvent.SinglesOut]);
        Assert.Equal(gro.PassThroughs.Total, e[GroEvent.PassThrough]);
        Assert.Equal(gro.Flushes[GroFlushReason.Eviction], e[GroEvent.Evictions]);
    }

    [Property(MaxTest = 300)]
    public Property GroNeverMergesSegmentsThatDifferInAForbiddenField() => Prop.ForAll(
        Arb.From(from first in TcpFlowGenerators.MergeableFirst
                 from mutation in Gen.Elements(Mutations.All.Where(m => first.V6 ? m.ForV6 : m.ForV4).ToArray())
                 select (first, mutation)),
        t =>
        {
            (SegmentSpec first, Mutation mutation) = t;
            SegmentSpec mergeable = first.Next(SegmentSpec.Data(first.Payload.Length, 3));
            using (var control = new GroHarness())
            {
                control.Enqueue(first);
                control.Enqueue(mergeable);
                Assert.Equal(2, Assert.Single(control.FlushAndTake()).Segments);
            }
            SegmentSpec second = mutation.Apply(first, mergeable);
            using var h = new GroHarness();
            h.Enqueue(first);
            h.Enqueue(second);
            List<Delivered> output = h.FlushAndTake();
            Assert.Equal(2, output.Count);
            Assert.Equal(first.Build(), output[0].Bytes);
            Assert.Equal(second.Build(), output[1].Bytes);
            Assert.All(output, o => Assert.False(o.IsCoalesced));
        });

    [Property(MaxTest = 300)]
    public Property CorruptedHeaders_NeverThrowNorLeak_AndEveryPacketComesOutOnce() => Prop.ForAll(
        Arb.From(from first in TcpFlowGenerators.MergeableFirst
                 from count in Gen.Choose(1, 6)
                 from corruptions in Gen.ArrayOf(Gen.Zip(Gen.Choose(0, 80), Gen.Choose(0, 255)), count)
                 select (first, corruptions)),
        t =>
        {
            (SegmentSpec first, (int, int)[] corruptions) = t;
            using var h = new GroHarness();
            SegmentSpec spec = first;
            int packets = 0;
            foreach ((int at, int value) in corruptions)
            {
                byte[] good = spec.Build();
                h.Enqueue(spec);
                byte[] bad = (byte[])good.Clone();
                bad[Math.Min(at, bad.Length - 1)] = (byte)value;
                PacketBuffer p = SegmentSpecRenting.RentBytes(h.Pool, bad, -1, validate: false);
                p.RxChecksumValidated = true; // as if a device vouched for it: GRO must still not trust lengths
                h.Enqueue(p);
                packets += 2;
                spec = spec.Next(spec.Payload);
            }
            h.Gro.Flush();
            List<PacketBuffer> outputs = h.TakePackets();
            int represented = 0;
            foreach (PacketBuffer packet in outputs)
            {
                represented += packet.SegmentsRepresented;
                GsoSegmenter.TryGetSegmentCount(packet, out _, out _);
                packet.Release();
            }
            Assert.Equal(packets, represented);
            ReasonCounters(h.Gro, packets, represented);
        });
}
