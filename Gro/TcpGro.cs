// Layer: GRO. TCP generic receive offload: consecutive segments of a flow become one super-segment with
// GsoOptions, payload chained by reference (ARCHITECTURE.md §2 step 3, §3, §4).
using System.Buffers.Binary;
using System.Diagnostics.Metrics;
using System.Runtime.CompilerServices;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Diagnostics;
using NetStack.Wire;

namespace NetStack.Gro;

/// <summary>
/// Coalesces consecutive TCP segments of a flow (IPv4 and IPv6) into one packet during a batch, following
/// ARCHITECTURE.md §4 exactly, and delivers everything it holds at <see cref="Flush"/> (no timer on the fast path).
/// <para><b>Merge rules.</b> A segment is appended to the flow's held packet only when: same addresses, ports
/// and IP version; its sequence number is the held one plus the held payload; same ACK; same data offset and
/// byte-identical options (timestamps included); control bits equal except PSH and FIN (and CWR, which only
/// the held first segment may carry); same window, urgent pointer and reserved bits; same TOS/traffic class,
/// TTL/hop limit, IPv6 flow label and next header, byte-identical IPv6 extension headers; IPv4 without options,
/// not a fragment, same DF, and an identification equal to the held one plus the number of segments held
/// (so GSO's "ID + i" restores every original: packets with a constant ID, RFC 6864 atomic datagrams, are not
/// merged); payload not longer than the flow's segment size (the first segment's payload); merged IP length
/// within <see cref="GroOptions.MaxSuperSegmentLength"/>. Everything GSO split does not regenerate must match,
/// which is what makes "GRO, then GSO split" return the original segments byte for byte.</para>
/// <para><b>Flushes.</b> A flow is delivered when a merged segment has PSH or FIN or is shorter than the
/// segment size (nothing may follow it), when its next full segment would not fit, when a segment of the
/// flow cannot be merged (it then starts a new hold, or passes through), on eviction, and at
/// <see cref="Flush"/>. SYN, RST, URG, payload-less segments and packets GRO does not merge (not validated,
/// not TCP, fragments, IPv4 options, IPv6 routing header) pass straight through, after the flow they belong
/// to is flushed so the stack sees each flow in order. Every reason is counted.</para>
/// <para><b>Headers and checksum of a super-segment.</b> Fixed once at flush: IPv4 total length and header
/// checksum, or IPv6 payload length; TCP flags OR-ed with PSH/FIN of the last merged segment;
/// <see cref="PacketBuffer.Gso"/> = {TcpV4/TcpV6, MSS = segment size, header length, checksum start, offset 16,
/// <see cref="GsoOptions.NeedsChecksum"/>} and <see cref="PacketBuffer.SegmentsRepresented"/>. The TCP
/// checksum is <em>not</em> recomputed over the payload: every merged segment's checksum was verified, the
/// packet stays marked <see cref="PacketBuffer.RxChecksumValidated"/> and the stack trusts that mark, so a pass
/// over 64 KiB would buy nothing. Instead the field gets the folded pseudo-header sum of the new length
/// (CHECKSUM_PARTIAL, as Linux's GRO completes a packet): the packet is then a well-formed GSO packet that a
/// TUN device with offloads or <c>GsoSegmenter</c> can emit as is, and GSO split writes fresh full checksums,
/// which equal the originals'. A held packet that nothing was merged into is delivered untouched.</para>
/// <para><b>Memory.</b> Flow slots, buckets and counters are allocated in the constructor; a packet costs no
/// allocation. Payload is chained with <see cref="PacketBuffer.AppendReference"/>, never copied.</para>
/// <para>Statistics (<see cref="Events"/>, <see cref="Flushes"/>, <see cref="PassThroughs"/>, exported by the
/// meter <c>NetStack.Gro</c>) are gathered without atomics and published at every <see cref="Flush"/>.</para>
/// <para>Not thread-safe: one reader thread drives it, as the channel endpoint's inbound side does.</para>
/// </summary>
public sealed partial class TcpGro
{
    private static readonly Meter s_meter = new("NetStack.Gro", "1.0");

    private const TcpFlags PushOrFin = TcpFlags.Psh | TcpFlags.Fin;
    // Control bits, window: the word at TCP offset 12 (data offset, reserved, flags, window).
    private const uint FlagsInWord = 0x01FF_0000;
    private const uint WindowInWord = 0x0000_FFFF;

    private readonly Action<PacketBuffer> _deliver;
    private readonly int _maxIpLength;
    private readonly ReasonCounters<GroEvent> _events;
    private readonly ReasonCounters<GroFlushReason> _flushes;
    private readonly ReasonCounters<GroPassThroughReason> _passThroughs;
    private readonly long[] _pendingEvents = new long[Enum.GetValues<GroEvent>().Length];
    private readonly long[] _pendingFlushes = new long[Enum.GetValues<GroFlushReason>().Length];
    private readonly long[] _pendingPassThroughs = new long[Enum.GetValues<GroPassThroughReason>().Length];

    /// <summary>
    /// Creates an engine. <paramref name="deliver"/> receives every output packet and owns one reference of it
    /// (it must release it, as the channel endpoint does after handing it to the stack). It must not call back
    /// into this instance.
    /// </summary>
    public TcpGro(GroOptions options, Action<PacketBuffer> deliver)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(deliver);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxFlows, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxFlows, 1 << 16);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxSuperSegmentLength, 128);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.MaxSuperSegmentLength, GroOptions.MaxIpLength);
        Options = options;
        _deliver = deliver;
        _maxIpLength = options.MaxSuperSegmentLength;
        var tags = new KeyValuePair<string, object?>[] { new("gro", options.Name) };
        _events = new ReasonCounters<GroEvent>(s_meter, "netstack.gro.events", "GRO packets in, coalesced, out, evictions", tags);
        _flushes = new ReasonCounters<GroFlushReason>(s_meter, "netstack.gro.flushes", "GRO flow flushes by reason", tags);
        _passThroughs = new ReasonCounters<GroPassThroughReason>(s_meter, "netstack.gro.pass_through", "Packets GRO delivered without holding, by reason", tags);
        InitializeTable(options.MaxFlows);
    }

    /// <summary>The options this engine was made with.</summary>
    public GroOptions Options { get; }

    /// <summary>Packets in, coalesced, out, evictions (published at each <see cref="Flush"/>).</summary>
    public ReasonCounters<GroEvent> Events => _events;

    /// <summary>Flow flushes by reason (published at each <see cref="Flush"/>).</summary>
    public ReasonCounters<GroFlushReason> Flushes => _flushes;

    /// <summary>Packets delivered without being held, by reason (published at each <see cref="Flush"/>).</summary>
    public ReasonCounters<GroPassThroughReason> PassThroughs => _passThroughs;

    /// <summary>Flows currently held.</summary>
    public int HeldFlows => _heldCount;

    /// <summary>
    /// Takes ownership of <paramref name="packet"/> (one reference), which has passed RX validation, and either
    /// merges it into its flow's held packet, holds it, or delivers it (after flushing its flow). Never throws
    /// on packet contents.
    /// </summary>
    public void Enqueue(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        _pendingEvents[(int)GroEvent.PacketsIn]++;
        Disposition disposition = TcpSegmentParser.Classify(packet, out TcpSegmentInfo segment, out GroPassThroughReason why);
        if (disposition != Disposition.Candidate)
        {
            if (disposition == Disposition.PassThroughAfterFlow)
            {
                FlushFlow(segment.Key, GroFlushReason.PassThrough);
            }
            else if (disposition == Disposition.PassThroughAfterAddresses)
            {
                FlushAddresses(segment.Key);
            }
            PassThrough(packet, why);
            return;
        }

        TcpFlags flags = segment.Flags;
        if ((flags & (TcpFlags.Syn | TcpFlags.Rst | TcpFlags.Urg)) != 0 || segment.PayloadLength == 0)
        {
            // ARCHITECTURE.md §4: SYN and RST pass straight through; URG and empty segments flush the flow and go alone.
            GroFlushReason reason = (flags & TcpFlags.Syn) != 0 ? GroFlushReason.Syn
                : (flags & TcpFlags.Rst) != 0 ? GroFlushReason.Rst
                : (flags & TcpFlags.Urg) != 0 ? GroFlushReason.Urg
                : GroFlushReason.NoPayload;
            FlushFlow(segment.Key, reason);
            PassThrough(packet, reason == GroFlushReason.NoPayload ? GroPassThroughReason.NoPayload : GroPassThroughReason.ControlFlag);
            return;
        }

        uint hash = segment.Key.Hash(_seed);
        int index = Find(segment.Key, hash);
        if (index >= 0)
        {
            ref Flow flow = ref _flows[index];
            if (TryMerge(ref flow, packet, in segment, out GroFlushReason mismatch))
            {
                packet.Release(); // its payload chunks are now referenced by the held packet
                _pendingEvents[(int)GroEvent.PacketsCoalesced]++;
                // A PSH/FIN segment is merged first, then the flow flushed; nothing may follow a short segment.
                if ((flags & TcpFlags.Psh) != 0)
                {
                    FlushEntry(index, GroFlushReason.Push);
                }
                else if ((flags & TcpFlags.Fin) != 0)
                {
                    FlushEntry(index, GroFlushReason.Fin);
                }
                else if (segment.PayloadLength < flow.SegmentSize)
                {
                    FlushEntry(index, GroFlushReason.ShortSegment);
                }
                else if (flow.IpLength + flow.SegmentSize > _maxIpLength)
                {
                    FlushEntry(index, GroFlushReason.Full);
                }
                return;
            }
            FlushEntry(index, mismatch);
        }
        Hold(packet, in segment, hash);
    }

    /// <summary>End of a batch: delivers every held flow, oldest first, and publishes the statistics.</summary>
    public void Flush()
    {
        while (_oldest >= 0)
        {
            FlushEntry(_oldest, GroFlushReason.BatchEnd);
        }
        PublishStatistics();
    }

    private void Hold(PacketBuffer packet, in TcpSegmentInfo segment, uint hash)
    {
        TcpFlags flags = segment.Flags;
        if ((flags & PushOrFin) != 0 || segment.IpLength + segment.PayloadLength > _maxIpLength)
        {
            // Nothing may follow it: deliver it as a flow of one.
            _pendingFlushes[(int)((flags & TcpFlags.Psh) != 0 ? GroFlushReason.Push
                : (flags & TcpFlags.Fin) != 0 ? GroFlushReason.Fin : GroFlushReason.Full)]++;
            _pendingEvents[(int)GroEvent.SinglesOut]++;
            _deliver(packet);
            return;
        }
        int index = AllocateEntry(segment.Key, hash);
        ref Flow flow = ref _flows[index];
        flow.Held = packet;
        flow.TcpOffset = segment.TcpOffset;
        flow.TcpHeaderLength = segment.TcpHeaderLength;
        flow.SegmentSize = segment.PayloadLength;
        flow.IpLength = segment.IpLength;
        flow.NextSequence = segment.Sequence + (uint)segment.PayloadLength;
        flow.Count = 1;
        flow.LastFlags = TcpFlags.None;
        flow.NextIdentification = segment.Key.IsV6 ? (ushort)0
            : (ushort)(BinaryPrimitives.ReadUInt16BigEndian(packet.Head[Ipv4Header.IdentificationOffset..]) + 1);
        packet.NetworkProtocol = segment.Key.IsV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
    }

    /// <summary>Checks every ARCHITECTURE.md §4 condition against the held packet and appends the payload by reference.</summary>
    private bool TryMerge(ref Flow flow, PacketBuffer packet, in TcpSegmentInfo segment, out GroFlushReason reason)
    {
        PacketBuffer held = flow.Held!;
        ReadOnlySpan<byte> h = held.Head;
        ReadOnlySpan<byte> n = packet.Head;
        if (!segment.Key.IsV6)
        {
            // Bytes 0-1: version, IHL, TOS; 6-9: DF/MF/offset, TTL, protocol (RFC 791 §3.1).
            if (n[Ipv4Header.DifferentiatedServicesOffset] != h[Ipv4Header.DifferentiatedServicesOffset]
                || BinaryPrimitives.ReadUInt32LittleEndian(n[Ipv4Header.FragmentOffsetField..]) != BinaryPrimitives.ReadUInt32LittleEndian(h[Ipv4Header.FragmentOffsetField..]))
            {
                return Fail(GroFlushReason.IpHeaderChanged, out reason);
            }
            if (BinaryPrimitives.ReadUInt16BigEndian(n[Ipv4Header.IdentificationOffset..]) != flow.NextIdentification)
            {
                return Fail(GroFlushReason.IpIdNotSequential, out reason);
            }
        }
        else
        {
            // Bytes 0-3: version, traffic class, flow label; 6: next header; 7: hop limit (RFC 8200 §3).
            if (BinaryPrimitives.ReadUInt32LittleEndian(n[Ipv6Header.VersionOffset..]) != BinaryPrimitives.ReadUInt32LittleEndian(h[Ipv6Header.VersionOffset..])
                || BinaryPrimitives.ReadUInt16LittleEndian(n[Ipv6Header.NextHeaderOffset..]) != BinaryPrimitives.ReadUInt16LittleEndian(h[Ipv6Header.NextHeaderOffset..]))
            {
                return Fail(GroFlushReason.IpHeaderChanged, out reason);
            }
            if (segment.TcpOffset != flow.TcpOffset
                || (segment.TcpOffset > Ipv6Header.Length && !n[Ipv6Header.Length..segment.TcpOffset].SequenceEqual(h[Ipv6Header.Length..flow.TcpOffset])))
            {
                return Fail(GroFlushReason.ExtensionHeadersChanged, out reason);
            }
        }
        ReadOnlySpan<byte> nt = n[segment.TcpOffset..];
        ReadOnlySpan<byte> ht = h[flow.TcpOffset..];
        if (segment.Sequence != flow.NextSequence)
        {
            return Fail(GroFlushReason.SequenceGap, out reason);
        }
        if (BinaryPrimitives.ReadUInt32LittleEndian(nt[TcpHeader.AcknowledgmentOffset..]) != BinaryPrimitives.ReadUInt32LittleEndian(ht[TcpHeader.AcknowledgmentOffset..]))
        {
            return Fail(GroFlushReason.AckChanged, out reason);
        }
        if (segment.TcpHeaderLength != flow.TcpHeaderLength
            || !nt[TcpHeader.MinLength..segment.TcpHeaderLength].SequenceEqual(ht[TcpHeader.MinLength..flow.TcpHeaderLength]))
        {
            return Fail(GroFlushReason.TcpOptionsChanged, out reason);
        }
        if ((segment.Flags & TcpFlags.Cwr) != 0)
        {
            return Fail(GroFlushReason.Cwr, out reason); // RFC 3168 §6.1.2: CWR marks the first segment after a reduction
        }
        uint newWord = BinaryPrimitives.ReadUInt32BigEndian(nt[TcpHeader.DataOffsetAndFlagsOffset..]) & ~((uint)PushOrFin << 16);
        uint heldWord = BinaryPrimitives.ReadUInt32BigEndian(ht[TcpHeader.DataOffsetAndFlagsOffset..]) & ~((uint)TcpFlags.Cwr << 16);
        if (newWord != heldWord)
        {
            uint diff = newWord ^ heldWord;
            return Fail((diff & FlagsInWord) != 0 ? GroFlushReason.TcpFlagsChanged
                : (diff & WindowInWord) != 0 ? GroFlushReason.WindowChanged
                : GroFlushReason.TcpHeaderChanged, out reason);
        }
        if (BinaryPrimitives.ReadUInt16LittleEndian(nt[TcpHeader.UrgentPointerOffset..]) != BinaryPrimitives.ReadUInt16LittleEndian(ht[TcpHeader.UrgentPointerOffset..]))
        {
            return Fail(GroFlushReason.TcpHeaderChanged, out reason); // urgent pointer field
        }
        if (segment.PayloadLength > flow.SegmentSize)
        {
            return Fail(GroFlushReason.LargerSegment, out reason);
        }
        if (flow.IpLength + segment.PayloadLength > _maxIpLength)
        {
            return Fail(GroFlushReason.Full, out reason);
        }
        if (!held.AppendReference(packet, segment.HeaderLength, segment.PayloadLength))
        {
            return Fail(GroFlushReason.SegmentLimit, out reason);
        }
        flow.IpLength += segment.PayloadLength;
        flow.NextSequence += (uint)segment.PayloadLength;
        flow.NextIdentification++;
        flow.Count++;
        flow.LastFlags = segment.Flags & PushOrFin;
        reason = default;
        return true;
    }

    private static bool Fail(GroFlushReason why, out GroFlushReason reason)
    {
        reason = why;
        return false;
    }

    /// <summary>Removes flow <paramref name="index"/> from the table, fixes its headers if it was coalesced, and delivers it.</summary>
    private void FlushEntry(int index, GroFlushReason reason)
    {
        ref Flow flow = ref _flows[index];
        PacketBuffer packet = flow.Held!;
        int count = flow.Count;
        if (count > 1)
        {
            FinishSuperSegment(ref flow, packet);
            _pendingEvents[(int)GroEvent.SuperSegmentsOut]++;
        }
        else
        {
            _pendingEvents[(int)GroEvent.SinglesOut]++;
        }
        _pendingFlushes[(int)reason]++;
        RemoveEntry(index);
        _deliver(packet);
    }

    /// <summary>Fixes the headers of a coalesced packet once (see the class remarks).</summary>
    private static void FinishSuperSegment(ref Flow flow, PacketBuffer packet)
    {
        Span<byte> head = packet.Head;
        int tcpLength = flow.IpLength - flow.TcpOffset;
        if (!flow.Key.IsV6)
        {
            Ipv4Header.SetTotalLength(head, (ushort)flow.IpLength);
            Ipv4Header.RecomputeChecksum(head);
        }
        else
        {
            Ipv6Header.SetPayloadLength(head, (ushort)(flow.IpLength - Ipv6Header.Length));
        }
        uint pseudo = TransportChecksum.PseudoHeaderSum(head, IpProtocol.Tcp, tcpLength);
        Span<byte> tcp = head[flow.TcpOffset..];
        TcpFlags flags = TcpHeader.GetFlags(tcp);
        TcpHeader.SetFlags(tcp, flags | flow.LastFlags);
        TcpHeader.WritePartialChecksum(tcp, pseudo); // CHECKSUM_PARTIAL: ARCHITECTURE.md §4
        packet.Gso = new GsoOptions
        {
            Type = flow.Key.IsV6 ? GsoType.TcpV6 : GsoType.TcpV4,
            NeedsChecksum = true,
            HeaderLength = (ushort)(flow.TcpOffset + flow.TcpHeaderLength),
            MaxSegmentSize = (ushort)flow.SegmentSize,
            ChecksumStart = (ushort)flow.TcpOffset,
            ChecksumOffset = TcpHeader.ChecksumOffset,
        };
        packet.SegmentsRepresented = flow.Count;
        packet.RxChecksumValidated = true;
    }

    private void PassThrough(PacketBuffer packet, GroPassThroughReason reason)
    {
        _pendingEvents[(int)GroEvent.PassThrough]++;
        _pendingPassThroughs[(int)reason]++;
        _deliver(packet);
    }

    private void FlushFlow(in FlowKey key, GroFlushReason reason)
    {
        if (_heldCount == 0)
        {
            return;
        }
        int index = Find(key, key.Hash(_seed));
        if (index >= 0)
        {
            FlushEntry(index, reason);
        }
    }

    /// <summary>A fragment's ports are unknown: flush every flow between its addresses, in age order (rare path).</summary>
    private void FlushAddresses(in FlowKey key)
    {
        int index = _oldest;
        while (index >= 0)
        {
            int newer = _flows[index].Newer;
            if (_flows[index].Key.SameAddresses(key))
            {
                FlushEntry(index, GroFlushReason.PassThrough);
            }
            index = newer;
        }
    }

    private void PublishStatistics()
    {
        Publish(_pendingEvents, _events);
        Publish(_pendingFlushes, _flushes);
        Publish(_pendingPassThroughs, _passThroughs);
    }

    private static void Publish<T>(long[] pending, ReasonCounters<T> counters) where T : struct, Enum
    {
        for (int i = 0; i < pending.Length; i++)
        {
            if (pending[i] != 0)
            {
                counters.Add(Unsafe.As<int, T>(ref i), pending[i]); // all GRO reason enums are int-sized
                pending[i] = 0;
            }
        }
    }
}
