// One IPv6 extension header as the chain walker found it (RFC 8200 §4).
namespace NetStack.Wire;

/// <summary>
/// One extension header yielded by <see cref="Ipv6ExtensionWalker"/>: its type, where it starts in the IPv6
/// payload, and its bytes (already checked to fit). Make a typed view from <see cref="Bytes"/>
/// (<see cref="Ipv6OptionsHeader"/>, <see cref="Ipv6RoutingHeader"/>, <see cref="Ipv6FragmentHeader"/>).
/// </summary>
public readonly ref struct Ipv6ExtensionHeader
{
    /// <summary>
    /// The offset table every extension header starts with (RFC 8200 §4): next header, then (all but the Fragment
    /// header) the length (Hdr Ext Len: 8-octet units not counting the first 8; AH: 4-octet units minus 2); the
    /// two make <c>PrefixLength</c>.
    /// </summary>
    public const int NextHeaderOffset = 0, LengthOffset = 1, PrefixLength = 2;

    internal Ipv6ExtensionHeader(IpProtocol type, int offset, ReadOnlySpan<byte> bytes)
    {
        Type = type;
        Offset = offset;
        Bytes = bytes;
    }

    /// <summary>Which extension header this is (the previous header's next-header value).</summary>
    public IpProtocol Type { get; }

    /// <summary>Offset of the header from the start of the IPv6 payload (the byte after the fixed header).</summary>
    public int Offset { get; }

    /// <summary>The header's bytes, exactly its length.</summary>
    public ReadOnlySpan<byte> Bytes { get; }

    /// <summary>Length of the header in bytes.</summary>
    public int Length => Bytes.Length;

    /// <summary>Type of the header after this one (every extension header starts with it).</summary>
    public IpProtocol NextHeader => (IpProtocol)Bytes[NextHeaderOffset];

    /// <summary>
    /// The length of the 8-octet-unit header (hop-by-hop, routing, destination options; RFC 8200 §4.3–4.6) at
    /// the start of <paramref name="buffer"/>: <see cref="WireError.Truncated"/> below its two-byte prefix,
    /// <see cref="WireError.BadHeaderLength"/> when the length runs past the buffer.
    /// </summary>
    internal static bool TryGetLength(ReadOnlySpan<byte> buffer, out int length, out WireError error)
    {
        if (buffer.Length < PrefixLength)
        {
            length = 0;
            error = WireError.Truncated;
            return false;
        }
        length = (buffer[LengthOffset] + 1) * 8;
        if (length > buffer.Length)
        {
            error = WireError.BadHeaderLength;
            return false;
        }
        error = WireError.None;
        return true;
    }
}
