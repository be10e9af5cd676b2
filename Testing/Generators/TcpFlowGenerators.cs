// Generators of TCP flows for GRO/GSO properties: flows of segments that a GRO engine may coalesce (contiguous
// sequence numbers, IPv4 IDs counting up, identical headers), with the occasional event that must stop a merge
// (short segment, pure ACK, larger segment, ACK or timestamp change, IPv4 ID jump), interleaved across flows.
using FsCheck;
using FsCheck.Fluent;
using NetStack.Testing.Packets;
using NetStack.Wire;

namespace NetStack.Testing.Generators;

/// <summary>What happens at one segment of a generated flow.</summary>
/// <param name="Kind">One of <see cref="Full"/>, <see cref="Short"/>, <see cref="PureAck"/>, <see cref="Larger"/>.</param>
/// <param name="Size">Payload size for <see cref="Short"/> (clamped below the MSS) or extra bytes for <see cref="Larger"/>.</param>
/// <param name="AckBump">The acknowledgment number moves on at this segment.</param>
/// <param name="IdJump">The IPv4 identification skips ahead at this segment.</param>
/// <param name="TimestampBump">The TSval moves on at this segment.</param>
/// <param name="HeadPayload">Payload bytes a harness should keep in the packet head (the rest by reference).</param>
public sealed record SegmentEvent(int Kind, int Size, bool AckBump, bool IdJump, bool TimestampBump, int HeadPayload)
{
    /// <summary>A full-MSS segment.</summary>
    public const int Full = 0;

    /// <summary>A segment shorter than the MSS (nothing may follow it in a super-segment).</summary>
    public const int Short = 1;

    /// <summary>A segment without payload.</summary>
    public const int PureAck = 2;

    /// <summary>A segment longer than the MSS.</summary>
    public const int Larger = 3;
}

/// <summary>A generated flow: header values, a segment size, and what happens at each segment.</summary>
/// <param name="V6">IPv6 when true.</param>
/// <param name="Mss">Payload of a full segment.</param>
/// <param name="Timestamps">Segments carry the RFC 7323 timestamps option.</param>
/// <param name="Extensions">IPv6 destination-options headers before TCP (0–2).</param>
/// <param name="Sequence">First sequence number.</param>
/// <param name="Ack">First acknowledgment number.</param>
/// <param name="Identification">First IPv4 identification.</param>
/// <param name="DontFragment">IPv4 DF.</param>
/// <param name="Ttl">TTL or hop limit.</param>
/// <param name="Tos">TOS or traffic class.</param>
/// <param name="FlowLabel">IPv6 flow label.</param>
/// <param name="Flags">Control bits of every segment.</param>
/// <param name="CwrFirst">The first segment carries CWR.</param>
/// <param name="LastFlags">Extra bits (PSH, FIN) of the last segment.</param>
/// <param name="Events">One event per segment.</param>
/// <param name="Seed">Seed of the payload bytes.</param>
public sealed record FlowPlan(
    bool V6, int Mss, bool Timestamps, int Extensions, uint Sequence, uint Ack, ushort Identification, bool DontFragment,
    byte Ttl, byte Tos, uint FlowLabel, TcpFlags Flags, bool CwrFirst, TcpFlags LastFlags, SegmentEvent[] Events, int Seed)
{
    /// <summary>The segments of flow <paramref name="index"/> (source port 1000 + index), in order, with valid checksums.</summary>
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

    /// <inheritdoc/>
    public override string ToString() =>
        $"v6={V6} mss={Mss} ts={Timestamps} ext={Extensions} seq={Sequence} id={Identification} flags={Flags} cwr={CwrFirst} last={LastFlags} "
        + $"events=[{string.Join(",", Events.Select(e => $"{e.Kind}/{e.Size}{(e.AckBump ? "A" : "")}{(e.IdJump ? "I" : "")}{(e.TimestampBump ? "T" : "")}"))}]";
}

/// <summary>Flows, how their packets interleave (each flow's order kept), where batches end, and a GRO table size.</summary>
/// <param name="Flows">The flows; flow i uses source port 1000 + i.</param>
/// <param name="Order">Flow index of each packet in arrival order.</param>
/// <param name="FlushAfter">Whether a batch ends after each packet.</param>
/// <param name="MaxFlows">A flow-table size to run GRO with (small sizes force evictions).</param>
public sealed record GroScenario(FlowPlan[] Flows, int[] Order, bool[] FlushAfter, int MaxFlows)
{
    /// <summary>Every packet in arrival order.</summary>
    public List<SegmentSpec> Packets()
    {
        List<SegmentSpec>[] segments = [.. Flows.Select((f, i) => f.Segments(i))];
        int[] next = new int[segments.Length];
        return [.. Order.Select(flow => segments[flow][next[flow]++])];
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"maxFlows={MaxFlows} order=[{string.Join(",", Order)}] flushes={FlushAfter.Count(f => f)}\n  " + string.Join("\n  ", Flows.Select(f => f.ToString()));
}

/// <summary>FsCheck generators of coalescable TCP flows and of the segments around them.</summary>
public static class TcpFlowGenerators
{
    private static Gen<uint> UInt32 => Gen.Zip(Gen.Choose(0, 0xFFFF), Gen.Choose(0, 0xFFFF)).Select(t => ((uint)t.Item1 << 16) | (uint)t.Item2);

    /// <summary>A segment event for a flow of segment size <paramref name="mss"/>: mostly full segments.</summary>
    public static Gen<SegmentEvent> Event(int mss) =>
        from kind in Gen.Frequency((16, Gen.Constant(SegmentEvent.Full)), (1, Gen.Constant(SegmentEvent.Short)),
            (1, Gen.Constant(SegmentEvent.PureAck)), (1, Gen.Constant(SegmentEvent.Larger)))
        from size in Gen.Choose(1, Math.Max(1, mss))
        from rare in Gen.Choose(0, 60)
        from head in Gen.Frequency((3, Gen.Constant(int.MaxValue)), (1, Gen.Choose(0, mss + 100)))
        select new SegmentEvent(kind, kind == SegmentEvent.Larger ? Math.Min(size, 100) : size, rare == 1, rare == 2, rare == 3, head);

    /// <summary>A flow of 1–70 segments over IPv4 or IPv6, any header values, MSS 1–1460.</summary>
    public static Gen<FlowPlan> Flow =>
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
        from events in Gen.ArrayOf(Event(mss), count)
        from seed in Gen.Choose(0, 1 << 20)
        select new FlowPlan(v6, mss, timestamps, extensions, seq, ack, (ushort)id, df, (byte)ttl, (byte)tos, (uint)label, flags, cwr, last, events, seed);

    /// <summary>1–8 flows interleaved at random, batch ends one packet in 13, a flow table of 64 or of 1–8 flows.</summary>
    public static Gen<GroScenario> Scenario =>
        from flows in Gen.Choose(1, 8).SelectMany(n => Gen.ArrayOf(Flow, n))
        let total = flows.Sum(f => f.Events.Length)
        from keys in Gen.ArrayOf(Gen.Choose(0, int.MaxValue - 1), total)
        from flushes in Gen.ArrayOf(Gen.Frequency((12, Gen.Constant(false)), (1, Gen.Constant(true))), total)
        from maxFlows in Gen.Frequency((3, Gen.Constant(64)), (1, Gen.Choose(1, 8)))
        select new GroScenario(flows, Interleave(flows, keys), flushes, maxFlows);

    /// <summary>
    /// A coalescable flow: 2–<paramref name="maxSegments"/> full segments of one MSS and a last one of 1..MSS bytes,
    /// contiguous, IDs counting up, every other header identical; a GRO engine should merge all of them.
    /// </summary>
    public static Gen<List<SegmentSpec>> CoalescableFlow(int maxSegments = 16) =>
        from first in MergeableFirst
        from count in Gen.Choose(2, Math.Max(2, maxSegments))
        from lastLength in Gen.Choose(1, first.Payload.Length)
        select Enumerable.Range(1, count - 1).Aggregate(
            new List<SegmentSpec> { first },
            (list, i) =>
            {
                list.Add(list[^1].Next(SegmentSpec.Data(i == count - 1 ? lastLength : first.Payload.Length, i + 1)));
                return list;
            });

    /// <summary>
    /// A full-size first segment that a following contiguous segment may be merged with: any addresses' worth of
    /// header values (ECN, flow label, window, urgent pointer field, reserved bits, timestamps, an IPv6 destination
    /// options header) and a payload of 1–1460 bytes.
    /// </summary>
    public static Gen<SegmentSpec> MergeableFirst =>
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

    // A random interleaving that keeps each flow's order: permute the multiset of flow indices.
    private static int[] Interleave(FlowPlan[] flows, int[] keys)
    {
        int[] slots = [.. flows.SelectMany((f, i) => Enumerable.Repeat(i, f.Events.Length))];
        return [.. slots.Select((flow, i) => (flow, key: keys[i])).OrderBy(t => t.key).Select(t => t.flow)];
    }
}
