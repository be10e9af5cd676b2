// DESIGN §4 as properties: GRO then GSO split is the identity (per flow, byte for byte), and GRO never merges
// segments that differ in a field the rules forbid. Every run checks that no buffer leaked.
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Buffers;
using NetStack.Gro;
using NetStack.Link;
using NetStack.Wire;

namespace NetStack.Tests.Gro;

/// <summary>What happens at one segment of a generated flow.</summary>
public sealed record SegmentEvent(int Kind, int Size, bool AckBump, bool IdJump, bool TimestampBump, int HeadPayload)
{
    public const int Full = 0, Short = 1, PureAck = 2, Larger = 3;
}

/// <summary>A generated flow: header values, a segment size, and what happens at each segment.</summary>
public sealed record FlowPlan(
    bool V6, int Mss, bool Timestamps, int Extensions, uint Sequence, uint Ack, ushort Identification, bool DontFragment,
    byte Ttl, byte Tos, uint FlowLabel, TcpFlags Flags, bool CwrFirst, TcpFlags LastFlags, SegmentEvent[] Events, int Seed)
{
    /// <summary>The segments of flow <paramref name="index"/>, in order, with valid checksums.</summary>
    public List<SegmentSpec> Segments(int index)
    {
        var result = new List<SegmentSpec>();
        uint seq = Sequence, ack = Ack, tsval = 1000u + (uint)Seed;
        ushort id = Identification;
        for (int i = 0; i < Events.Length; i++)
        {
            SegmentEvent e = Events[i];
            int length = e.Kind switch
            {
                SegmentEvent.Full => Mss,
                SegmentEvent.Short => Math.Max(1, Math.Min(e.Size, Mss - 1)),
                SegmentEvent.PureAck => 0,
                _ => Mss + e.Size,
            };
            ack += e.AckBump ? 1000u : 0u;
            tsval += e.TimestampBump ? 1u : 0u;
            id += (ushort)(e.IdJump ? 7 : 0);
            TcpFlags flags = Flags | (i == 0 && CwrFirst ? TcpFlags.Cwr : TcpFlags.None) | (i == Events.Length - 1 ? LastFlags : TcpFlags.None);
            result.Add(new SegmentSpec
            {
                V6 = V6,
                SourcePort = (ushort)(1000 + index),
                Sequence = seq,
                Acknowledgment = ack,
                Flags = flags,
                TcpOptions = Timestamps ? SegmentSpec.Timestamps(tsval, 55) : [],
                Ttl = Ttl,
                Tos = Tos,
                FlowLabel = FlowLabel,
                Identification = id,
                DontFragment = DontFragment,
                Extensions = [.. Enumerable.Range(0, V6 ? Extensions : 0).Select(k => SegmentSpec.DestinationOptions((byte)k))],
                Payload = SegmentSpec.Data(length, (Seed * 1000) + i),
                HeadPayload = Math.Min(e.HeadPayload, length) - 1,
            });
            seq += (uint)length;
            id++;
        }
        return result;
    }

    public override string ToString() =>
        $"v6={V6} mss={Mss} ts={Timestamps} ext={Extensions} seq={Sequence} id={Identification} flags={Flags} cwr={CwrFirst} last={LastFlags} "
        + $"events=[{string.Join(",", Events.Select(e => $"{e.Kind}/{e.Size}{(e.AckBump ? "A" : "")}{(e.IdJump ? "I" : "")}{(e.TimestampBump ? "T" : "")}"))}]";
}

/// <summary>Flows, how their packets interleave, where batches end, and the table size.</summary>
public sealed record GroScenario(FlowPlan[] Flows, int[] Order, bool[] FlushAfter, int MaxFlows)
{
    public override string ToString() =>
        $"maxFlows={MaxFlows} order=[{string.Join(",", Order)}] flushes={FlushAfter.Count(f => f)}\n  " + string.Join("\n  ", Flows.Select(f => f.ToString()));
}

public class GroPropertyTests
{
    private static Gen<uint> UInt32 => Gen.Zip(Gen.Choose(0, 0xFFFF), Gen.Choose(0, 0xFFFF)).Select(t => ((uint)t.Item1 << 16) | (uint)t.Item2);

    private static Gen<SegmentEvent> EventGen(int mss) =>
        from kind in Gen.Frequency((16, Gen.Constant(SegmentEvent.Full)), (1, Gen.Constant(SegmentEvent.Short)),
            (1, Gen.Constant(SegmentEvent.PureAck)), (1, Gen.Constant(SegmentEvent.Larger)))
        from size in Gen.Choose(1, Math.Max(1, mss))
        from rare in Gen.Choose(0, 60)
        from head in Gen.Frequency((3, Gen.Constant(int.MaxValue)), (1, Gen.Choose(0, mss + 100)))
        select new SegmentEvent(kind, kind == SegmentEvent.Larger ? Math.Min(size, 100) : size, rare == 1, rare == 2, rare == 3, head);

    private static Gen<FlowPlan> FlowGen =>
        from v6 in Gen.Elements(false, true)
        from mss in Gen.Frequency((2, Gen.Choose(1, 1460)), (1, Gen.Elements(1, 2, 3, 536, 1448, 1460)))
        from timestamps in Gen.Elements(false, true, true)
        from extensions in Gen.Frequency((3, Gen.Constant(0)), (1, Gen.Choose(1, 2)))
        from seq in UInt32
        from ack in UInt32
        from id in Gen.Choose(0, 65535)
        from df in Gen.Elements(true, false)
        from ttl in Gen.Choose(1, 255)
        from tos in Gen.Choose(0, 255)
        from label in Gen.Choose(0, 0xFFFFF)
        from flags in Gen.Elements(TcpFlags.Ack, TcpFlags.Ack, TcpFlags.Ack | TcpFlags.Ece, TcpFlags.Ack | TcpFlags.Ae)
        from cwr in Gen.Frequency((5, Gen.Constant(false)), (1, Gen.Constant(true)))
        from last in Gen.Elements(TcpFlags.None, TcpFlags.None, TcpFlags.Psh, TcpFlags.Fin, TcpFlags.Psh | TcpFlags.Fin)
        from count in Gen.Frequency((4, Gen.Choose(1, 12)), (1, Gen.Choose(13, 70)))
        from events in Gen.ArrayOf(EventGen(mss), count)
        from seed in Gen.Choose(0, 1 << 20)
        select new FlowPlan(v6, mss, timestamps, extensions, seq, ack, (ushort)id, df, (byte)ttl, (byte)tos, (uint)label, flags, cwr, last, events, seed);

    private static Gen<GroScenario> ScenarioGen =>
        from flows in Gen.Choose(1, 8).SelectMany(n => Gen.ArrayOf(FlowGen, n))
        let total = flows.Sum(f => f.Events.Length)
        from keys in Gen.ArrayOf(Gen.Choose(0, int.MaxValue - 1), total)
        from flushes in Gen.ArrayOf(Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true))), total)
        from maxFlows in Gen.Frequency((3, Gen.Constant(64)), (1, Gen.Choose(1, 8)))
        select new GroScenario(flows, Interleave(flows, keys), flushes, maxFlows);

    // A random interleaving that keeps each flow's order: permute the multiset of flow indices.
    private static int[] Interleave(FlowPlan[] flows, int[] keys)
    {
        int[] slots = [.. flows.SelectMany((f, i) => Enumerable.Repeat(i, f.Events.Length))];
        return [.. slots.Select((flow, i) => (flow, key: keys[i])).OrderBy(t => t.key).Select(t => t.flow)];
    }

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
    public Property GroThenGsoSplit_ReturnsTheOriginalSegments() => Prop.ForAll(Arb.From(ScenarioGen), scenario =>
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

    private static Gen<SegmentSpec> MergeableFirstGen =>
        from v6 in Gen.Elements(false, true)
        from mss in Gen.Choose(1, 1460)
        from timestamps in Gen.Elements(false, true)
        from extension in Gen.Elements(false, true)
        from pad in Gen.Choose(0, 0x54)
        from seq in UInt32
        from ack in UInt32
        from id in Gen.Choose(0, 65535)
        from df in Gen.Elements(true, false)
        from ttl in Gen.Choose(1, 255)
        from dscp in Gen.Choose(0, 63)
        from ecn in Gen.Choose(0, 2)
        from label in Gen.Choose(0, 0xFFFFF)
        from flags in Gen.Elements(TcpFlags.Ack, TcpFlags.Ack | TcpFlags.Ece, TcpFlags.Ack | TcpFlags.Ae)
        from window in Gen.Choose(0, 65535)
        from urgent in Gen.Choose(0, 65535)
        from reserved in Gen.Choose(0, 7)
        from tsval in UInt32
        select new SegmentSpec
        {
            V6 = v6,
            Sequence = seq,
            Acknowledgment = ack,
            Identification = (ushort)id,
            DontFragment = df,
            Ttl = (byte)ttl,
            Tos = (byte)((dscp << 2) | ecn),
            FlowLabel = (uint)label,
            Flags = flags,
            Window = (ushort)window,
            UrgentPointer = (ushort)urgent,
            TcpReserved = reserved,
            TcpOptions = timestamps ? SegmentSpec.Timestamps(tsval, 7) : [],
            Extensions = v6 && extension ? [SegmentSpec.DestinationOptions((byte)pad)] : [],
            Payload = SegmentSpec.Data(mss, mss),
        };

    [Property(MaxTest = 300)]
    public Property GroNeverMergesSegmentsThatDifferInAForbiddenField() => Prop.ForAll(
        Arb.From(from first in MergeableFirstGen
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
        Arb.From(from first in MergeableFirstGen
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
                PacketBuffer p = SegmentSpec.RentBytes(h.Pool, bad, -1, validate: false);
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
