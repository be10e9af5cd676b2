// Layer: link endpoints, Linux TUN. Judging a virtio_net_hdr read from the kernel against the packet it
// came with (ARCHITECTURE.md §4): never trust hdr_len, reject a gso_type that does not match the IP version; take a
// partial (NEEDS_CSUM) or verified (DATA_VALID) checksum on the kernel's word when it sits where the transport
// header is, else complete it so RX validation can judge the packet.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// Turns a packet read from a TUN device with IFF_VNET_HDR, plus its header, into a packet the channel
/// endpoint can take. Checks the header against the IP and transport headers in the head; for a super-packet
/// sets <see cref="PacketBuffer.Gso"/> (type, gso_size, the header length recomputed from csum_start and the
/// TCP data offset or the UDP header) and <see cref="PacketBuffer.SegmentsRepresented"/>.
/// <para><b>Checksums.</b> NEEDS_CSUM is the kernel's CHECKSUM_PARTIAL and DATA_VALID its
/// CHECKSUM_UNNECESSARY: the bytes were made or verified by the host and crossed only memory, so, as Linux's
/// virtio_net receive path does, they count as verified (include/linux/skbuff.h: "for the purposes of checksum
/// verification, the checksum referred to by csum_start + csum_offset … [is] considered verified"). Such a
/// packet is marked <see cref="PacketBuffer.RxChecksumValidated"/> and, for NEEDS_CSUM, keeps the folded
/// pseudo-header sum in its checksum field with <see cref="GsoOptions.NeedsChecksum"/> set — the form GRO and
/// TCP's GSO output already use, which GSO split and the TUN writer complete when they need to. No pass over the
/// payload. That trust is given only when csum_start is the transport header's offset in an unfragmented
/// datagram and csum_offset is the TCP or UDP checksum's; otherwise (IPv6 extension headers, a header that
/// lies, or with <c>trustChecksums</c> off) the checksum is completed over csum_start..end (RFC 1071) and RX
/// validation verifies it again, so a lying csum_start costs a counted drop, not a wrong packet. Never throws on
/// packet contents.</para>
/// </summary>
internal static class VirtioInbound
{
    /// <summary>
    /// Prepares <paramref name="packet"/> (IP packet in the head, payload possibly in segments) read with
    /// <paramref name="header"/>; <see cref="TunDropReason.None"/> when it may go on, else why to drop it.
    /// <paramref name="acceptUdpGso"/> is whether USO was negotiated; <paramref name="trustChecksums"/> whether the
    /// kernel's NEEDS_CSUM and DATA_VALID are taken as verified (see the class remarks).
    /// </summary>
    public static TunDropReason Prepare(PacketBuffer packet, in VirtioNetHeader header, bool acceptUdpGso = true, bool trustChecksums = true)
    {
        ArgumentNullException.ThrowIfNull(packet);
        ReadOnlySpan<byte> head = packet.Head;
        if (head.IsEmpty)
        {
            return TunDropReason.ShortRead;
        }
        if ((header.Flags & ~(VirtioNetFlags.NeedsChecksum | VirtioNetFlags.DataValid)) != 0)
        {
            return TunDropReason.BadVirtioFlags;
        }
        int version = head[0] >> 4;
        if (!TryLocate(head, packet.Length, out int ipLength, out int minL4Offset, out IpLayout layout, out bool located))
        {
            return header.GsoType == VirtioGsoType.None && !header.Flags.HasFlag(VirtioNetFlags.NeedsChecksum)
                ? TunDropReason.None // a plain packet: RX validation judges (and counts) it
                : TunDropReason.BadIpLength;
        }
        VirtioGsoType type = header.GsoType;
        switch (type)
        {
            case VirtioGsoType.None:
                break;
            case VirtioGsoType.TcpV4 when version != 4:
            case VirtioGsoType.TcpV6 when version != 6:
                return TunDropReason.GsoTypeMismatch;
            case VirtioGsoType.TcpV4:
            case VirtioGsoType.TcpV6:
                break;
            case VirtioGsoType.UdpL4 when acceptUdpGso:
                break;
            default:
                return TunDropReason.UnsupportedGsoType;
        }
        bool needsChecksum = (header.Flags & VirtioNetFlags.NeedsChecksum) != 0;
        if (type != VirtioGsoType.None && !needsChecksum)
        {
            return TunDropReason.GsoWithoutChecksum;
        }
        if (!needsChecksum)
        {
            if (trustChecksums && (header.Flags & VirtioNetFlags.DataValid) != 0 && IsPlain(located, layout)
                && layout.Protocol is IpProtocol.Tcp or IpProtocol.Udp)
            {
                packet.RxChecksumValidated = true; // CHECKSUM_UNNECESSARY: the host verified it
            }
            return TunDropReason.None;
        }
        int start = header.ChecksumStart;
        int field = start + header.ChecksumOffset;
        if (start < minL4Offset || field + 2 > head.Length || field + 2 > ipLength)
        {
            return TunDropReason.BadChecksumLocation;
        }
        bool isUdp = false;
        int headerLength = 0;
        if (type is VirtioGsoType.TcpV4 or VirtioGsoType.TcpV6)
        {
            // ARCHITECTURE.md §4: hdr_len is recomputed from csum_start and the TCP data offset, never taken as given.
            if (header.ChecksumOffset != TcpHeader.ChecksumOffset || head.Length < start + TcpHeader.MinLength)
            {
                return TunDropReason.BadGsoHeaders;
            }
            int dataOffset = TcpHeader.GetHeaderLength(head[start..]);
            headerLength = start + dataOffset;
            if (dataOffset < TcpHeader.MinLength || headerLength > head.Length || headerLength > ipLength)
            {
                return TunDropReason.BadGsoHeaders;
            }
        }
        else if (type == VirtioGsoType.UdpL4)
        {
            isUdp = true;
            headerLength = start + UdpHeader.HeaderLength;
            if (header.ChecksumOffset != UdpHeader.ChecksumOffset || headerLength > head.Length || headerLength > ipLength)
            {
                return TunDropReason.BadGsoHeaders;
            }
        }
        else
        {
            // RFC 768: a UDP checksum computed as 0 is sent as all ones, behind extension headers too.
            isUdp = header.ChecksumOffset == UdpHeader.ChecksumOffset && located && layout.Protocol == IpProtocol.Udp;
        }
        if (type != VirtioGsoType.None && header.GsoSize == 0)
        {
            return TunDropReason.BadGsoHeaders;
        }
        if (ipLength < packet.Length)
        {
            packet.TrimTo(ipLength);
        }
        if (trustChecksums && IsPlain(located, layout) && start == layout.TransportOffset
            && layout.Protocol == (header.ChecksumOffset == UdpHeader.ChecksumOffset ? IpProtocol.Udp : IpProtocol.Tcp)
            && header.ChecksumOffset is UdpHeader.ChecksumOffset or TcpHeader.ChecksumOffset)
        {
            // CHECKSUM_PARTIAL, where the transport header is: verified by the kernel's word, left partial.
            packet.Gso = new GsoOptions
            {
                Type = (GsoType)(byte)type,
                NeedsChecksum = true,
                HeaderLength = (ushort)headerLength,
                MaxSegmentSize = type == VirtioGsoType.None ? (ushort)0 : header.GsoSize,
                ChecksumStart = (ushort)start,
                ChecksumOffset = header.ChecksumOffset,
            };
            SetSegments(packet, type, ipLength - headerLength, header.GsoSize);
            packet.RxChecksumValidated = true;
            return TunDropReason.None;
        }
        // The field holds the folded pseudo-header sum (CHECKSUM_PARTIAL): summing from csum_start over the
        // rest of the packet, that field included, and complementing gives the full checksum.
        uint sum = InternetChecksum.Sum(packet, start, ipLength - start);
        ushort checksum = InternetChecksum.Finish(sum);
        if (isUdp && checksum == 0)
        {
            checksum = 0xFFFF; // RFC 768: a computed zero is sent as all ones
        }
        BinaryPrimitives.WriteUInt16BigEndian(packet.Head[field..], checksum);
        if (type != VirtioGsoType.None)
        {
            int payload = ipLength - headerLength;
            packet.Gso = new GsoOptions
            {
                Type = (GsoType)(byte)type,
                NeedsChecksum = false,
                HeaderLength = (ushort)headerLength,
                MaxSegmentSize = header.GsoSize,
                ChecksumStart = (ushort)start,
                ChecksumOffset = header.ChecksumOffset,
            };
            SetSegments(packet, type, payload, header.GsoSize);
        }
        return TunDropReason.None;
    }

    private static void SetSegments(PacketBuffer packet, VirtioGsoType type, int payload, int gsoSize)
    {
        if (type != VirtioGsoType.None)
        {
            packet.SegmentsRepresented = Math.Max(1, (payload + gsoSize - 1) / gsoSize);
        }
    }

    /// <summary>
    /// Not a fragment (its checksum would cover the whole datagram) and the transport right after the IP header:
    /// the only packets whose checksum the kernel's word is taken for.
    /// </summary>
    private static bool IsPlain(bool located, in IpLayout layout) => located && !layout.IsFragment && !layout.HasExtensionHeaders;

    /// <summary>
    /// The IP datagram length the header declares and the smallest offset an L4 header can have (false when the
    /// fixed header is bad, or an IPv6 payload is empty); then where the transport is, when the IPv6 chain walks.
    /// </summary>
    private static bool TryLocate(ReadOnlySpan<byte> head, int packetLength, out int ipLength, out int minL4Offset, out IpLayout layout, out bool located)
    {
        ipLength = minL4Offset = 0;
        layout = default;
        located = false;
        int version = head[0] >> 4;
        if (version == 4 && Ipv4Header.TryCreate(head, packetLength, out Ipv4Header v4, out _))
        {
            layout = IpLayout.Of(v4);
            located = true;
            ipLength = layout.Length;
            minL4Offset = layout.HeaderLength;
            return true;
        }
        if (version == 6 && Ipv6Header.TryCreate(head, packetLength, out Ipv6Header v6, out _) && v6.PayloadLength > 0)
        {
            located = IpLayout.TryLocate(v6, out layout, out _);
            ipLength = Ipv6Header.Length + v6.PayloadLength;
            minL4Offset = Ipv6Header.Length;
            return true;
        }
        return false;
    }
}
