// How many leading bytes of a packet hold its IP header, IPv6 extension headers and the TCP/UDP header: the bytes
// RxChecksumValidator needs in a packet's head (its contract: headers in the head, payload anywhere).
using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Fuzz.Support;

/// <summary>Finds the header bytes of a raw IP packet, conservatively (the whole packet when in doubt).</summary>
public static class HeaderSpan
{
    /// <summary>
    /// The number of leading bytes of <paramref name="packet"/> that must be in the head for RX validation to judge
    /// it as it judges the flat packet: the headers when they parse, else the whole packet.
    /// </summary>
    public static int Of(ReadOnlySpan<byte> packet)
    {
        if (packet.IsEmpty)
        {
            return 0;
        }
        return (packet[0] >> 4) switch
        {
            4 => OfIpv4(packet),
            6 => OfIpv6(packet),
            _ => packet.Length,
        };
    }

    private static int OfIpv4(ReadOnlySpan<byte> packet)
    {
        if (!Ipv4Header.TryCreate(packet, out Ipv4Header ip, out _))
        {
            return packet.Length;
        }
        if (ip.IsFragment)
        {
            return ip.HeaderLength;
        }
        return Transport(packet, ip.Protocol, ip.HeaderLength, ip.TotalLength - ip.HeaderLength);
    }

    private static int OfIpv6(ReadOnlySpan<byte> packet)
    {
        if (!Ipv6Header.TryCreate(packet, out Ipv6Header ip, out _) || (ip.PayloadLength == 0 && ip.NextHeader == IpProtocol.HopByHop))
        {
            return packet.Length;
        }
        if (!Ipv6ExtensionWalker.TryWalk(ip, out Ipv6ExtensionChain chain, out _))
        {
            return packet.Length;
        }
        int offset = Ipv6Header.Length + chain.UpperLayerOffset;
        if (chain.IsFragment)
        {
            return offset;
        }
        return Transport(packet, chain.UpperLayerProtocol, offset, Ipv6Header.Length + ip.PayloadLength - offset);
    }

    private static int Transport(ReadOnlySpan<byte> packet, IpProtocol protocol, int offset, int length)
    {
        switch (protocol)
        {
            case IpProtocol.Tcp:
                if (length < TcpHeader.MinLength || packet.Length < offset + TcpHeader.MinLength)
                {
                    return packet.Length;
                }
                int dataOffset = TcpHeader.GetHeaderLength(packet[offset..]);
                return Math.Min(packet.Length, offset + Math.Max(TcpHeader.MinLength, dataOffset));
            case IpProtocol.Udp:
                return Math.Min(packet.Length, offset + UdpHeader.HeaderLength);
            default:
                return Math.Min(packet.Length, offset);
        }
    }

    /// <summary>A pseudo-header sum over fixed addresses for targets that check L4 checksums without an IP header.</summary>
    public static uint FixedPseudoHeaderSum(byte protocol, int length, bool ipv6)
    {
        Span<byte> addresses = stackalloc byte[32];
        for (int i = 0; i < addresses.Length; i++)
        {
            addresses[i] = (byte)(0x11 * (i + 1));
        }
        BinaryPrimitives.WriteUInt16BigEndian(addresses, 0xFD00);
        return ipv6
            ? Checksums.InternetChecksum.PseudoHeaderSumV6(addresses[..16], addresses[16..], protocol, length)
            : Checksums.InternetChecksum.PseudoHeaderSumV4(addresses[..4], addresses[4..8], protocol, length);
    }
}
