// IPv6 fixed header view (RFC 8200 §3): 40 bytes, then the payload (extension headers and upper layer)
// up to the payload length.
using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace NetStack.Wire;

/// <summary>
/// A checked, read-only view of an IPv6 packet over a span. <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv6Header, out WireError)"/> checks the version and
/// that the buffer holds the 40-byte header and <see cref="PayloadLength"/> bytes after it; the view then
/// covers exactly the header and payload, so trailing link padding is not payload. Extension headers are
/// walked separately with <see cref="Ipv6ExtensionWalker"/>.
/// </summary>
public readonly ref struct Ipv6Header
{
    /// <summary>Length of the fixed header (RFC 8200 §3).</summary>
    public const int Length = 40;

    /// <summary>
    /// The offset table (RFC 8200 §3): where each field starts, shared by the view, its setters and
    /// <see cref="Ipv6Repr.Emit"/>. <c>VersionOffset</c> is the first 32-bit word: version (4 bits), traffic class
    /// (8 bits) and flow label (20 bits, <c>FlowLabelMask</c>).
    /// </summary>
    public const int VersionOffset = 0, PayloadLengthOffset = 4, NextHeaderOffset = 6, HopLimitOffset = 7, SourceOffset = 8, DestinationOffset = 24;

    /// <summary>The flow label in the first word.</summary>
    public const uint FlowLabelMask = 0x000F_FFFF;

    private readonly ReadOnlySpan<byte> _packet;

    private Ipv6Header(ReadOnlySpan<byte> packet) => _packet = packet;

    /// <summary>
    /// Makes a view over <paramref name="buffer"/>, which starts with the IPv6 header. Fails with
    /// <see cref="WireError.Truncated"/> when the buffer is shorter than 40 bytes or than 40 + payload length,
    /// <see cref="WireError.BadVersion"/> when the version is not 6, and <see cref="WireError.Unsupported"/>
    /// for a jumbogram (payload length 0 and a Jumbo Payload option in a hop-by-hop header, RFC 2675).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out Ipv6Header header, out WireError error) =>
        TryCreate(buffer, buffer.Length, out header, out error);

    /// <summary>
    /// Makes a view over the fixed header at the start of <paramref name="head"/>, the first piece of a packet
    /// of <paramref name="packetLength"/> bytes whose payload may continue in other pieces (a
    /// <see cref="Buffers.PacketBuffer"/>'s head): the 40 bytes must lie in <paramref name="head"/> and
    /// 40 + payload length within <paramref name="packetLength"/>; the errors are those of
    /// <see cref="TryCreate(ReadOnlySpan{byte}, out Ipv6Header, out WireError)"/>. <see cref="Packet"/> and
    /// <see cref="Payload"/> then hold only what the head holds of the packet.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryCreate(ReadOnlySpan<byte> head, int packetLength, out Ipv6Header header, out WireError error)
    {
        header = default;
        if (head.Length < Length)
        {
            error = WireError.Truncated;
            return false;
        }
        if (head[VersionOffset] >> 4 != 6)
        {
            error = WireError.BadVersion;
            return false;
        }
        int payloadLength = BinaryPrimitives.ReadUInt16BigEndian(head[PayloadLengthOffset..]);
        if (payloadLength == 0 && head[NextHeaderOffset] == (byte)IpProtocol.HopByHop && HasJumboOption(head[Length..]))
        {
            error = WireError.Unsupported;
            return false;
        }
        if (Length + payloadLength > packetLength)
        {
            error = WireError.Truncated;
            return false;
        }
        header = new Ipv6Header(head[..Math.Min(Length + payloadLength, head.Length)]);
        error = WireError.None;
        return true;
    }

    // RFC 2675 §2: a jumbogram has payload length 0 and a Jumbo Payload option in the hop-by-hop header,
    // which then lies past the (zero) payload length: look at the buffer, not the payload.
    private static bool HasJumboOption(ReadOnlySpan<byte> afterHeader)
    {
        if (!Ipv6OptionsHeader.TryCreate(afterHeader, out Ipv6OptionsHeader hopByHop, out _))
        {
            return false;
        }
        var reader = hopByHop.GetOptions();
        while (reader.MoveNext())
        {
            if (reader.Current.Type == Ipv6Option.JumboPayload)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Version field (always 6 in a view).</summary>
    public int Version => _packet[VersionOffset] >> 4;

    /// <summary>Traffic class: DSCP and ECN (RFC 8200 §7).</summary>
    public byte TrafficClass => (byte)(BinaryPrimitives.ReadUInt16BigEndian(_packet[VersionOffset..]) >> 4);

    /// <summary>Differentiated services code point, the upper six bits of the traffic class (RFC 2474 §3).</summary>
    public byte Dscp => (byte)(TrafficClass >> 2);

    /// <summary>Explicit congestion notification, the lower two bits of the traffic class (RFC 3168 §5).</summary>
    public byte Ecn => (byte)(TrafficClass & 0x03);

    /// <summary>Flow label, 20 bits (RFC 8200 §6, RFC 6437).</summary>
    public uint FlowLabel => BinaryPrimitives.ReadUInt32BigEndian(_packet[VersionOffset..]) & FlowLabelMask;

    /// <summary>Payload length: bytes after the fixed header, extension headers included.</summary>
    public int PayloadLength => BinaryPrimitives.ReadUInt16BigEndian(_packet[PayloadLengthOffset..]);

    /// <summary>Type of the header after the fixed header (an extension header or the upper layer).</summary>
    public IpProtocol NextHeader => (IpProtocol)_packet[NextHeaderOffset];

    /// <summary>Hop limit.</summary>
    public byte HopLimit => _packet[HopLimitOffset];

    /// <summary>Source address, 16 bytes in network order.</summary>
    public ReadOnlySpan<byte> SourceAddress => _packet.Slice(SourceOffset, 16);

    /// <summary>Destination address, 16 bytes in network order.</summary>
    public ReadOnlySpan<byte> DestinationAddress => _packet.Slice(DestinationOffset, 16);

    /// <summary>Source address as a number (the sixteen bytes read big-endian).</summary>
    public UInt128 Source => BinaryPrimitives.ReadUInt128BigEndian(_packet[SourceOffset..]);

    /// <summary>Destination address as a number (the sixteen bytes read big-endian).</summary>
    public UInt128 Destination => BinaryPrimitives.ReadUInt128BigEndian(_packet[DestinationOffset..]);

    /// <summary>The 40 bytes of the fixed header.</summary>
    public ReadOnlySpan<byte> Header => _packet[..Length];

    /// <summary>
    /// The payload: <see cref="PayloadLength"/> bytes after the fixed header (link padding excluded); for a view
    /// over a head, the part of it the head holds.
    /// </summary>
    public ReadOnlySpan<byte> Payload => _packet[Length..];

    /// <summary>The packet: fixed header and payload (for a view over a head, the part the head holds).</summary>
    public ReadOnlySpan<byte> Packet => _packet;

    /// <summary>Overwrites the payload-length field of the header at the start of <paramref name="packet"/> (GRO, GSO, fragmentation).</summary>
    public static void SetPayloadLength(Span<byte> packet, ushort payloadLength) =>
        BinaryPrimitives.WriteUInt16BigEndian(packet[PayloadLengthOffset..], payloadLength);

    /// <summary>Overwrites the next-header field of the fixed header (reassembly removes a fragment header).</summary>
    public static void SetNextHeader(Span<byte> packet, IpProtocol nextHeader) => packet[NextHeaderOffset] = (byte)nextHeader;

    /// <summary>Overwrites the hop limit (forwarding).</summary>
    public static void SetHopLimit(Span<byte> packet, byte hopLimit) => packet[HopLimitOffset] = hopLimit;
}
