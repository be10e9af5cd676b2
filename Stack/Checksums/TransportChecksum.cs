// Layer: checksums. The one place a transport checksum is verified: TCP (RFC 9293 §3.1), UDP with its zero
// rules (RFC 768: none sent over IPv4; RFC 8200 §8.1: not allowed over IPv6), ICMPv4 (RFC 792, no
// pseudo-header) and ICMPv6 (RFC 4443 §2.3), with the IPv4 or IPv6 pseudo-header read from the packet.
using System.Runtime.CompilerServices;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Checksums;

/// <summary>What <see cref="TransportChecksum.Verify(PacketBuffer, in IpLayout)"/> found.</summary>
public enum TransportChecksumStatus
{
    /// <summary>The checksum verifies.</summary>
    Good,
    /// <summary>The checksum does not verify.</summary>
    Bad,
    /// <summary>UDP over IPv4 with checksum 0: the sender computed none (RFC 768); nothing to verify.</summary>
    Absent,
    /// <summary>UDP over IPv6 with checksum 0, which is not allowed (RFC 8200 §8.1).</summary>
    ZeroOverIpv6,
    /// <summary>The UDP header is cut short or its length field is below 8 or past the IP payload (RFC 768).</summary>
    Malformed,
    /// <summary>
    /// Not checked here: a fragment (the checksum covers the whole datagram; an atomic one is checked), a protocol without a checksum this
    /// method knows (ICMPv4 over IPv6 and the reverse too), or a range past the packet.
    /// </summary>
    NotCovered,
}

/// <summary>
/// Verifies transport checksums; RX validation, UDP, TCP, ICMP and the capture checker all call it. The packet
/// starts with its IP header (read for the pseudo-header: source, destination, protocol and upper-layer length;
/// with an IPv6 routing header that destination is the final one only once segments left is 0, the only case the
/// stack accepts). Never throws on packet contents, allocates nothing.
/// </summary>
public static class TransportChecksum
{
    /// <summary>Verifies the checksum of the transport message <paramref name="layout"/> locates in <paramref name="packet"/> (head and payload pieces).</summary>
    public static TransportChecksumStatus Verify(PacketBuffer packet, in IpLayout layout)
    {
        ArgumentNullException.ThrowIfNull(packet);
        return HoldsWholeTransport(layout)
            ? Verify(packet, packet.Head, packet.Length, layout.IsV6, layout.Protocol, layout.TransportOffset, layout.TransportLength)
            : TransportChecksumStatus.NotCovered;
    }

    /// <summary>Verifies the checksum of the transport message <paramref name="layout"/> locates in the flat <paramref name="packet"/>.</summary>
    public static TransportChecksumStatus Verify(ReadOnlySpan<byte> packet, in IpLayout layout) =>
        HoldsWholeTransport(layout)
            ? Verify(null, packet, packet.Length, layout.IsV6, layout.Protocol, layout.TransportOffset, layout.TransportLength)
            : TransportChecksumStatus.NotCovered;

    /// <summary>
    /// Verifies the checksum of the <paramref name="protocol"/> message of <paramref name="transportLength"/> bytes at
    /// <paramref name="transportOffset"/> of <paramref name="packet"/>, an unfragmented IP packet of <paramref name="version"/>
    /// (a transport handed a packet by the network layer knows no more than that).
    /// </summary>
    public static TransportChecksumStatus Verify(PacketBuffer packet, NetworkProtocol version, IpProtocol protocol, int transportOffset, int transportLength)
    {
        ArgumentNullException.ThrowIfNull(packet);
        return Verify(packet, packet.Head, packet.Length, version == NetworkProtocol.IPv6, protocol, transportOffset, transportLength);
    }

    /// <summary>
    /// Verifies the checksum of the <paramref name="protocol"/> message of <paramref name="transportLength"/> bytes at
    /// <paramref name="transportOffset"/> of the flat <paramref name="packet"/>, an IP packet of <paramref name="version"/>.
    /// </summary>
    public static TransportChecksumStatus Verify(ReadOnlySpan<byte> packet, NetworkProtocol version, IpProtocol protocol, int transportOffset, int transportLength) =>
        Verify(null, packet, packet.Length, version == NetworkProtocol.IPv6, protocol, transportOffset, transportLength);

    /// <summary>
    /// The pseudo-header sum for an upper-layer message of <paramref name="upperLayerLength"/> bytes in the IP packet
    /// whose header starts <paramref name="ipHeader"/> (the version nibble picks RFC 9293 §3.1 / RFC 768 for IPv4 or
    /// RFC 8200 §8.1 for IPv6). The header must be whole: 20 or 40 bytes at least.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint PseudoHeaderSum(ReadOnlySpan<byte> ipHeader, IpProtocol protocol, int upperLayerLength) =>
        PseudoHeaderSum(ipHeader, ipHeader[Ipv4Header.VersionAndIhlOffset] >> 4 == 6, protocol, upperLayerLength);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint PseudoHeaderSum(ReadOnlySpan<byte> ipHeader, bool isV6, IpProtocol protocol, int upperLayerLength) =>
        isV6
            ? InternetChecksum.PseudoHeaderSumV6(ipHeader.Slice(Ipv6Header.SourceOffset, 16), ipHeader.Slice(Ipv6Header.DestinationOffset, 16),
                (byte)protocol, upperLayerLength)
            : InternetChecksum.PseudoHeaderSumV4(ipHeader.Slice(Ipv4Header.SourceOffset, 4), ipHeader.Slice(Ipv4Header.DestinationOffset, 4),
                (byte)protocol, upperLayerLength);

    /// <summary>True when a partial sum over a message and its pseudo-header (if any) verifies: it folds to all ones (RFC 1071 §1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Verifies(uint sum) => InternetChecksum.Fold(sum) == 0xFFFF;

    /// <summary>What a UDP checksum field of 0 means over <paramref name="network"/>: none sent (IPv4, RFC 768) or not allowed (IPv6, RFC 8200 §8.1).</summary>
    public static TransportChecksumStatus UdpZeroChecksum(NetworkProtocol network) =>
        network == NetworkProtocol.IPv6 ? TransportChecksumStatus.ZeroOverIpv6 : TransportChecksumStatus.Absent;

    // Not a fragment, or an atomic IPv6 one (RFC 6946): the transport message is all there.
    private static bool HoldsWholeTransport(in IpLayout layout) => layout.FragmentOffset == 0 && !layout.MoreFragments;

    private static TransportChecksumStatus Verify(PacketBuffer? packet, ReadOnlySpan<byte> head, int packetLength, bool isV6,
        IpProtocol protocol, int offset, int length)
    {
        if ((uint)offset > (uint)packetLength || (uint)length > (uint)(packetLength - offset)
            || head.Length < (isV6 ? Ipv6Header.Length : Ipv4Header.MinLength))
        {
            return TransportChecksumStatus.NotCovered;
        }
        uint initial;
        switch (protocol)
        {
            case IpProtocol.Tcp:
                initial = PseudoHeaderSum(head, isV6, protocol, length);
                break;
            case IpProtocol.Udp:
                if (offset > head.Length || !UdpHeader.TryCreate(head[offset..], length, out UdpHeader udp, out _))
                {
                    return TransportChecksumStatus.Malformed;
                }
                if (udp.Checksum == 0)
                {
                    return UdpZeroChecksum(isV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4);
                }
                length = udp.Length; // the pseudo-header and the sum cover the UDP length, not the IP payload (RFC 768)
                initial = PseudoHeaderSum(head, isV6, protocol, length);
                break;
            case IpProtocol.Icmp when !isV6:
                initial = 0;
                break;
            case IpProtocol.IcmpV6 when isV6:
                initial = PseudoHeaderSum(head, isV6, protocol, length);
                break;
            default:
                return TransportChecksumStatus.NotCovered;
        }
        uint sum = packet is null ? InternetChecksum.Sum(head.Slice(offset, length), initial) : InternetChecksum.Sum(packet, offset, length, initial);
        return Verifies(sum) ? TransportChecksumStatus.Good : TransportChecksumStatus.Bad;
    }
}
