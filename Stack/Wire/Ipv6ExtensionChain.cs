// Summary of an IPv6 extension-header chain (RFC 8200 §4), as Ipv6ExtensionWalker.TryWalk reports it.
namespace NetStack.Wire;

/// <summary>
/// Where the extension headers of an IPv6 packet end and what follows, plus the fragment header if one was
/// seen. Offsets are from the start of the IPv6 payload (the byte after the fixed header).
/// </summary>
public readonly record struct Ipv6ExtensionChain
{
    /// <summary>
    /// The protocol after the last walked header: TCP, UDP, ICMPv6, No Next Header, ESP, or any value the
    /// walker does not know as an extension header (RFC 8200 §4: the stack decides). For a non-first
    /// fragment this is the fragment header's next header and nothing after it was walked.
    /// </summary>
    public IpProtocol UpperLayerProtocol { get; init; }

    /// <summary>Offset of the upper-layer header (equals the total length of the extension headers).</summary>
    public int UpperLayerOffset { get; init; }

    /// <summary>Number of extension headers walked.</summary>
    public int HeaderCount { get; init; }

    /// <summary>A hop-by-hop options header came first.</summary>
    public bool HasHopByHop { get; init; }

    /// <summary>A routing header was seen.</summary>
    public bool HasRoutingHeader { get; init; }

    /// <summary>A fragment header was seen (the last one wins if there are several).</summary>
    public bool HasFragmentHeader { get; init; }

    /// <summary>Offset of the fragment header (the length of the unfragmentable extension headers), or -1.</summary>
    public int FragmentHeaderOffset { get; init; }

    /// <summary>The fragment header's next header: the first header of the fragmentable part.</summary>
    public IpProtocol FragmentNextHeader { get; init; }

    /// <summary>Fragment offset in bytes.</summary>
    public int FragmentOffset { get; init; }

    /// <summary>The fragment header's M flag.</summary>
    public bool MoreFragments { get; init; }

    /// <summary>The fragment header's identification.</summary>
    public uint FragmentIdentification { get; init; }

    /// <summary>True when the packet is a real fragment: a fragment header with a non-zero offset or M set (an atomic fragment is not, RFC 6946).</summary>
    public bool IsFragment => HasFragmentHeader && (FragmentOffset != 0 || MoreFragments);
}
