// IPv6 fixed header representation (RFC 8200 §3) and its emitter.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// The fields of the IPv6 fixed header. <see cref="TryParse"/> reads a <see cref="Ipv6Header"/>;
/// <see cref="Emit"/> writes the 40 bytes. Extension headers and the payload are not part of the repr: emit
/// them after the fixed header (<see cref="Ipv6FragmentRepr"/>, <see cref="Ipv6OptionsHeader.Emit"/>,
/// <see cref="Ipv6RoutingHeader.Emit"/>) and count them in <see cref="PayloadLength"/>. Fields wider than
/// their wire field are cut to it on emit (flow label 20 bits, payload length 16 bits).
/// </summary>
public record struct Ipv6Repr
{
    /// <summary>Bytes <see cref="Emit"/> writes.</summary>
    public const int BufferLength = Ipv6Header.Length;

    /// <summary>Traffic class: DSCP in the upper six bits, ECN in the lower two.</summary>
    public byte TrafficClass;
    /// <summary>Flow label (20 bits).</summary>
    public uint FlowLabel;
    /// <summary>Payload length: extension headers and upper-layer data after the fixed header (at most 65535).</summary>
    public int PayloadLength;
    /// <summary>Type of the header after the fixed header.</summary>
    public IpProtocol NextHeader;
    /// <summary>Hop limit.</summary>
    public byte HopLimit;
    /// <summary>Source address as a number (big-endian reading of the sixteen bytes).</summary>
    public UInt128 Source;
    /// <summary>Destination address as a number (big-endian reading of the sixteen bytes).</summary>
    public UInt128 Destination;

    /// <summary>
    /// Reads the fixed-header fields of <paramref name="header"/>. Every view <see cref="Ipv6Header.TryCreate(ReadOnlySpan{byte}, out Ipv6Header, out WireError)"/>
    /// accepts parses; the method keeps the shape of the other reprs.
    /// </summary>
    public static bool TryParse(in Ipv6Header header, out Ipv6Repr repr, out WireError error)
    {
        repr = new Ipv6Repr
        {
            TrafficClass = header.TrafficClass,
            FlowLabel = header.FlowLabel,
            PayloadLength = header.PayloadLength,
            NextHeader = header.NextHeader,
            HopLimit = header.HopLimit,
            Source = header.Source,
            Destination = header.Destination,
        };
        error = WireError.None;
        return true;
    }

    /// <summary>Writes the 40-byte fixed header into the first <see cref="BufferLength"/> bytes of <paramref name="buffer"/>.</summary>
    public readonly void Emit(Span<byte> buffer)
    {
        Span<byte> header = buffer[..BufferLength];
        uint word = (6u << 28) | ((uint)TrafficClass << 20) | (FlowLabel & Ipv6Header.FlowLabelMask);
        BinaryPrimitives.WriteUInt32BigEndian(header[Ipv6Header.VersionOffset..], word);
        BinaryPrimitives.WriteUInt16BigEndian(header[Ipv6Header.PayloadLengthOffset..], (ushort)PayloadLength);
        header[Ipv6Header.NextHeaderOffset] = (byte)NextHeader;
        header[Ipv6Header.HopLimitOffset] = HopLimit;
        BinaryPrimitives.WriteUInt128BigEndian(header[Ipv6Header.SourceOffset..], Source);
        BinaryPrimitives.WriteUInt128BigEndian(header[Ipv6Header.DestinationOffset..], Destination);
    }
}
