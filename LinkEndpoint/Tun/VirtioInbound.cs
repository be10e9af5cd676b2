// Layer: link endpoints, Linux TUN. Judging a virtio_net_hdr read from the kernel against the packet it
// came with (DESIGN §4): never trust hdr_len, reject a gso_type that does not match the IP version, and
// complete a partial checksum so the packet is an ordinary, fully checksummed one.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// Turns a packet read from a TUN device with IFF_VNET_HDR, plus its header, into a packet the channel
/// endpoint can validate: checks the header against the IP and transport headers in the head, completes a
/// NEEDS_CSUM checksum over csum_start..end (RFC 1071) into csum_start + csum_offset, and for a super-packet
/// sets <see cref="PacketBuffer.Gso"/> (type, gso_size, the header length recomputed from csum_start and the
/// TCP data offset or the UDP header, checksum complete) and <see cref="PacketBuffer.SegmentsRepresented"/>.
/// The completed checksum is verified again by RX validation, so a csum_start that lies about where the
/// transport header is costs a counted drop, not a wrong packet. Never throws on packet contents.
/// </summary>
public static class VirtioInbound
{
    /// <summary>
    /// Prepares <paramref name="packet"/> (IP packet in the head, payload possibly in segments) read with
    /// <paramref name="header"/>; <see cref="TunDropReason.None"/> when it may go on, else why to drop it.
    /// <paramref name="acceptUdpGso"/> is whether USO was negotiated.
    /// </summary>
    public static TunDropReason Prepare(PacketBuffer packet, in VirtioNetHeader header, bool acceptUdpGso = true)
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
        if (!TryIpLength(head, packet.Length, version, out int ipLength, out int minL4Offset))
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
            // DESIGN §4: hdr_len is recomputed from csum_start and the TCP data offset, never taken as given.
            if (header.ChecksumOffset != 16 || head.Length < start + TcpHeader.MinLength)
            {
                return TunDropReason.BadGsoHeaders;
            }
            int dataOffset = (head[start + 12] >> 4) * 4;
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
            isUdp = header.ChecksumOffset == UdpHeader.ChecksumOffset && TransportProtocol(head, version) == IpProtocol.Udp;
        }
        if (type != VirtioGsoType.None && header.GsoSize == 0)
        {
            return TunDropReason.BadGsoHeaders;
        }
        if (ipLength < packet.Length)
        {
            packet.TrimTo(ipLength);
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
            packet.SegmentsRepresented = Math.Max(1, (payload + header.GsoSize - 1) / header.GsoSize);
        }
        return TunDropReason.None;
    }

    /// <summary>The IP datagram length the header declares and the smallest offset an L4 header can have.</summary>
    private static bool TryIpLength(ReadOnlySpan<byte> head, int packetLength, int version, out int ipLength, out int minL4Offset)
    {
        ipLength = minL4Offset = 0;
        if (version == 4)
        {
            if (head.Length < Ipv4Header.MinLength)
            {
                return false;
            }
            minL4Offset = (head[0] & 0x0F) * 4;
            ipLength = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.TotalLengthOffset..]);
            return minL4Offset >= Ipv4Header.MinLength && ipLength >= minL4Offset && ipLength <= packetLength;
        }
        if (version == 6)
        {
            if (head.Length < Ipv6Header.Length)
            {
                return false;
            }
            minL4Offset = Ipv6Header.Length;
            ipLength = Ipv6Header.Length + BinaryPrimitives.ReadUInt16BigEndian(head[Ipv6Header.PayloadLengthOffset..]);
            return ipLength > Ipv6Header.Length && ipLength <= packetLength;
        }
        return false;
    }

    private static IpProtocol TransportProtocol(ReadOnlySpan<byte> head, int version) =>
        version == 4 ? (IpProtocol)head[Ipv4Header.ProtocolOffset] : (IpProtocol)head[Ipv6Header.NextHeaderOffset];
}
