// Layer: link endpoints, Linux TUN. A USO (VIRTIO_NET_HDR_GSO_UDP_L4) packet from the kernel is several
// datagrams sharing one header: the stack's UDP takes datagrams, so it is always cut before delivery.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// Cuts a UDP segmentation-offload packet (<see cref="GsoType.UdpL4"/>, as <see cref="VirtioInbound"/> leaves
/// it) into its datagrams the way Linux's __udp_gso_segment does: every datagram but the last carries
/// gso_size bytes; each gets the IP and UDP headers with its own lengths, IPv4 identification + i, a fresh
/// IPv4 header checksum and a full UDP checksum (RFC 768). Payload is referenced, not copied.
/// </summary>
internal static class UdpGsoSplitter
{
    /// <summary>Splits <paramref name="packet"/> into <paramref name="output"/>; false (nothing rented) on bad layout or too small an output.</summary>
    public static bool TrySplit(PacketBuffer packet, PacketBufferPool pool, Span<PacketBuffer> output, out int count)
    {
        ArgumentNullException.ThrowIfNull(packet);
        ArgumentNullException.ThrowIfNull(pool);
        count = 0;
        GsoOptions gso = packet.Gso;
        int headerLength = gso.HeaderLength;
        int udpOffset = gso.ChecksumStart;
        int mss = gso.MaxSegmentSize;
        ReadOnlySpan<byte> head = packet.Head;
        // The UDP header must be where the metadata says: the transport of an unfragmented datagram.
        if (gso.Type != GsoType.UdpL4 || mss == 0 || udpOffset + UdpHeader.HeaderLength != headerLength || head.Length < headerLength
            || packet.Length < headerLength || !IpLayout.TryLocate(head, packet.Length, out IpLayout ip, out _)
            || ip.Protocol != IpProtocol.Udp || ip.TransportOffset != udpOffset || ip.IsFragment)
        {
            return false;
        }
        bool isV6 = ip.IsV6;
        int payloadTotal = packet.Length - headerLength;
        int segments = Math.Max(1, (payloadTotal + mss - 1) / mss);
        if (segments > output.Length)
        {
            return false;
        }
        ReadOnlySpan<byte> headers = head[..headerLength];
        ushort id = isV6 ? (ushort)0 : (ushort)ip.Identification;
        for (int i = 0; i < segments; i++)
        {
            int payload = i == segments - 1 ? payloadTotal - (i * mss) : mss;
            PacketBuffer segment = pool.Rent(headerLength + (payload <= 256 ? payload : 0));
            Span<byte> h = segment.Append(headerLength);
            headers.CopyTo(h);
            bool referenced = payload > 256 && segment.AppendReference(packet, headerLength + (i * mss), payload);
            if (!referenced)
            {
                if (payload > segment.Tailroom)
                {
                    segment.Release();
                    segment = pool.Rent(headerLength + payload);
                    h = segment.Append(headerLength);
                    headers.CopyTo(h);
                }
                packet.CopyTo(headerLength + (i * mss), segment.Append(payload));
                h = segment.Head[..headerLength];
            }
            int udpLength = UdpHeader.HeaderLength + payload;
            if (isV6)
            {
                Ipv6Header.SetPayloadLength(h, (ushort)(headerLength - Ipv6Header.Length + payload));
            }
            else
            {
                Ipv4Header.SetTotalLength(h, (ushort)(headerLength + payload));
                Ipv4Header.SetIdentification(h, (ushort)(id + i));
                Ipv4Header.RecomputeChecksum(h);
            }
            uint pseudo = TransportChecksum.PseudoHeaderSum(h, IpProtocol.Udp, udpLength);
            Span<byte> udp = h[udpOffset..];
            UdpHeader.SetLength(udp, (ushort)udpLength);
            UdpHeader.SetChecksum(udp, 0);
            uint sum = InternetChecksum.Sum(segment, udpOffset, udpLength, pseudo);
            ushort checksum = InternetChecksum.Finish(sum);
            UdpHeader.SetChecksum(udp, checksum == 0 ? (ushort)0xFFFF : checksum);
            segment.NetworkProtocol = isV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;
            output[i] = segment;
        }
        count = segments;
        return true;
    }
}
