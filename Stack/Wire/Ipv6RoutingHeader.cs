// IPv6 routing header (RFC 8200 §4.4): next header, length, routing type, segments left, type-specific data.
namespace NetStack.Wire;

/// <summary>
/// A checked view of a routing header. <see cref="TryCreate"/> checks that the buffer holds the length the
/// header claims (at least 8 bytes, so the four fixed fields are always in bounds). The type-specific data is
/// left to the caller (RFC 8200 §4.4: an unrecognised type with segments left 0 is ignored, otherwise
/// answered with an ICMP Parameter Problem).
/// </summary>
public readonly ref struct Ipv6RoutingHeader
{
    /// <summary>Shortest header: 8 bytes (length field 0).</summary>
    public const int MinLength = 8;
    /// <summary>The offset table after the next-header and length octets (RFC 8200 §4.4): routing type, segments left, type-specific data.</summary>
    public const int RoutingTypeOffset = 2, SegmentsLeftOffset = 3, DataOffset = 4;

    private readonly ReadOnlySpan<byte> _header;

    private Ipv6RoutingHeader(ReadOnlySpan<byte> header) => _header = header;

    /// <summary>
    /// Makes a view over the header at the start of <paramref name="buffer"/>. Fails with
    /// <see cref="WireError.Truncated"/> when fewer than 2 bytes are left and with
    /// <see cref="WireError.BadHeaderLength"/> when the length field runs past the buffer.
    /// </summary>
    public static bool TryCreate(ReadOnlySpan<byte> buffer, out Ipv6RoutingHeader header, out WireError error)
    {
        if (!Ipv6ExtensionHeader.TryGetLength(buffer, out int length, out error))
        {
            header = default;
            return false;
        }
        header = new Ipv6RoutingHeader(buffer[..length]);
        return true;
    }

    /// <summary>Type of the next header.</summary>
    public IpProtocol NextHeader => (IpProtocol)_header[Ipv6ExtensionHeader.NextHeaderOffset];

    /// <summary>The length field: 8-octet units after the first 8.</summary>
    public byte HeaderExtensionLength => _header[Ipv6ExtensionHeader.LengthOffset];

    /// <summary>Length of the header in bytes.</summary>
    public int Length => _header.Length;

    /// <summary>Routing type (e.g. 2 for Mobile IPv6, 3 RPL, 4 segment routing; 0 is deprecated by RFC 5095).</summary>
    public byte RoutingType => _header[RoutingTypeOffset];

    /// <summary>Number of route segments still to visit.</summary>
    public byte SegmentsLeft => _header[SegmentsLeftOffset];

    /// <summary>Type-specific data: the header after its first four bytes.</summary>
    public ReadOnlySpan<byte> Data => _header[DataOffset..];

    /// <summary>The whole header.</summary>
    public ReadOnlySpan<byte> Header => _header;

    /// <summary>Bytes <see cref="Emit"/> writes for <paramref name="dataLength"/> bytes of type-specific data: 4 + data rounded up to 8.</summary>
    public static int GetLength(int dataLength) => (DataOffset + dataLength + 7) & ~7;

    /// <summary>
    /// Writes a routing header into the first <see cref="GetLength"/> bytes of <paramref name="buffer"/>,
    /// zero-filling after <paramref name="data"/> to a multiple of 8.
    /// </summary>
    /// <exception cref="ArgumentException">The header would exceed 2048 bytes (a builder bug, not untrusted input).</exception>
    public static void Emit(Span<byte> buffer, IpProtocol nextHeader, byte routingType, byte segmentsLeft, ReadOnlySpan<byte> data)
    {
        int length = GetLength(data.Length);
        if (length > Ipv6OptionsHeader.MaxLength)
        {
            throw new ArgumentException("An IPv6 routing header holds at most 2044 bytes of data.", nameof(data));
        }
        Span<byte> header = buffer[..length];
        header[Ipv6ExtensionHeader.NextHeaderOffset] = (byte)nextHeader;
        header[Ipv6ExtensionHeader.LengthOffset] = (byte)((length / 8) - 1);
        header[RoutingTypeOffset] = routingType;
        header[SegmentsLeftOffset] = segmentsLeft;
        data.CopyTo(header[DataOffset..]);
        header[(DataOffset + data.Length)..].Clear();
    }
}
