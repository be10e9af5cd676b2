// Layer: link endpoints, channel. RX checksum validation before GRO and the stack: the IP header (located with
// IpLayout), the IPv4 header checksum and the TCP/UDP checksum (TransportChecksum); link padding trimmed.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Channels;

/// <summary>What RX validation decided about a packet.</summary>
internal enum RxVerdict
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
    /// <summary>IPv6 payload length zero with a Jumbo Payload option (jumbogram, RFC 2675): not supported on this link.</summary>
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
    /// <summary>
    /// Work on the packet threw — RX validation, GRO or the dispatcher (a bug, or input no check foresaw): the packet
    /// is dropped and the fault logged at most once a minute; the endpoint goes on (docs/ARCHITECTURE.md §6).
    /// </summary>
    ProcessingFault,
}

/// <summary>
/// RX checksum validation as the channel endpoint does it before GRO and the stack (ARCHITECTURE.md §2): the IPv4
/// header and its checksum; TCP and UDP checksums with the pseudo-header; the IPv6 extension chain walked to
/// find the transport. Fragments are left to reassembly and ICMP to the stack. Packets carry their
/// headers in the head (as every I/O edge reads them); payload may continue in segments. Link padding past
/// the IP length is trimmed. Never throws on packet contents.
/// </summary>
internal static class RxChecksumValidator
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
        if (!Ipv4Header.TryCreate(head, packet.Length, out Ipv4Header ip, out WireError error))
        {
            // Header cut short, IHL below 5 or past the head: a bad header; total length below it or past the packet: a bad length.
            return Drop(error is WireError.BadTotalLength || (error is WireError.Truncated && head.Length >= Ipv4Header.MinLength)
                ? RxDropReason.Ipv4BadTotalLength : RxDropReason.Ipv4BadHeader, out reason);
        }
        // RFC 791 §3.1 / RFC 1071: the header sums to all ones.
        if (!packet.RxChecksumValidated && !ip.VerifyChecksum())
        {
            return Drop(RxDropReason.Ipv4BadHeaderChecksum, out reason);
        }
        return ValidateTransport(packet, IpLayout.Of(ip), out reason);
    }

    private static RxVerdict ValidateIpv6(PacketBuffer packet, out RxDropReason reason)
    {
        packet.NetworkProtocol = NetworkProtocol.IPv6;
        if (!Ipv6Header.TryCreate(packet.Head, packet.Length, out Ipv6Header ip, out WireError error))
        {
            // RFC 2675 jumbograms need a link that carries more than 64 KiB.
            return Drop(error == WireError.Unsupported ? RxDropReason.Ipv6Jumbogram : RxDropReason.Ipv6BadHeader, out reason);
        }
        // RFC 8200 §4: the extension headers (in the head) up to the transport or the first Fragment header.
        if (!IpLayout.TryLocate(ip, out IpLayout layout, out _))
        {
            return Drop(RxDropReason.Ipv6BadExtensionChain, out reason);
        }
        return ValidateTransport(packet, layout, out reason);
    }

    private static RxVerdict ValidateTransport(PacketBuffer packet, in IpLayout ip, out RxDropReason reason)
    {
        if (ip.Length < packet.Length)
        {
            packet.TrimTo(ip.Length); // link-layer padding
        }
        // Fragments (IPv6 atomic ones included) are left to reassembly, which checks the whole datagram and judges
        // the rest of an IPv6 chain (RFC 7112 §5 asks for an ICMP error there, not a silent drop here).
        if (ip.IsFragment)
        {
            reason = RxDropReason.None;
            return RxVerdict.PassedToStack;
        }
        if (packet.RxChecksumValidated)
        {
            reason = RxDropReason.None;
            return RxVerdict.Validated; // the device verified it
        }
        switch (ip.Protocol)
        {
            case IpProtocol.Tcp:
                {
                    ReadOnlySpan<byte> tcp = packet.Head[ip.TransportOffset..];
                    if (!TcpHeader.TryCreate(tcp[..Math.Min(tcp.Length, ip.TransportLength)], out _, out _))
                    {
                        return Drop(RxDropReason.TcpBadHeader, out reason);
                    }
                    if (TransportChecksum.Verify(packet, ip) != TransportChecksumStatus.Good)
                    {
                        return Drop(RxDropReason.TcpBadChecksum, out reason);
                    }
                    break;
                }
            case IpProtocol.Udp:
                switch (TransportChecksum.Verify(packet, ip))
                {
                    case TransportChecksumStatus.Good:
                        break;
                    case TransportChecksumStatus.Absent:
                        reason = RxDropReason.None;
                        return RxVerdict.PassedToStack; // RFC 768: no checksum was sent
                    case TransportChecksumStatus.ZeroOverIpv6:
                        return Drop(RxDropReason.UdpZeroChecksumOverIpv6, out reason); // RFC 8200 §8.1
                    case TransportChecksumStatus.Malformed:
                        return Drop(RxDropReason.UdpBadHeader, out reason);
                    default:
                        return Drop(RxDropReason.UdpBadChecksum, out reason);
                }
                break;
            default:
                reason = RxDropReason.None;
                return RxVerdict.PassedToStack; // ICMP and the rest: the stack checks them
        }
        packet.RxChecksumValidated = true;
        reason = RxDropReason.None;
        return RxVerdict.Validated;
    }

    private static RxVerdict Drop(RxDropReason why, out RxDropReason reason)
    {
        reason = why;
        return RxVerdict.Drop;
    }
}
