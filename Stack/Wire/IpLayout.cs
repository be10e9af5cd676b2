// Where the transport header of an IP packet is: the one locator every inbound site uses (RX validation, GRO,
// the stack's IPv4/IPv6 input, virtio inbound, GSO, ICMP, reassembly, the capture checker's IPv4). IPv4 IHL and options
// (RFC 791 §3.1), the IPv6 extension-header walk (RFC 8200 §4), fragments (RFC 791 §3.2, RFC 8200 §4.5).
using System.Runtime.CompilerServices;

namespace NetStack.Wire;

/// <summary>
/// The layout of an IP packet's headers, as <see cref="TryLocate(ReadOnlySpan{byte}, int, out IpLayout, out WireError)"/>
/// found it: IP version, IP length (total length, or 40 + payload length: link padding past it is not part of
/// the packet), where the IP headers end and what follows. Offsets are from the start of the packet.
/// <para>IPv4: the transport header follows the IHL·4 bytes of header and options (options are not walked:
/// <see cref="Ipv4Header.ValidateOptions"/>). A fragment (MF or a non-zero offset) is reported with its offset;
/// only the first one (offset 0) holds the transport header.</para>
/// <para>IPv6: the extension headers are walked with <see cref="Ipv6ExtensionWalker"/> (its limits and errors)
/// up to the upper layer, or up to the first Fragment header: what follows a fragment header is the fragmentable
/// part, read after reassembly (RFC 8200 §4.5). A packet with a Fragment header (an atomic one too, RFC 6946:
/// reassembly hands it back at once) is a fragment; <see cref="Protocol"/> is then the fragment header's next
/// header and <see cref="TransportOffset"/> the first byte after it.</para>
/// The headers must lie in the head given to the locator; the payload may continue in other pieces.
/// </summary>
public readonly struct IpLayout
{
    private const byte MoreFragmentsFlag = 1;
    private const byte FragmentFlag = 2;
    private const byte RoutingHeaderFlag = 4;

    private readonly int _length;
    private readonly uint _identification;
    private readonly ushort _headerLength;
    private readonly ushort _transportOffset;
    private readonly ushort _protocolField;
    private readonly ushort _fragmentOffset;
    private readonly ushort _fragmentHeaderOffset;
    private readonly ushort _fragmentNamedAt;
    private readonly byte _protocol;
    private readonly byte _flags;
    private readonly bool _isV6;

    private IpLayout(bool isV6, int headerLength, int length, IpProtocol protocol, int transportOffset, int protocolField,
        byte flags, int fragmentOffset, uint identification, int fragmentHeaderOffset, int fragmentNamedAt = 0)
    {
        _isV6 = isV6;
        _headerLength = (ushort)headerLength;
        _length = length;
        _protocol = (byte)protocol;
        _transportOffset = (ushort)transportOffset;
        _protocolField = (ushort)protocolField;
        _flags = flags;
        _fragmentOffset = (ushort)fragmentOffset;
        _identification = identification;
        _fragmentHeaderOffset = (ushort)fragmentHeaderOffset;
        _fragmentNamedAt = (ushort)fragmentNamedAt;
    }

    /// <summary>IPv4 or IPv6 (<see cref="NetworkProtocol.None"/> for a default value).</summary>
    public NetworkProtocol Version => _length == 0 ? NetworkProtocol.None : _isV6 ? NetworkProtocol.IPv6 : NetworkProtocol.IPv4;

    /// <summary>True for IPv6.</summary>
    public bool IsV6 => _isV6;

    /// <summary>Length of the IP header proper: IHL·4 (options included) for IPv4, the 40-byte fixed header for IPv6.</summary>
    public int HeaderLength => _headerLength;

    /// <summary>The IP length: IPv4 total length, or 40 + IPv6 payload length (at most the packet's length).</summary>
    public int Length => _length;

    /// <summary>
    /// The protocol at <see cref="TransportOffset"/>: the upper layer (TCP, UDP, ICMP, No Next Header, ESP, or any
    /// value the stack decides about, RFC 8200 §4), or for an IPv6 fragment the fragment header's next header.
    /// </summary>
    public IpProtocol Protocol => (IpProtocol)_protocol;

    /// <summary>Where the transport header starts: after the IPv4 header, after the IPv6 extension headers, or after an IPv6 Fragment header.</summary>
    public int TransportOffset => _transportOffset;

    /// <summary>Bytes from <see cref="TransportOffset"/> to the end of the IP packet.</summary>
    public int TransportLength => _length - _transportOffset;

    /// <summary>
    /// Where the byte naming <see cref="Protocol"/> lives: the IPv4 protocol field, the IPv6 next-header field, or
    /// the next-header field of the last extension header walked (an ICMPv6 Parameter Problem points there, RFC 8200 §4).
    /// </summary>
    public int ProtocolFieldOffset => _protocolField;

    /// <summary>IPv6 extension headers precede <see cref="TransportOffset"/> (never for IPv4).</summary>
    public bool HasExtensionHeaders => _transportOffset != _headerLength;

    /// <summary>An IPv6 routing header was walked (its pseudo-header destination is the final one, RFC 8200 §8.1).</summary>
    public bool HasRoutingHeader => (_flags & RoutingHeaderFlag) != 0;

    /// <summary>
    /// A fragment: IPv4 with MF set or a non-zero offset (RFC 791 §3.2); IPv6 with a Fragment header, atomic ones included.
    /// </summary>
    public bool IsFragment => (_flags & FragmentFlag) != 0;

    /// <summary>The fragment offset in bytes (0 when not a fragment).</summary>
    public int FragmentOffset => _fragmentOffset;

    /// <summary>The MF (IPv4) or M (IPv6) flag.</summary>
    public bool MoreFragments => (_flags & MoreFragmentsFlag) != 0;

    /// <summary>True unless this is a fragment with a non-zero offset, whose bytes after the IP headers are data, not a header.</summary>
    public bool HasTransportHeader => _fragmentOffset == 0;

    /// <summary>IPv6: where the Fragment header starts (the length of the unfragmentable part), or -1.</summary>
    public int FragmentHeaderOffset => _fragmentHeaderOffset == 0 ? -1 : _fragmentHeaderOffset;

    /// <summary>
    /// IPv6: where the next-header field naming the Fragment header lives (the fixed header's or the last
    /// unfragmentable extension header's; reassembly rewrites it to the fragment header's next header, RFC 8200 §4.5), or -1.
    /// </summary>
    public int FragmentHeaderNamedAt => _fragmentHeaderOffset == 0 ? -1 : _fragmentNamedAt;

    /// <summary>IPv4: the identification field; IPv6: the Fragment header's identification (0 without one).</summary>
    public uint Identification => _identification;

    /// <summary>
    /// Locates the transport header of the IP packet at the start of <paramref name="head"/>, the first piece
    /// of a packet of <paramref name="packetLength"/> bytes (pass the span's length for a flat packet). The IP
    /// headers must lie in <paramref name="head"/>; the IP length must lie within <paramref name="packetLength"/>.
    /// Errors: those of <see cref="Ipv4Header.TryCreate(ReadOnlySpan{byte}, int, out Ipv4Header, out WireError)"/>
    /// and <see cref="Ipv6Header.TryCreate(ReadOnlySpan{byte}, int, out Ipv6Header, out WireError)"/>, then of
    /// <see cref="Ipv6ExtensionWalker"/>; <see cref="WireError.BadVersion"/> for a version other than 4 and 6,
    /// <see cref="WireError.Truncated"/> for an empty head. Never throws, allocates nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryLocate(ReadOnlySpan<byte> head, int packetLength, out IpLayout layout, out WireError error)
    {
        if (!head.IsEmpty)
        {
            int version = head[0] >> 4;
            if (version == 4)
            {
                if (Ipv4Header.TryCreate(head, packetLength, out Ipv4Header ip, out error))
                {
                    layout = Of(ip);
                    return true;
                }
                layout = default;
                return false;
            }
            if (version == 6)
            {
                if (Ipv6Header.TryCreate(head, packetLength, out Ipv6Header ip, out error))
                {
                    return TryLocate(ip, out layout, out error);
                }
                layout = default;
                return false;
            }
        }
        layout = default;
        error = head.IsEmpty ? WireError.Truncated : WireError.BadVersion;
        return false;
    }

    /// <summary>The layout of an IPv4 packet whose header a view has accepted (nothing more to check).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static IpLayout Of(in Ipv4Header ip)
    {
        int headerLength = ip.HeaderLength;
        byte flags = 0;
        if (ip.IsFragment)
        {
            flags = (byte)(FragmentFlag | (ip.MoreFragments ? MoreFragmentsFlag : 0));
        }
        return new IpLayout(false, headerLength, ip.TotalLength, ip.Protocol, headerLength, Ipv4Header.ProtocolOffset,
            flags, ip.FragmentOffset, ip.Identification, 0);
    }

    /// <summary>
    /// The layout of an IPv6 packet whose fixed header a view has accepted: the extension headers are walked
    /// (in the view's bytes) when the next header names one.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool TryLocate(in Ipv6Header ip, out IpLayout layout, out WireError error)
    {
        IpProtocol next = ip.NextHeader;
        if (!Ipv6ExtensionWalker.IsExtensionHeader(next))
        {
            layout = new IpLayout(true, Ipv6Header.Length, Ipv6Header.Length + ip.PayloadLength, next, Ipv6Header.Length,
                Ipv6Header.NextHeaderOffset, 0, 0, 0, 0);
            error = WireError.None;
            return true;
        }
        return WalkExtensionHeaders(ip, out layout, out error);
    }

    // RFC 8200 §4: extension headers in order, up to the upper layer or the first Fragment header (§4.5).
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static bool WalkExtensionHeaders(in Ipv6Header ip, out IpLayout layout, out WireError error)
    {
        int length = Ipv6Header.Length + ip.PayloadLength;
        var walker = new Ipv6ExtensionWalker(ip);
        int protocolField = Ipv6Header.NextHeaderOffset;
        byte flags = 0;
        while (walker.MoveNext())
        {
            Ipv6ExtensionHeader header = walker.Current;
            int at = Ipv6Header.Length + header.Offset;
            if (header.Type == IpProtocol.Ipv6Fragment)
            {
                Ipv6FragmentHeader.TryCreate(header.Bytes, out Ipv6FragmentHeader view, out _);
                Ipv6FragmentRepr.TryParse(view, out Ipv6FragmentRepr fragment, out _);
                flags |= (byte)(FragmentFlag | (fragment.MoreFragments ? MoreFragmentsFlag : 0));
                layout = new IpLayout(true, Ipv6Header.Length, length, fragment.NextHeader, at + Ipv6FragmentHeader.Length, at,
                    flags, fragment.FragmentOffset, fragment.Identification, at, protocolField);
                error = WireError.None;
                return true;
            }
            if (header.Type == IpProtocol.Ipv6Route)
            {
                flags |= RoutingHeaderFlag;
            }
            protocolField = at;
        }
        error = walker.Error;
        if (error != WireError.None)
        {
            layout = default;
            return false;
        }
        layout = new IpLayout(true, Ipv6Header.Length, length, walker.NextHeader, Ipv6Header.Length + walker.Offset, protocolField,
            flags, 0, 0, 0);
        return true;
    }
}
