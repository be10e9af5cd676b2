// Layer: link endpoints, software GSO (ARCHITECTURE.md §2 outbound step 4, §4): cuts a TCP super-segment into
// MSS-sized wire segments for a device that cannot segment. Reads payload across the packet's pieces.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Gso;

/// <summary>
/// Software TCP segmentation of a packet with <see cref="PacketBuffer.Gso"/> (TCP over IPv4 or IPv6, checksum
/// partial or complete or stale: it is always recomputed). Segment <c>i</c> gets the headers of the packet
/// with sequence number + i·MSS, IPv4 identification + i, FIN and PSH only on the last segment and CWR only
/// on the first, the IPv4 total length or IPv6 payload length of the segment, a fresh IPv4 header checksum
/// and a fresh full TCP checksum (ARCHITECTURE.md §4). The headers are read from the packet itself, never from
/// <see cref="GsoOptions.HeaderLength"/> (ARCHITECTURE.md §4: do not trust hdr_len). A packet without GSO metadata is
/// one segment: itself. Bad input gives <c>false</c> and a <see cref="GsoError"/>, never an exception; the
/// packet is never modified.
/// </summary>
public static class GsoSegmenter
{
    /// <summary>
    /// The most segments a super-segment can split into: at most 65535 bytes of IP packet at the smallest MSS
    /// TCP sends (48 bytes, as Linux's <c>tcp_min_snd_mss</c>). An output span this long never is too short.
    /// </summary>
    public const int MaxSegmentCount = (65535 / 48) + 1;

    /// <summary>
    /// The number of segments <paramref name="packet"/> splits into (1 for a packet without GSO), or 0 when
    /// it cannot be split (see <see cref="TryGetSegmentCount"/> for why).
    /// </summary>
    public static int SegmentCount(PacketBuffer packet) =>
        TryGetLayout(packet, out Layout layout, out _) ? layout.Count : 0;

    /// <summary>The number of segments of <paramref name="packet"/>, or false with the reason it cannot be split.</summary>
    public static bool TryGetSegmentCount(PacketBuffer packet, out int count, out GsoError error)
    {
        bool ok = TryGetLayout(packet, out Layout layout, out error);
        count = ok ? layout.Count : 0;
        return ok;
    }

    /// <summary>
    /// Length of segment <paramref name="index"/> (headers and payload), or 0 when the packet cannot be split
    /// or the index is out of range: the size of the destination <see cref="TryWriteSegment"/> needs.
    /// </summary>
    public static int SegmentLength(PacketBuffer packet, int index) =>
        TryGetLayout(packet, out Layout layout, out _) && (uint)index < (uint)layout.Count
            ? layout.HeaderLength + layout.SegmentPayload(index) : 0;

    /// <summary>
    /// Writes segment <paramref name="index"/> of <paramref name="superSegment"/> into
    /// <paramref name="destination"/> (one copy of its headers and of its slice of payload, read across the
    /// packet's pieces without flattening it) and returns its length, or 0 on bad input or a destination
    /// that is too short (see <see cref="TryWriteSegment"/>). Allocates nothing.
    /// </summary>
    public static int WriteSegment(PacketBuffer superSegment, int index, Span<byte> destination) =>
        TryWriteSegment(superSegment, index, destination, out int written, out _) ? written : 0;

    /// <summary>
    /// Writes segment <paramref name="index"/> of <paramref name="superSegment"/> into
    /// <paramref name="destination"/>; false with the reason on bad input, a bad index or a short destination.
    /// </summary>
    public static bool TryWriteSegment(PacketBuffer superSegment, int index, Span<byte> destination, out int written, out GsoError error)
    {
        written = 0;
        if (!TryGetLayout(superSegment, out Layout layout, out error))
        {
            return false;
        }
        if ((uint)index >= (uint)layout.Count)
        {
            error = GsoError.IndexOutOfRange;
            return false;
        }
        int payload = layout.SegmentPayload(index);
        int length = layout.HeaderLength + payload;
        if (destination.Length < length)
        {
            error = GsoError.DestinationTooSmall;
            return false;
        }
        if (!layout.IsGso)
        {
            superSegment.CopyTo(destination);
            written = length;
            return true;
        }
        Span<byte> segment = destination[..length];
        superSegment.Head[..layout.HeaderLength].CopyTo(segment);
        superSegment.CopyTo(layout.HeaderLength + (index * layout.Mss), segment[layout.HeaderLength..]);
        uint pseudo = FixHeaders(segment, in layout, index, payload);
        TcpHeader.WriteChecksum(segment[layout.TcpOffset..], pseudo);
        written = length;
        return true;
    }

    /// <summary>
    /// Splits <paramref name="superSegment"/> into new packets rented from <paramref name="pool"/>, written to
    /// <paramref name="output"/>, and returns how many; 0 on bad input or when <paramref name="output"/> is
    /// too short (see <see cref="TrySplit"/>).
    /// </summary>
    public static int Split(PacketBuffer superSegment, PacketBufferPool pool, Span<PacketBuffer> output) =>
        TrySplit(superSegment, pool, output, out int count, out _) ? count : 0;

    /// <summary>
    /// Splits <paramref name="superSegment"/> into segments: each is a new packet from <paramref name="pool"/>
    /// whose head holds its own copy of the headers and whose payload references the super-segment's chunks
    /// (no payload copy). The caller owns one reference to each output packet and keeps its own reference to
    /// <paramref name="superSegment"/>; a packet without GSO metadata "splits" into itself (one more reference).
    /// False with the reason on bad input or when <paramref name="output"/> cannot hold every segment; then
    /// nothing is rented.
    /// </summary>
    public static bool TrySplit(PacketBuffer superSegment, PacketBufferPool pool, Span<PacketBuffer> output, out int count, out GsoError error)
    {
        ArgumentNullException.ThrowIfNull(pool);
        count = 0;
        if (!TryGetLayout(superSegment, out Layout layout, out error))
        {
            return false;
        }
        if (output.Length < layout.Count)
        {
            error = GsoError.DestinationTooSmall;
            return false;
        }
        if (!layout.IsGso)
        {
            output[0] = superSegment.AddRef();
            count = 1;
            return true;
        }
        ReadOnlySpan<byte> headers = superSegment.Head[..layout.HeaderLength];
        for (int i = 0; i < layout.Count; i++)
        {
            int payload = layout.SegmentPayload(i);
            int payloadOffset = layout.HeaderLength + (i * layout.Mss);
            PacketBuffer segment = pool.Rent(layout.HeaderLength);
            Span<byte> header = segment.Append(layout.HeaderLength);
            headers.CopyTo(header);
            uint pseudo = FixHeaders(header, in layout, i, payload);
            if (!segment.AppendReference(superSegment, payloadOffset, payload))
            {
                // A slice spread over more pieces than a packet can reference: copy it instead (rare).
                segment.Release();
                segment = pool.Rent(layout.HeaderLength + payload);
                header = segment.Append(layout.HeaderLength + payload);
                headers.CopyTo(header);
                superSegment.CopyTo(payloadOffset, header[layout.HeaderLength..]);
                pseudo = FixHeaders(header, in layout, i, payload);
                TcpHeader.WriteChecksum(header[layout.TcpOffset..], pseudo);
            }
            else
            {
                // Sum the segment's own 1-2 pieces, not the super-segment (whose every sum would walk all its pieces).
                // The payload starts at an even offset of the TCP segment (data offset × 4), as WriteChecksum needs.
                uint payloadSum = InternetChecksum.Sum(segment, layout.HeaderLength, payload);
                TcpHeader.WriteChecksum(header[layout.TcpOffset..], pseudo, payloadSum);
            }
            segment.NetworkProtocol = layout.IsV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
            output[i] = segment;
        }
        count = layout.Count;
        return true;
    }

    /// <summary>
    /// Rewrites the headers at the start of <paramref name="segment"/> for segment <paramref name="index"/>
    /// with <paramref name="payload"/> bytes and returns the TCP pseudo-header sum; the TCP checksum is left to the caller.
    /// </summary>
    private static uint FixHeaders(Span<byte> segment, in Layout layout, int index, int payload)
    {
        int tcpLength = layout.HeaderLength - layout.TcpOffset + payload;
        if (!layout.IsV6)
        {
            Ipv4Header.SetTotalLength(segment, (ushort)(layout.HeaderLength + payload));
            Ipv4Header.SetIdentification(segment, (ushort)(layout.Identification + index));
            Ipv4Header.RecomputeChecksum(segment);
        }
        else
        {
            Ipv6Header.SetPayloadLength(segment, (ushort)(layout.HeaderLength - Ipv6Header.Length + payload));
        }
        uint pseudo = TransportChecksum.PseudoHeaderSum(segment, IpProtocol.Tcp, tcpLength);
        Span<byte> tcp = segment[layout.TcpOffset..];
        TcpHeader.SetSequenceNumber(tcp, layout.Sequence + (uint)(index * layout.Mss));
        TcpFlags flags = layout.Flags;
        if (index != layout.Count - 1)
        {
            flags &= ~(TcpFlags.Fin | TcpFlags.Psh); // ARCHITECTURE.md §4: FIN and PSH only on the last
        }
        if (index != 0)
        {
            flags &= ~TcpFlags.Cwr; // RFC 3168 §6.1.2: CWR only on the first
        }
        TcpHeader.SetFlags(tcp, flags);
        return pseudo;
    }

    /// <summary>Where the headers are and how the payload divides, checked against the packet.</summary>
    private readonly struct Layout
    {
        public bool IsGso { get; init; }
        public bool IsV6 { get; init; }
        public int TcpOffset { get; init; }
        public int HeaderLength { get; init; }
        public int PayloadLength { get; init; }
        public int Mss { get; init; }
        public int Count { get; init; }
        public uint Sequence { get; init; }
        public ushort Identification { get; init; }
        public TcpFlags Flags { get; init; }

        public int SegmentPayload(int index) => index == Count - 1 ? PayloadLength - (index * Mss) : Mss;
    }

    private static bool TryGetLayout(PacketBuffer packet, out Layout layout, out GsoError error)
    {
        ArgumentNullException.ThrowIfNull(packet);
        layout = default;
        GsoOptions gso = packet.Gso;
        if (!gso.IsGso)
        {
            layout = new Layout { IsGso = false, HeaderLength = packet.Length, Count = 1 };
            error = GsoError.None;
            return true;
        }
        bool isV6;
        switch (gso.Type)
        {
            case GsoType.TcpV4:
                isV6 = false;
                break;
            case GsoType.TcpV6:
                isV6 = true;
                break;
            default:
                return Fail(GsoError.UnsupportedType, out error);
        }
        if (gso.MaxSegmentSize == 0)
        {
            return Fail(GsoError.ZeroMaxSegmentSize, out error);
        }
        ReadOnlySpan<byte> head = packet.Head;
        if (head.IsEmpty)
        {
            return Fail(GsoError.HeadersNotInHead, out error);
        }
        int version = head[0] >> 4;
        if (version != (isV6 ? 6 : 4))
        {
            return Fail(version is 4 or 6 ? GsoError.TypeMismatch : GsoError.BadIpHeader, out error);
        }
        IpLayout ip;
        if (!isV6)
        {
            if (!Ipv4Header.TryCreate(head, packet.Length, out Ipv4Header v4, out WireError v4Error))
            {
                // A header (or its options) past the head is not in the head; any other fault is a bad header.
                bool cut = head.Length < Ipv4Header.MinLength
                    || (v4Error == WireError.BadHeaderLength && Ipv4Header.GetHeaderLength(head) >= Ipv4Header.MinLength);
                return Fail(cut ? GsoError.HeadersNotInHead : GsoError.BadIpHeader, out error);
            }
            ip = IpLayout.Of(v4);
        }
        else
        {
            if (!Ipv6Header.TryCreate(head, packet.Length, out Ipv6Header v6, out _))
            {
                return Fail(head.Length < Ipv6Header.Length ? GsoError.HeadersNotInHead : GsoError.BadIpHeader, out error);
            }
            if (Ipv6Header.Length + v6.PayloadLength != packet.Length)
            {
                return Fail(GsoError.BadIpHeader, out error);
            }
            if (!IpLayout.TryLocate(v6, out ip, out WireError walkError))
            {
                return Fail(walkError is WireError.Truncated or WireError.BadHeaderLength ? GsoError.HeadersNotInHead : GsoError.BadIpHeader, out error);
            }
        }
        if (ip.Length != packet.Length || ip.IsFragment)
        {
            return Fail(GsoError.BadIpHeader, out error);
        }
        // RFC 8200 §8.1: with a routing header the pseudo-header needs the final destination; not supported.
        if (ip.Protocol != IpProtocol.Tcp || ip.HasRoutingHeader)
        {
            return Fail(GsoError.NotTcp, out error);
        }
        int tcpOffset = ip.TransportOffset;
        ushort identification = isV6 ? (ushort)0 : (ushort)ip.Identification;
        if (gso.ChecksumStart != 0 && gso.ChecksumStart != tcpOffset)
        {
            return Fail(GsoError.ChecksumStartMismatch, out error);
        }
        if (packet.Length < tcpOffset + TcpHeader.MinLength)
        {
            return Fail(GsoError.BadTcpHeader, out error);
        }
        if (head.Length < tcpOffset + TcpHeader.MinLength)
        {
            return Fail(GsoError.HeadersNotInHead, out error);
        }
        int headerLength = tcpOffset + TcpHeader.GetHeaderLength(head[tcpOffset..]);
        if (headerLength < tcpOffset + TcpHeader.MinLength || headerLength > packet.Length)
        {
            return Fail(GsoError.BadTcpHeader, out error);
        }
        if (headerLength > head.Length)
        {
            return Fail(GsoError.HeadersNotInHead, out error);
        }
        int payload = packet.Length - headerLength;
        int mss = gso.MaxSegmentSize;
        ReadOnlySpan<byte> tcp = head[tcpOffset..];
        layout = new Layout
        {
            IsGso = true,
            IsV6 = isV6,
            TcpOffset = tcpOffset,
            HeaderLength = headerLength,
            PayloadLength = payload,
            Mss = mss,
            Count = payload == 0 ? 1 : (payload + mss - 1) / mss,
            Sequence = TcpHeader.GetSequenceNumber(tcp),
            Identification = identification,
            Flags = TcpHeader.GetFlags(tcp),
        };
        error = GsoError.None;
        return true;
    }

    private static bool Fail(GsoError why, out GsoError error)
    {
        error = why;
        return false;
    }
}
