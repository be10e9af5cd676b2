// Checksum fix-ups for generated and fuzzed packets: after a field is changed, recompute what a sender would have
// written, so the change reaches the code behind checksum validation instead of being dropped at it.
using System.Buffers.Binary;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Testing.Packets;

/// <summary>
/// Recomputes the checksums of a raw IP packet in place: the IPv4 header checksum (RFC 791 §3.1) and the TCP, UDP,
/// ICMPv4 or ICMPv6 checksum over the pseudo-header (RFC 9293 §3.1, RFC 768, RFC 792, RFC 8200 §8.1). Best effort on
/// malformed input: what cannot be located is left alone, and nothing throws for any bytes.
/// </summary>
public static class PacketChecksums
{
    /// <summary>
    /// Fixes every checksum of <paramref name="packet"/> that can be located: the IPv4 header checksum when the
    /// header fits, and the transport checksum unless the packet is a fragment (its checksum covers bytes that
    /// are not here). The transport is what the IP length fields say, cut to the buffer. Returns true when a
    /// transport checksum was written.
    /// </summary>
    public static bool Fix(Span<byte> packet)
    {
        if (packet.IsEmpty)
        {
            return false;
        }
        int version = packet[0] >> 4;
        if (version == 4)
        {
            int ihl = (packet[0] & 0x0F) * 4;
            if (ihl < Ipv4Header.MinLength || packet.Length < ihl)
            {
                return false;
            }
            Ipv4Header.RecomputeChecksum(packet);
            int total = Math.Min(BinaryPrimitives.ReadUInt16BigEndian(packet[2..]), packet.Length);
            ushort fragment = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
            if ((fragment & 0x3FFF) != 0 || total < ihl)
            {
                return false;
            }
            Span<byte> transport = packet[ihl..total];
            uint pseudo = InternetChecksum.PseudoHeaderSumV4(packet.Slice(12, 4), packet.Slice(16, 4), packet[9], transport.Length);
            return FixTransport((IpProtocol)packet[9], transport, pseudo, v6: false);
        }
        if (version == 6 && packet.Length >= Ipv6Header.Length)
        {
            int end = Math.Min(Ipv6Header.Length + BinaryPrimitives.ReadUInt16BigEndian(packet[4..]), packet.Length);
            ReadOnlySpan<byte> payload = packet[Ipv6Header.Length..end];
            if (!Ipv6ExtensionWalker.TryWalk((IpProtocol)packet[6], payload, out Ipv6ExtensionChain chain, out _) || chain.IsFragment)
            {
                return false;
            }
            Span<byte> transport = packet[(Ipv6Header.Length + chain.UpperLayerOffset)..end];
            uint pseudo = InternetChecksum.PseudoHeaderSumV6(packet.Slice(8, 16), packet.Slice(24, 16), (byte)chain.UpperLayerProtocol, transport.Length);
            return FixTransport(chain.UpperLayerProtocol, transport, pseudo, v6: true);
        }
        return false;
    }

    /// <summary>Fixes the checksums of a copy of <paramref name="packet"/> and returns it.</summary>
    public static byte[] Fixed(ReadOnlySpan<byte> packet)
    {
        byte[] copy = packet.ToArray();
        Fix(copy);
        return copy;
    }

    private static bool FixTransport(IpProtocol protocol, Span<byte> transport, uint pseudo, bool v6)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp when transport.Length >= 20:
                TcpHeader.WriteChecksum(transport, pseudo);
                return true;
            case IpProtocol.Udp when transport.Length >= 8:
                // The pseudo-header carries the UDP length field (RFC 768); the checksum covers that many bytes.
                int length = BinaryPrimitives.ReadUInt16BigEndian(transport[4..]);
                if (length < 8 || length > transport.Length)
                {
                    return false;
                }
                Span<byte> datagram = transport[..length];
                uint udpPseudo = length == transport.Length ? pseudo : RebaseLength(pseudo, transport.Length, length);
                UdpHeader.WriteChecksum(datagram, udpPseudo);
                return true;
            case IpProtocol.Icmp when !v6 && transport.Length >= 8:
                IcmpV4Header.WriteChecksum(transport);
                return true;
            case IpProtocol.IcmpV6 when v6 && transport.Length >= 8:
                IcmpV6Header.WriteChecksum(transport, pseudo);
                return true;
            default:
                return false;
        }
    }

    // The pseudo-header sum with its upper-layer length changed from `from` to `to` (RFC 1624 style).
    private static uint RebaseLength(uint pseudo, int from, int to)
    {
        // Lengths enter the sum as a 32-bit big-endian word (IPv6) or a 16-bit one (IPv4): both are
        // the same 16-bit words when the length fits in 16 bits. Subtract the old, add the new.
        uint sum = InternetChecksum.Add(pseudo, (ushort)~(ushort)from);
        return InternetChecksum.Add(sum, (ushort)to);
    }
}
