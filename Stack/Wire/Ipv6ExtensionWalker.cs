// Walker over the IPv6 extension-header chain (RFC 8200 §4, §4.1), bounded in headers and bytes.
using System.Buffers.Binary;

namespace NetStack.Wire;

/// <summary>
/// Walks the extension headers of an IPv6 payload from the fixed header's next header, without allocating:
/// <code>
/// var walker = new Ipv6ExtensionWalker(ipv6);
/// while (walker.MoveNext()) { var ext = walker.Current; ... }
/// if (walker.Error != WireError.None) { /* drop */ } else { /* walker.NextHeader at walker.Offset */ }
/// </code>
/// Known extension headers are hop-by-hop (only first, RFC 8200 §4.1), routing, fragment, destination
/// options and AH (length in 4-byte units + 2, RFC 4302 §2.2). Any other value, ESP and No Next Header
/// included, ends the walk and is reported as the upper layer. After a fragment header with a non-zero
/// offset the walk ends too: what follows is fragment data, not headers (RFC 8200 §4.5). The walk stops with
/// <see cref="WireError.ChainTooLong"/> past <c>maxHeaders</c> headers or <c>maxBytes</c> bytes of headers,
/// so no chain can make it run long. Errors: <see cref="WireError.Truncated"/> (a header's fixed part is cut
/// off), <see cref="WireError.BadHeaderLength"/> (a length runs past the payload),
/// <see cref="WireError.BadField"/> (hop-by-hop not first). Options inside headers are not walked: see
/// <see cref="Ipv6OptionsHeader.ValidateOptions"/>.
/// </summary>
public ref struct Ipv6ExtensionWalker
{
    /// <summary>Default limit on the number of extension headers (RFC 8200 §4.1 names at most 8 in order).</summary>
    public const int DefaultMaxHeaders = 16;
    /// <summary>Default limit on the total length of the extension headers.</summary>
    public const int DefaultMaxBytes = 8192;

    private readonly ReadOnlySpan<byte> _payload;
    private readonly int _maxHeaders;
    private readonly int _maxBytes;
    private bool _done;

    /// <summary>Starts a walk over the payload of <paramref name="header"/> with the default limits.</summary>
    public Ipv6ExtensionWalker(in Ipv6Header header)
        : this(header.NextHeader, header.Payload, DefaultMaxHeaders, DefaultMaxBytes)
    {
    }

    /// <summary>
    /// Starts a walk over <paramref name="payload"/> (the bytes after the fixed header), whose first header is
    /// <paramref name="firstHeader"/>, stopping with <see cref="WireError.ChainTooLong"/> past
    /// <paramref name="maxHeaders"/> headers or <paramref name="maxBytes"/> bytes.
    /// </summary>
    public Ipv6ExtensionWalker(IpProtocol firstHeader, ReadOnlySpan<byte> payload, int maxHeaders = DefaultMaxHeaders, int maxBytes = DefaultMaxBytes)
    {
        _payload = payload;
        _maxHeaders = maxHeaders;
        _maxBytes = maxBytes;
        _done = false;
        NextHeader = firstHeader;
        Offset = 0;
        Count = 0;
        Current = default;
        Error = WireError.None;
        HasHopByHop = false;
        HasRoutingHeader = false;
        FragmentHeaderOffset = -1;
    }

    /// <summary>The extension header found by the last successful <see cref="MoveNext"/>.</summary>
    public Ipv6ExtensionHeader Current { get; private set; }

    /// <summary>Type of the header after those walked so far; once the walk ends without error, the upper-layer protocol.</summary>
    public IpProtocol NextHeader { get; private set; }

    /// <summary>Offset in the payload of the header after those walked so far; once the walk ends without error, the upper-layer offset.</summary>
    public int Offset { get; private set; }

    /// <summary>Number of extension headers walked.</summary>
    public int Count { get; private set; }

    /// <summary>Why the walk stopped early, or <see cref="WireError.None"/>.</summary>
    public WireError Error { get; private set; }

    /// <summary>A hop-by-hop header was walked.</summary>
    public bool HasHopByHop { get; private set; }

    /// <summary>A routing header was walked.</summary>
    public bool HasRoutingHeader { get; private set; }

    /// <summary>Offset of the last fragment header walked, or -1.</summary>
    public int FragmentHeaderOffset { get; private set; }

    /// <summary>True for the protocol numbers this walker steps over (RFC 8200 §4.1, RFC 4302).</summary>
    public static bool IsExtensionHeader(IpProtocol protocol) => protocol is IpProtocol.HopByHop or IpProtocol.Ipv6Route
        or IpProtocol.Ipv6Fragment or IpProtocol.Ipv6DestinationOptions or IpProtocol.Ah;

    /// <summary>Advances to the next extension header; false when the upper layer is reached or on an error.</summary>
    public bool MoveNext()
    {
        if (_done)
        {
            return false;
        }
        IpProtocol type = NextHeader;
        if (!IsExtensionHeader(type))
        {
            _done = true;
            return false;
        }
        if (type == IpProtocol.HopByHop && Count != 0)
        {
            return Fail(WireError.BadField); // RFC 8200 §4.1: hop-by-hop only right after the fixed header
        }
        if (Count >= _maxHeaders)
        {
            return Fail(WireError.ChainTooLong);
        }
        ReadOnlySpan<byte> rest = _payload[Offset..];
        int minimum = type == IpProtocol.Ipv6Fragment ? Ipv6FragmentHeader.Length : Ipv6ExtensionHeader.PrefixLength;
        if (rest.Length < minimum)
        {
            return Fail(WireError.Truncated);
        }
        int length = type switch
        {
            IpProtocol.Ipv6Fragment => Ipv6FragmentHeader.Length,
            IpProtocol.Ah => (rest[Ipv6ExtensionHeader.LengthOffset] + 2) * 4, // RFC 4302 §2.2: 32-bit words minus 2
            _ => (rest[Ipv6ExtensionHeader.LengthOffset] + 1) * 8,              // RFC 8200 §4.3-4.6: 8-octet units not counting the first 8
        };
        if (length > rest.Length)
        {
            return Fail(WireError.BadHeaderLength);
        }
        if (Offset + length > _maxBytes)
        {
            return Fail(WireError.ChainTooLong);
        }
        Current = new Ipv6ExtensionHeader(type, Offset, rest[..length]);
        switch (type)
        {
            case IpProtocol.HopByHop:
                HasHopByHop = true;
                break;
            case IpProtocol.Ipv6Route:
                HasRoutingHeader = true;
                break;
            case IpProtocol.Ipv6Fragment:
                FragmentHeaderOffset = Offset;
                // RFC 8200 §4.5: after a non-first fragment's header comes fragment data, not headers.
                _done = (BinaryPrimitives.ReadUInt16BigEndian(rest[Ipv6FragmentHeader.FragmentOffsetField..]) & Ipv6FragmentHeader.FragmentOffsetMask) != 0;
                break;
        }
        NextHeader = (IpProtocol)rest[Ipv6ExtensionHeader.NextHeaderOffset];
        Offset += length;
        Count++;
        return true;
    }

    /// <summary>
    /// Walks the whole chain of <paramref name="header"/> with the default limits; on success
    /// <paramref name="chain"/> tells the upper layer and any fragment header.
    /// </summary>
    public static bool TryWalk(in Ipv6Header header, out Ipv6ExtensionChain chain, out WireError error) =>
        TryWalk(header.NextHeader, header.Payload, out chain, out error);

    /// <summary>
    /// Walks the whole chain of <paramref name="payload"/> starting with <paramref name="firstHeader"/>; on
    /// success <paramref name="chain"/> tells the upper layer and any fragment header.
    /// </summary>
    public static bool TryWalk(IpProtocol firstHeader, ReadOnlySpan<byte> payload, out Ipv6ExtensionChain chain, out WireError error,
        int maxHeaders = DefaultMaxHeaders, int maxBytes = DefaultMaxBytes)
    {
        var walker = new Ipv6ExtensionWalker(firstHeader, payload, maxHeaders, maxBytes);
        bool hasFragment = false;
        IpProtocol fragmentNext = default;
        int fragmentOffset = 0;
        bool more = false;
        uint identification = 0;
        while (walker.MoveNext())
        {
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                Ipv6FragmentHeader.TryCreate(walker.Current.Bytes, out Ipv6FragmentHeader fragment, out _);
                hasFragment = true;
                fragmentNext = fragment.NextHeader;
                fragmentOffset = fragment.FragmentOffset;
                more = fragment.MoreFragments;
                identification = fragment.Identification;
            }
        }
        error = walker.Error;
        if (error != WireError.None)
        {
            chain = default;
            return false;
        }
        chain = new Ipv6ExtensionChain
        {
            UpperLayerProtocol = walker.NextHeader,
            UpperLayerOffset = walker.Offset,
            HeaderCount = walker.Count,
            HasHopByHop = walker.HasHopByHop,
            HasRoutingHeader = walker.HasRoutingHeader,
            HasFragmentHeader = hasFragment,
            FragmentHeaderOffset = walker.FragmentHeaderOffset,
            FragmentNextHeader = fragmentNext,
            FragmentOffset = fragmentOffset,
            MoreFragments = more,
            FragmentIdentification = identification,
        };
        return true;
    }

    private bool Fail(WireError error)
    {
        _done = true;
        Current = default;
        Error = error;
        return false;
    }
}
