using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Channels;

/// <summary>What RX validation decided about a packet.</summary>
public enum RxVerdict
{
    /// <summary>Headers are consistent and the transport checksum verified: the packet is marked <see cref="PacketBuffer.RxChecksumValidated"/>.</summary>
    Validated,
    /// <summary>Headers are consistent but the transport was not checked here (fragments go to reassembly, ICMP and others to the stack).</summary>
    PassedToStack,
    /// <summary>The packet is malformed or fails a checksum; see the drop reason.</summary>
    Drop,
}

/// <summary>Why RX validation dropped a packet.</summary>
public enum RxDropReason
{
    /// <summary>Not dropped.</summary>
    None = 0,
    /// <summary>Zero-length packet.</summary>
    Empty,
    /// <summary>The version nibble is neither 4 nor 6.</summary>
    UnknownIpVersion,
    /// <summary>IPv4 header shorter than 20 bytes, IHL below 5, or header past the buffer.</summary>
    Ipv4BadHeader,
    /// <summary>IPv4 total length below the header length or past the packet.</summary>
    Ipv4BadTotalLength,
    /// <summary>IPv4 header checksum does not verify (RFC 791).</summary>
    Ipv4BadHeaderChecksum,
    /// <summary>IPv6 fixed header cut short, or payload length past the packet.</summary>
    Ipv6BadHeader,
    /// <summary>IPv6 payload length zero (jumbogram, RFC 2675): not supported on this link.</summary>
    Ipv6Jumbogram,
    /// <summary>The IPv6 extension-header chain is malformed or too long.</summary>
    Ipv6BadExtensionChain,
    /// <summary>TCP header shorter than 20 bytes or data offset inconsistent.</summary>
    TcpBadHeader,
    /// <summary>TCP checksum does not verify (RFC 9293 §3.1).</summary>
    TcpBadChecksum,
    /// <summary>UDP header cut short or length field inconsistent (RFC 768).</summary>
    UdpBadHeader,
    /// <summary>UDP checksum does not verify.</summary>
    UdpBadChecksum,
    /// <summary>UDP over IPv6 with a zero checksum (RFC 8200 §8.1).</summary>
    UdpZeroChecksumOverIpv6,
}

/// <summary>
/// RX checksum validation as the channel endpoint does it before GRO and the stack (ARCHITECTURE.md §2): the IPv4
/// header and its checksum; TCP and UDP checksums with the pseudo-header; the IPv6 extension chain walked to
/// find the transport. Fragments are left to reassembly and ICMP to the stack. Packets carry their
/// headers in the head (as every I/O edge reads them); payload may continue in segments. Link padding past
/// the IP length is trimmed. Never throws on packet contents.
/// </summary>
public static class RxChecksumValidator
{
    /// <summary>
    /// Validates <paramref name="packet"/>, sets its <see cref="PacketBuffer.NetworkProtocol"/>, and marks it
    /// validated when the transport checksum verified. A packet already marked validated (e.g. the device
    /// said so) keeps its mark and its checksums are not recomputed.
    /// </summary>
    public static RxVerdict Validate(PacketBuffer packet, out RxDropReason reason)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (packet.Length == 0)
        {
            return Drop(RxDropReason.Empty, out reason);
        }
        return (packet.Head.Length > 0 ? packet.Head[0] >> 4 : 0) switch
        {
            4 => ValidateIpv4(packet, out reason),
            6 => ValidateIpv6(packet, out reason),
            _ => Drop(RxDropReason.UnknownIpVersion, out reason),
        };
    }

    private static RxVerdict ValidateIpv4(PacketBuffer packet, out RxDropReason reason)
    {
        packet.NetworkProtocol = NetworkProtocol.IPv4;
        ReadOnlySpan<byte> head = packet.Head;
        if (head.Length < Ipv4Header.MinLength)
        {
            return Drop(RxDropReason.Ipv4BadHeader, out reason);
        }
        int headerLength = (head[0] & 0x0F) * 4;
        if (headerLength < Ipv4Header.MinLength || headerLength > head.Length)
        {
            return Drop(RxDropReason.Ipv4BadHeader, out reason);
        }
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.TotalLengthOffset..]);
        if (totalLength < headerLength || totalLength > packet.Length)
        {
            return Drop(RxDropReason.Ipv4BadTotalLength, out reason);
        }
        bool trusted = packet.RxChecksumValidated;
        // RFC 791 §3.1 / RFC 1071: the header sums to all ones.
        if (!trusted && !Ipv4Header.VerifyChecksum(head[..headerLength]))
        {
            return Drop(RxDropReason.Ipv4BadHeaderChecksum, out reason);
        }
        if (totalLength < packet.Length)
        {
            packet.TrimTo(totalLength); // link-layer padding
            head = packet.Head;
        }
        ushort flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.FragmentOffsetField..]);
        if ((flagsAndOffset & 0x3FFF) != 0)
        {
            reason = RxDropReason.None;
            return RxVerdict.PassedToStack; // a fragment: reassembly checks the whole datagram
        }
        var protocol = (IpProtocol)head[Ipv4Header.ProtocolOffset];
        if (trusted)
        {
            reason = RxDropReason.None;
            return RxVerdict.Validated;
        }
        uint pseudo = InternetChecksum.PseudoHeaderSumV4(head.Slice(Ipv4Header.SourceOffset, 4), head.Slice(Ipv4Header.DestinationOffset, 4),
            (byte)protocol, totalLength - headerLength);
        return ValidateTransport(packet, protocol, headerLength, totalLength - headerLength, pseudo, NetworkProtocol.IPv4, out reason);
    }

    private static RxVerdict ValidateIpv6(PacketBuffer packet, out RxDropReason reason)
    {
        packet.NetworkProtocol = NetworkProtocol.IPv6;
        ReadOnlySpan<byte> head = packet.Head;
        if (head.Length < Ipv6Header.Length)
        {
            return Drop(RxDropReason.Ipv6BadHeader, out reason);
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv6Header.PayloadLengthOffset..]);
        if (payloadLength == 0 && (IpProtocol)head[Ipv6Header.NextHeaderOffset] == IpProtocol.HopByHop)
        {
            return Drop(RxDropReason.Ipv6Jumbogram, out reason); // RFC 2675 needs a 64 KiB+ link
        }
        if (Ipv6Header.Length + payloadLength > packet.Length)
        {
            return Drop(RxDropReason.Ipv6BadHeader, out reason);
        }
        if (Ipv6Header.Length + payloadLength < packet.Length)
        {
            packet.TrimTo(Ipv6Header.Length + payloadLength);
            head = packet.Head;
        }
        // RFC 8200 §4: walk the extension headers (they must be in the head) to find the transport.
        ReadOnlySpan<byte> afterFixed = head[Ipv6Header.Length..];
        if (afterFixed.Length > payloadLength)
        {
            afterFixed = afterFixed[..payloadLength];
        }
        var walker = new Ipv6ExtensionWalker((IpProtocol)head[Ipv6Header.NextHeaderOffset], afterFixed);
        while (walker.MoveNext())
        {
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                // Fragments (atomic ones included) are left to reassembly, which also judges the rest of
                // the chain (RFC 7112 §5 asks for an ICMP error there, not a silent drop here).
                reason = RxDropReason.None;
                return RxVerdict.PassedToStack;
            }
        }
        if (walker.Error != WireError.None)
        {
            return Drop(RxDropReason.Ipv6BadExtensionChain, out reason);
        }
        var chain = (UpperLayerProtocol: walker.NextHeader, UpperLayerOffset: walker.Offset);
        if (packet.RxChecksumValidated)
        {
            reason = RxDropReason.None;
            return RxVerdict.Validated;
        }
        int transportOffset = Ipv6Header.Length + chain.UpperLayerOffset;
        int transportLength = Ipv6Header.Length + payloadLength - transportOffset;
        uint pseudo = InternetChecksum.PseudoHeaderSumV6(head.Slice(Ipv6Header.SourceOffset, 16), head.Slice(Ipv6Header.DestinationOffset, 16),
            (byte)chain.UpperLayerProtocol, transportLength);
        return ValidateTransport(packet, chain.UpperLayerProtocol, transportOffset, transportLength, pseudo, NetworkProtocol.IPv6, out reason);
    }

    private static RxVerdict ValidateTransport(PacketBuffer packet, IpProtocol protocol, int offset, int length, uint pseudo,
        NetworkProtocol network, out RxDropReason reason)
    {
        ReadOnlySpan<byte> head = packet.Head;
        switch (protocol)
        {
            case IpProtocol.Tcp:
                {
                    if (length < TcpHeader.MinLength || head.Length < offset + TcpHeader.MinLength)
                    {
                        return Drop(RxDropReason.TcpBadHeader, out reason);
                    }
                    int dataOffset = (head[offset + 12] >> 4) * 4;
                    if (dataOffset < TcpHeader.MinLength || dataOffset > length || head.Length < offset + dataOffset)
                    {
                        return Drop(RxDropReason.TcpBadHeader, out reason);
                    }
                    if (InternetChecksum.Fold(InternetChecksum.Sum(packet, offset, length, pseudo)) != 0xFFFF)
                    {
                        return Drop(RxDropReason.TcpBadChecksum, out reason);
                    }
                    break;
                }
            case IpProtocol.Udp:
                {
                    if (length < UdpHeader.HeaderLength || head.Length < offset + UdpHeader.HeaderLength)
                    {
                        return Drop(RxDropReason.UdpBadHeader, out reason);
                    }
                    int udpLength = BinaryPrimitives.ReadUInt16BigEndian(head[(offset + UdpHeader.LengthOffset)..]);
                    if (udpLength < UdpHeader.HeaderLength || udpLength > length)
                    {
                        return Drop(RxDropReason.UdpBadHeader, out reason);
                    }
                    ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(head[(offset + UdpHeader.ChecksumOffset)..]);
                    if (checksum == 0)
                    {
                        if (network == NetworkProtocol.IPv6)
                        {
                            return Drop(RxDropReason.UdpZeroChecksumOverIpv6, out reason); // RFC 8200 §8.1
                        }
                        reason = RxDropReason.None;
                        return RxVerdict.PassedToStack; // RFC 768: no checksum was sent
                    }
                    if (udpLength != length)
                    {
                        // The pseudo-header carries the UDP length, which may be shorter than the IP payload.
                        pseudo = AdjustLength(pseudo, length, udpLength);
                    }
                    if (InternetChecksum.Fold(InternetChecksum.Sum(packet, offset, udpLength, pseudo)) != 0xFFFF)
                    {
                        return Drop(RxDropReason.UdpBadChecksum, out reason);
                    }
                    break;
                }
            default:
                reason = RxDropReason.None;
                return RxVerdict.PassedToStack; // ICMP and the rest: the stack checks them
        }
        packet.RxChecksumValidated = true;
        reason = RxDropReason.None;
        return RxVerdict.Validated;
    }

    /// <summary>Replaces the length term of a pseudo-header sum (ones'-complement subtract, then add).</summary>
    private static uint AdjustLength(uint pseudo, int oldLength, int newLength)
    {
        uint folded = InternetChecksum.Fold(pseudo);
        // Subtracting x in ones'-complement is adding ~x (16-bit); lengths here are < 65536.
        return InternetChecksum.Add(InternetChecksum.Add(folded, (ushort)~(ushort)oldLength), (ushort)newLength);
    }

    private static RxVerdict Drop(RxDropReason why, out RxDropReason reason)
    {
        reason = why;
        return RxVerdict.Drop;
    }
}
