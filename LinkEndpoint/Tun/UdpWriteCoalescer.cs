// Layer: link endpoints, Linux TUN. UDP GRO on write: consecutive datagrams of one flow in a write batch become
// one USO packet the kernel segments back (see the class remarks for the kernel's merge rules).
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// UDP GRO on write: consecutive datagrams of one flow in a write batch become one USO packet
/// (VIRTIO_NET_HDR_GSO_UDP_L4) that the kernel segments back (Linux ≥ 6.2), following the kernel's UDP GRO
/// rules (udp_gro_receive_segment): same addresses, ports, IP version, TOS/traffic class and TTL/hop limit,
/// IPv4 without options and not a fragment with consecutive identifications (segmentation gives ID + i), IPv6
/// without extension headers, every datagram the size of the first but the last, which may be shorter and ends
/// the run; at most <see cref="MaxSegments"/> datagrams and 65535 bytes. The run is built like TCP GRO output:
/// the first datagram's head with the lengths of the whole, the UDP checksum field holding the pseudo-header sum
/// of the whole (CHECKSUM_PARTIAL), the others' payload appended by reference. One run is held at a time; a
/// datagram that does not fit ends it. Single-threaded (the writer).
/// </summary>
internal sealed class UdpWriteCoalescer(Action<PacketBuffer> emit)
{
    /// <summary>UDP_MAX_SEGMENTS of older kernels (newer ones take 128).</summary>
    public const int MaxSegments = 64;

    private PacketBuffer? _held;
    private int _segments;
    private int _segmentSize;
    private bool _ended;

    /// <summary>Datagrams merged into another.</summary>
    public long Merged { get; private set; }

    /// <summary>True when <paramref name="packet"/> is a UDP datagram this coalescer may take.</summary>
    public static bool IsCandidate(PacketBuffer packet)
    {
        if (packet.Gso.IsGso || packet.Gso.NeedsChecksum)
        {
            return false;
        }
        // UDP right after an IPv4 header without options or an IPv6 header without extension headers, not a fragment.
        ReadOnlySpan<byte> head = packet.Head;
        return IpLayout.TryLocate(head, packet.Length, out IpLayout ip, out _) && ip.Protocol == IpProtocol.Udp && !ip.IsFragment
            && !ip.HasExtensionHeaders && ip.HeaderLength == (ip.IsV6 ? Ipv6Header.Length : Ipv4Header.MinLength)
            && head.Length >= ip.TransportOffset + UdpHeader.HeaderLength;
    }

    /// <summary>Takes a candidate datagram (and its reference): merges it into the held run or starts a new one.</summary>
    public void Add(PacketBuffer packet)
    {
        int payload = packet.Length - HeaderLength(packet);
        if (_held is not null && !_ended && CanMerge(_held, packet, payload) && _held.AppendReference(packet, HeaderLength(packet), payload))
        {
            _segments++;
            _ended = payload < _segmentSize;
            Merged++;
            packet.Release();
            return;
        }
        Flush();
        if (payload <= 0)
        {
            emit(packet);
            return;
        }
        _held = packet;
        _segments = 1;
        _segmentSize = payload;
        _ended = false;
    }

    /// <summary>Emits the held run (as a USO packet when it holds more than one datagram).</summary>
    public void Flush()
    {
        PacketBuffer? held = _held;
        if (held is null)
        {
            return;
        }
        _held = null;
        if (_segments > 1)
        {
            Finish(held);
        }
        emit(held);
    }

    private static int HeaderLength(PacketBuffer packet) =>
        (packet.Head[0] >> 4 == 4 ? Ipv4Header.MinLength : Ipv6Header.Length) + UdpHeader.HeaderLength;

    private bool CanMerge(PacketBuffer held, PacketBuffer packet, int payload)
    {
        if (_segments >= MaxSegments || payload <= 0 || payload > _segmentSize || held.Length + payload > 65535)
        {
            return false;
        }
        ReadOnlySpan<byte> a = held.Head;
        ReadOnlySpan<byte> b = packet.Head;
        if (a[0] >> 4 != b[0] >> 4)
        {
            return false;
        }
        if (a[0] >> 4 == 4)
        {
            // Same TOS, DF (the flags byte: neither is a fragment), TTL, protocol, addresses and ports; ID = first + segments so far.
            const int AddressesAndPorts = Ipv4Header.MinLength - Ipv4Header.SourceOffset + 4;
            return a[Ipv4Header.DifferentiatedServicesOffset] == b[Ipv4Header.DifferentiatedServicesOffset]
                && a[Ipv4Header.FragmentOffsetField] == b[Ipv4Header.FragmentOffsetField]
                && a[Ipv4Header.TimeToLiveOffset] == b[Ipv4Header.TimeToLiveOffset]
                && a.Slice(Ipv4Header.SourceOffset, AddressesAndPorts).SequenceEqual(b.Slice(Ipv4Header.SourceOffset, AddressesAndPorts))
                && BinaryPrimitives.ReadUInt16BigEndian(b[Ipv4Header.IdentificationOffset..])
                    == (ushort)(BinaryPrimitives.ReadUInt16BigEndian(a[Ipv4Header.IdentificationOffset..]) + _segments);
        }
        // Version, traffic class and flow label; next header, hop limit; addresses; ports.
        const int Addresses6AndPorts = Ipv6Header.Length - Ipv6Header.SourceOffset + 4;
        return a[..Ipv6Header.PayloadLengthOffset].SequenceEqual(b[..Ipv6Header.PayloadLengthOffset])
            && a.Slice(Ipv6Header.NextHeaderOffset, 2).SequenceEqual(b.Slice(Ipv6Header.NextHeaderOffset, 2))
            && a.Slice(Ipv6Header.SourceOffset, Addresses6AndPorts).SequenceEqual(b.Slice(Ipv6Header.SourceOffset, Addresses6AndPorts));
    }

    private void Finish(PacketBuffer packet)
    {
        Span<byte> head = packet.Head;
        bool v6 = head[0] >> 4 == 6;
        int l4 = v6 ? Ipv6Header.Length : Ipv4Header.MinLength;
        int udpLength = packet.Length - l4;
        if (v6)
        {
            Ipv6Header.SetPayloadLength(head, (ushort)udpLength);
        }
        else
        {
            Ipv4Header.SetTotalLength(head, (ushort)packet.Length);
            Ipv4Header.RecomputeChecksum(head);
        }
        uint pseudo = TransportChecksum.PseudoHeaderSum(head, IpProtocol.Udp, udpLength);
        Span<byte> udp = head[l4..];
        UdpHeader.SetLength(udp, (ushort)udpLength);
        UdpHeader.WritePartialChecksum(udp, pseudo);
        packet.Gso = new GsoOptions
        {
            Type = GsoType.UdpL4,
            NeedsChecksum = true,
            HeaderLength = (ushort)(l4 + UdpHeader.HeaderLength),
            MaxSegmentSize = (ushort)_segmentSize,
            ChecksumStart = (ushort)l4,
            ChecksumOffset = UdpHeader.ChecksumOffset,
        };
        packet.SegmentsRepresented = _segments;
    }
}
