// Layer: GRO. Classifies one validated inbound packet: a TCP segment GRO may merge, or a packet that passes
// straight through (and which held flow, if any, must be flushed first to keep per-flow order).
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Gro;

/// <summary>A TCP connection as GRO keys it: IP version, addresses and ports (ARCHITECTURE.md §4 "same flow").</summary>
internal readonly struct FlowKey : IEquatable<FlowKey>
{
    public readonly UInt128 Source;
    public readonly UInt128 Destination;
    public readonly uint Ports;   // source port << 16 | destination port; 0 when only the addresses are known
    public readonly bool IsV6;

    public FlowKey(UInt128 source, UInt128 destination, uint ports, bool isV6)
    {
        Source = source;
        Destination = destination;
        Ports = ports;
        IsV6 = isV6;
    }

    public bool Equals(FlowKey other) =>
        Source == other.Source && Destination == other.Destination && Ports == other.Ports && IsV6 == other.IsV6;

    public bool SameAddresses(in FlowKey other) =>
        Source == other.Source && Destination == other.Destination && IsV6 == other.IsV6;

    public override bool Equals(object? obj) => obj is FlowKey k && Equals(k);

    public override int GetHashCode() => (int)Hash(0);

    /// <summary>A multiply-xor mix of the key with a per-instance seed (bucket choice only; output order never depends on it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public uint Hash(ulong seed)
    {
        const ulong K1 = 0x9E3779B97F4A7C15, K2 = 0xC2B2AE3D27D4EB4F, K3 = 0x165667B19E3779F9;
        ulong h = seed ^ ((ulong)Source * K1) ^ ((ulong)(Source >> 64) * K2) ^ ((ulong)Destination * K3)
            ^ ((ulong)(Destination >> 64) * K1 >> 7) ^ ((ulong)Ports * K2 >> 3);
        h ^= h >> 31;
        h *= K3;
        h ^= h >> 29;
        return (uint)h;
    }
}

/// <summary>What GRO does with a packet.</summary>
internal enum Disposition
{
    /// <summary>A validated TCP segment with headers in the head: may be merged or held.</summary>
    Candidate,
    /// <summary>Deliver at once; no flow is affected (not TCP, or not parseable).</summary>
    PassThrough,
    /// <summary>Deliver at once after flushing the flow of <see cref="TcpSegmentInfo.Key"/>.</summary>
    PassThroughAfterFlow,
    /// <summary>Deliver at once after flushing every flow between the same addresses (a fragment: ports unknown).</summary>
    PassThroughAfterAddresses,
}

/// <summary>The parsed facts GRO needs about one segment.</summary>
internal struct TcpSegmentInfo
{
    public FlowKey Key;
    public int TcpOffset;        // bytes of IP headers (IPv4 header, or IPv6 fixed + extension headers)
    public int TcpHeaderLength;  // data offset × 4
    public int PayloadLength;
    public int IpLength;         // IPv4 total length, or 40 + IPv6 payload length
    public uint Sequence;
    public TcpFlags Flags;

    public readonly int HeaderLength => TcpOffset + TcpHeaderLength;
}

internal static class TcpSegmentParser
{
    private const int Ipv4FragmentMask = 0x3FFF; // MF and fragment offset (RFC 791 §3.1)

    /// <summary>
    /// Classifies <paramref name="packet"/>. Never throws on packet contents. A <see cref="Disposition.Candidate"/>
    /// is trimmed to its IP length (link padding) and has every header byte in <see cref="PacketBuffer.Head"/>.
    /// </summary>
    public static Disposition Classify(PacketBuffer packet, out TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        info = default;
        ReadOnlySpan<byte> head = packet.Head;
        if (head.IsEmpty)
        {
            reason = GroPassThroughReason.Malformed;
            return Disposition.PassThrough;
        }
        return (head[0] >> 4) switch
        {
            4 => ClassifyV4(packet, head, ref info, out reason),
            6 => ClassifyV6(packet, head, ref info, out reason),
            _ => Pass(GroPassThroughReason.Malformed, out reason),
        };
    }

    private static Disposition ClassifyV4(PacketBuffer packet, ReadOnlySpan<byte> head, ref TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        if (head.Length < Ipv4Header.MinLength)
        {
            return Pass(GroPassThroughReason.Malformed, out reason);
        }
        int ihl = (head[0] & 0x0F) * 4;
        int totalLength = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.TotalLengthOffset..]);
        if (ihl < Ipv4Header.MinLength || totalLength < ihl || totalLength > packet.Length)
        {
            return Pass(GroPassThroughReason.Malformed, out reason);
        }
        if ((IpProtocol)head[Ipv4Header.ProtocolOffset] != IpProtocol.Tcp)
        {
            return Pass(GroPassThroughReason.NotTcp, out reason);
        }
        UInt128 source = BinaryPrimitives.ReadUInt32BigEndian(head[Ipv4Header.SourceOffset..]);
        UInt128 destination = BinaryPrimitives.ReadUInt32BigEndian(head[Ipv4Header.DestinationOffset..]);
        if ((BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.FragmentOffsetField..]) & Ipv4FragmentMask) != 0)
        {
            info.Key = new FlowKey(source, destination, 0, isV6: false);
            reason = GroPassThroughReason.Fragment;
            return Disposition.PassThroughAfterAddresses;
        }
        if (head.Length < ihl + 4 || totalLength < ihl + 4)
        {
            return Pass(GroPassThroughReason.HeadersNotInHead, out reason);
        }
        info.Key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt32BigEndian(head[ihl..]), isV6: false);
        if (ihl != Ipv4Header.MinLength)
        {
            reason = GroPassThroughReason.Ipv4Options;
            return Disposition.PassThroughAfterFlow;
        }
        return ClassifyTcp(packet, head, ihl, totalLength, ref info, out reason);
    }

    private static Disposition ClassifyV6(PacketBuffer packet, ReadOnlySpan<byte> head, ref TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        if (head.Length < Ipv6Header.Length)
        {
            return Pass(GroPassThroughReason.Malformed, out reason);
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv6Header.PayloadLengthOffset..]);
        int ipLength = Ipv6Header.Length + payloadLength;
        if (payloadLength == 0 || ipLength > packet.Length)
        {
            return Pass(GroPassThroughReason.Malformed, out reason); // payload length 0: a jumbogram or nothing to merge
        }
        var next = (IpProtocol)head[Ipv6Header.NextHeaderOffset];
        int tcpOffset = Ipv6Header.Length;
        UInt128 source = BinaryPrimitives.ReadUInt128BigEndian(head[Ipv6Header.SourceOffset..]);
        UInt128 destination = BinaryPrimitives.ReadUInt128BigEndian(head[Ipv6Header.DestinationOffset..]);
        if (next != IpProtocol.Tcp)
        {
            if (!Ipv6ExtensionWalker.IsExtensionHeader(next))
            {
                return Pass(GroPassThroughReason.NotTcp, out reason);
            }
            // RFC 8200 §4: the chain must be in the head for GRO to compare it byte for byte.
            ReadOnlySpan<byte> chainBytes = head[Ipv6Header.Length..Math.Min(head.Length, ipLength)];
            if (!Ipv6ExtensionWalker.TryWalk(next, chainBytes, out Ipv6ExtensionChain chain, out WireError error))
            {
                return Pass(error == WireError.Truncated || error == WireError.BadHeaderLength
                    ? GroPassThroughReason.HeadersNotInHead : GroPassThroughReason.Malformed, out reason);
            }
            if (chain.HasFragmentHeader)
            {
                info.Key = new FlowKey(source, destination, 0, isV6: true);
                reason = GroPassThroughReason.Fragment;
                return Disposition.PassThroughAfterAddresses;
            }
            if (chain.UpperLayerProtocol != IpProtocol.Tcp)
            {
                return Pass(GroPassThroughReason.NotTcp, out reason);
            }
            tcpOffset += chain.UpperLayerOffset;
            if (head.Length < tcpOffset + 4 || ipLength < tcpOffset + 4)
            {
                return Pass(GroPassThroughReason.HeadersNotInHead, out reason);
            }
            info.Key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt32BigEndian(head[tcpOffset..]), isV6: true);
            if (chain.HasRoutingHeader)
            {
                reason = GroPassThroughReason.Ipv6RoutingHeader;
                return Disposition.PassThroughAfterFlow;
            }
        }
        else
        {
            if (head.Length < tcpOffset + 4 || ipLength < tcpOffset + 4)
            {
                return Pass(GroPassThroughReason.HeadersNotInHead, out reason);
            }
            info.Key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt32BigEndian(head[tcpOffset..]), isV6: true);
        }
        return ClassifyTcp(packet, head, tcpOffset, ipLength, ref info, out reason);
    }

    // The flow key is known from here on: anything that is not a candidate flushes the flow first.
    private static Disposition ClassifyTcp(PacketBuffer packet, ReadOnlySpan<byte> head, int tcpOffset, int ipLength,
        ref TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        if (!packet.RxChecksumValidated)
        {
            reason = GroPassThroughReason.NotValidated;
            return Disposition.PassThroughAfterFlow;
        }
        if (packet.Gso.IsGso)
        {
            reason = GroPassThroughReason.AlreadyCoalesced;
            return Disposition.PassThroughAfterFlow;
        }
        if (head.Length < tcpOffset + TcpHeader.MinLength || ipLength < tcpOffset + TcpHeader.MinLength)
        {
            reason = ipLength < tcpOffset + TcpHeader.MinLength ? GroPassThroughReason.Malformed : GroPassThroughReason.HeadersNotInHead;
            return Disposition.PassThroughAfterFlow;
        }
        ReadOnlySpan<byte> tcp = head[tcpOffset..];
        int tcpHeaderLength = (tcp[12] >> 4) * 4;
        if (tcpHeaderLength < TcpHeader.MinLength || tcpOffset + tcpHeaderLength > ipLength)
        {
            reason = GroPassThroughReason.Malformed;
            return Disposition.PassThroughAfterFlow;
        }
        if (tcpOffset + tcpHeaderLength > head.Length)
        {
            reason = GroPassThroughReason.HeadersNotInHead;
            return Disposition.PassThroughAfterFlow;
        }
        if (packet.Length > ipLength)
        {
            packet.TrimTo(ipLength); // link-layer padding is not payload
        }
        info.TcpOffset = tcpOffset;
        info.TcpHeaderLength = tcpHeaderLength;
        info.IpLength = ipLength;
        info.PayloadLength = ipLength - tcpOffset - tcpHeaderLength;
        info.Sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        info.Flags = (TcpFlags)(BinaryPrimitives.ReadUInt16BigEndian(tcp[12..]) & 0x01FF);
        reason = default;
        return Disposition.Candidate;
    }

    private static Disposition Pass(GroPassThroughReason why, out GroPassThroughReason reason)
    {
        reason = why;
        return Disposition.PassThrough;
    }
}
