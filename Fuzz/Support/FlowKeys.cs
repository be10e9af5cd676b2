// The flow a raw IP packet belongs to, as far as its bytes tell: version and addresses, then protocol and ports
// for TCP/UDP that is not a fragment. GRO keeps the order of packets within such a key.
using System.Buffers.Binary;
using NetStack.Wire;

namespace NetStack.Fuzz.Support;

/// <summary>Flow keys and checksum normalization for comparing packets across GRO and GSO.</summary>
public static class FlowKeys
{
    /// <summary>A key for <paramref name="packet"/>: a string of version, addresses, protocol and ports (what parses).</summary>
    public static string Of(ReadOnlySpan<byte> packet)
    {
        if (packet.IsEmpty)
        {
            return "empty";
        }
        if (Ipv4Header.TryCreate(packet, out Ipv4Header v4, out _))
        {
            string addresses = "4:" + Convert.ToHexString(packet.Slice(12, 8));
            return v4.IsFragment || v4.Protocol != IpProtocol.Tcp || v4.Payload.Length < 4
                ? addresses
                : $"{addresses}:{BinaryPrimitives.ReadUInt32BigEndian(v4.Payload):X8}";
        }
        if (Ipv6Header.TryCreate(packet, out Ipv6Header v6, out _))
        {
            string addresses = "6:" + Convert.ToHexString(packet.Slice(8, 32));
            if (!Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _) || chain.IsFragment || chain.UpperLayerProtocol != IpProtocol.Tcp
                || v6.Payload.Length < chain.UpperLayerOffset + 4)
            {
                return addresses;
            }
            return $"{addresses}:{BinaryPrimitives.ReadUInt32BigEndian(v6.Payload[chain.UpperLayerOffset..]):X8}";
        }
        return "other";
    }

    /// <summary>
    /// A copy of a TCP packet with its IPv4 header checksum and TCP checksum written as 0x0000 when they are 0xFFFF:
    /// both encodings of a one's-complement zero verify (RFC 1624 §3), and a recomputed checksum is never 0xFFFF.
    /// </summary>
    public static byte[] NormalizeChecksums(ReadOnlySpan<byte> packet)
    {
        byte[] copy = packet.ToArray();
        int tcp = -1;
        if (Ipv4Header.TryCreate(copy, out Ipv4Header v4, out _))
        {
            Zero(copy, Ipv4Header.ChecksumOffset);
            tcp = v4.Protocol == IpProtocol.Tcp ? v4.HeaderLength : -1;
        }
        else if (Ipv6Header.TryCreate(copy, out Ipv6Header v6, out _) && Ipv6ExtensionWalker.TryWalk(v6, out Ipv6ExtensionChain chain, out _)
            && chain.UpperLayerProtocol == IpProtocol.Tcp)
        {
            tcp = Ipv6Header.Length + chain.UpperLayerOffset;
        }
        if (tcp >= 0 && copy.Length >= tcp + 18)
        {
            Zero(copy, tcp + 16);
        }
        return copy;
    }

    private static void Zero(byte[] packet, int offset)
    {
        if (packet[offset] == 0xFF && packet[offset + 1] == 0xFF)
        {
            packet[offset] = 0;
            packet[offset + 1] = 0;
        }
    }
}
