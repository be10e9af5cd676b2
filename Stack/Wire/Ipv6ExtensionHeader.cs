// One IPv6 extension header as the chain walker found it (RFC 8200 §4).
namespace NetStack.Wire;

/// <summary>
/// One extension header yielded by <see cref="Ipv6ExtensionWalker"/>: its type, where it starts in the IPv6
/// payload, and its bytes (already checked to fit). Make a typed view from <see cref="Bytes"/>
/// (<see cref="Ipv6OptionsHeader"/>, <see cref="Ipv6RoutingHeader"/>, <see cref="Ipv6FragmentHeader"/>).
/// </summary>
public readonly ref struct Ipv6ExtensionHeader
{
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
    public IpProtocol NextHeader => (IpProtocol)Bytes[0];
}
