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
        if (!Ipv4Header.TryCreate(head, packet.Length, out Ipv4Header ip, out _))
        {
            return Pass(GroPassThroughReason.Malformed, out reason);
        }
        return ClassifyIp(packet, head, IpLayout.Of(ip), ip.Source, ip.Destination, ref info, out reason);
    }

    private static Disposition ClassifyV6(PacketBuffer packet, ReadOnlySpan<byte> head, ref TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        if (!Ipv6Header.TryCreate(head, packet.Length, out Ipv6Header ip, out _) || ip.PayloadLength == 0)
        {
            return Pass(GroPassThroughReason.Malformed, out reason); // payload length 0: a jumbogram or nothing to merge
        }
        // RFC 8200 §4: the chain must be in the head for GRO to compare it byte for byte.
        if (!IpLayout.TryLocate(ip, out IpLayout layout, out WireError error))
        {
            return Pass(error is WireError.Truncated or WireError.BadHeaderLength ? GroPassThroughReason.HeadersNotInHead : GroPassThroughReason.Malformed, out reason);
        }
        return ClassifyIp(packet, head, layout, ip.Source, ip.Destination, ref info, out reason);
    }

    private static Disposition ClassifyIp(PacketBuffer packet, ReadOnlySpan<byte> head, in IpLayout ip, UInt128 source, UInt128 destination,
        ref TcpSegmentInfo info, out GroPassThroughReason reason)
    {
        if (ip.Protocol != IpProtocol.Tcp)
        {
            return Pass(GroPassThroughReason.NotTcp, out reason);
        }
        if (ip.IsFragment)
        {
            info.Key = new FlowKey(source, destination, 0, ip.IsV6); // ports unknown (RFC 791 §3.2, RFC 8200 §4.5)
            reason = GroPassThroughReason.Fragment;
            return Disposition.PassThroughAfterAddresses;
        }
        int tcpOffset = ip.TransportOffset;
        if (head.Length < tcpOffset + 4 || ip.Length < tcpOffset + 4)
        {
            return Pass(GroPassThroughReason.HeadersNotInHead, out reason);
        }
        info.Key = new FlowKey(source, destination, BinaryPrimitives.ReadUInt32BigEndian(head[tcpOffset..]), ip.IsV6);
        if (ip.HeaderLength != Ipv4Header.MinLength && !ip.IsV6)
        {
            reason = GroPassThroughReason.Ipv4Options;
            return Disposition.PassThroughAfterFlow;
        }
        if (ip.HasRoutingHeader)
        {
            reason = GroPassThroughReason.Ipv6RoutingHeader;
            return Disposition.PassThroughAfterFlow;
        }
        return ClassifyTcp(packet, head, tcpOffset, ip.Length, ref info, out reason);
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
        int tcpHeaderLength = TcpHeader.GetHeaderLength(tcp);
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
        info.Sequence = TcpHeader.GetSequenceNumber(tcp);
        info.Flags = TcpHeader.GetFlags(tcp);
        reason = default;
        return Disposition.Candidate;
    }

    private static Disposition Pass(GroPassThroughReason why, out GroPassThroughReason reason)
    {
        reason = why;
        return Disposition.PassThrough;
    }
}
