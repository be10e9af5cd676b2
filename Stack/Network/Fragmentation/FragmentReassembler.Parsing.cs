// Layer: network, reassembly. What one fragment says about itself: its key, offset and data, read through the IP
// views, their reprs and IpLayout (RFC 791 §3.2, RFC 8200 §4.5, RFC 7112 §5 for the first fragment's chain).
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Network.Fragmentation;

internal sealed partial class FragmentReassembler
{
    // Largest packet a header can describe: IPv6's 40-byte header plus a 65535-byte payload.
    private const int ScratchLength = Ipv6Header.Length + ushort.MaxValue;
    private const int MaxDatagramLength = ushort.MaxValue;

    private byte[]? _scratch; // for packets whose bytes are not all in the head (rare at the input edge)

    /// <summary>What one fragment says about itself. Offsets are from the start of the packet (its IP header).</summary>
    private struct ParsedFragment
    {
        public FragmentKey Key;
        public int Start;               // fragment offset in the datagram's fragmentable data
        public int End;                 // Start + data length
        public int DataOffset;          // where the fragment's data begins in the packet
        public bool More;
        public int HeaderLength;        // IPv4: IHL·4; IPv6: 40 + unfragmentable part (the fragment header's offset)
        public int NextHeaderPosition;  // IPv6: the next-header byte that names the fragment header
        public byte NextHeader;         // IPv6: the fragment header's next header
        public bool IsNotFragment;
        public bool IsAtomic;
    }

    private ReassemblyDropReason Parse(PacketBuffer packet, out ParsedFragment f)
    {
        f = default;
        ReadOnlySpan<byte> view = ContiguousView(packet);
        int version = view.IsEmpty ? 0 : view[0] >> 4;
        if (version == 4 && Ipv4Header.TryCreate(view, out Ipv4Header v4, out _))
        {
            return ParseIpv4(v4, ref f);
        }
        if (version == 6 && Ipv6Header.TryCreate(view, out Ipv6Header v6, out _))
        {
            return ParseIpv6(v6, ref f);
        }
        return ReassemblyDropReason.Malformed;
    }

    private ReadOnlySpan<byte> ContiguousView(PacketBuffer packet)
    {
        if (packet.FragmentCount == 1)
        {
            return packet.Head;
        }
        _scratch ??= new byte[ScratchLength];
        int length = Math.Min(packet.Length, ScratchLength);
        Span<byte> view = _scratch.AsSpan(0, length);
        packet.CopyTo(0, view);
        return view;
    }

    private static ReassemblyDropReason ParseIpv4(in Ipv4Header ip, ref ParsedFragment f)
    {
        Ipv4Repr.TryParse(ip, out Ipv4Repr repr, out _);
        f.Key = new FragmentKey(4, repr.Source, repr.Destination, (byte)repr.Protocol, repr.Identification); // RFC 791 §3.2
        IpLayout layout = IpLayout.Of(ip);
        if (!layout.IsFragment)
        {
            f.IsNotFragment = true;
            return ReassemblyDropReason.None;
        }
        int length = layout.TransportLength;
        f.Start = layout.FragmentOffset;
        f.End = f.Start + length;
        f.More = layout.MoreFragments;
        f.DataOffset = layout.TransportOffset;
        f.HeaderLength = layout.HeaderLength;
        if (length == 0)
        {
            return ReassemblyDropReason.EmptyFragment;
        }
        if (f.More && (length & 7) != 0)
        {
            return ReassemblyDropReason.NotMultipleOf8;
        }
        if (f.HeaderLength + f.End > MaxDatagramLength)
        {
            return ReassemblyDropReason.TooLong;
        }
        return ReassemblyDropReason.None;
    }

    private static ReassemblyDropReason ParseIpv6(in Ipv6Header ip, ref ParsedFragment f)
    {
        Ipv6Repr.TryParse(ip, out Ipv6Repr repr, out _);
        // The walk stops at the first Fragment header, which ends the unfragmentable part (RFC 8200 §4.5).
        if (!IpLayout.TryLocate(ip, out IpLayout layout, out _))
        {
            f.Key = new FragmentKey(6, repr.Source, repr.Destination, 0, 0);
            return ReassemblyDropReason.Malformed;
        }
        f.Key = new FragmentKey(6, repr.Source, repr.Destination, 0, layout.Identification); // RFC 8200 §4.5
        if (!layout.IsFragment)
        {
            f.IsNotFragment = true;
            return ReassemblyDropReason.None;
        }
        int offset = layout.FragmentOffset;
        bool more = layout.MoreFragments;
        f.HeaderLength = layout.FragmentHeaderOffset;
        f.DataOffset = layout.TransportOffset;
        f.NextHeaderPosition = layout.FragmentHeaderNamedAt;
        f.NextHeader = (byte)layout.Protocol;
        f.Start = offset;
        f.More = more;
        int length = layout.TransportLength;
        f.End = offset + length;
        ReadOnlySpan<byte> fragmentable = ip.Packet[f.DataOffset..];
        // RFC 8200 §4.1: each extension header occurs at most once (Destination Options excepted). A second Fragment
        // header in the fragmentable part would hand the datagram back to reassembly once per nesting level, and the
        // stack's input would recurse as deep as the nesting goes (a stack overflow for a 64 KiB packet of them).
        bool wholeChain = true;
        if (offset == 0 && !WalkFirstFragment(layout.Protocol, fragmentable, out wholeChain))
        {
            return ReassemblyDropReason.Malformed;
        }
        if (offset == 0 && !more)
        {
            f.IsAtomic = true; // RFC 6946 §4: processed in isolation
            return ReassemblyDropReason.None;
        }
        if (length == 0)
        {
            return ReassemblyDropReason.EmptyFragment;
        }
        if (more && (length & 7) != 0)
        {
            return ReassemblyDropReason.NotMultipleOf8; // RFC 8200 §4.5
        }
        if (f.HeaderLength - Ipv6Header.Length + f.End > MaxDatagramLength)
        {
            return ReassemblyDropReason.TooLong; // RFC 8200 §4.5: reassembled payload length past 65535
        }
        if (!wholeChain)
        {
            return ReassemblyDropReason.IncompleteHeaderChain; // RFC 7112 §5
        }
        return ReassemblyDropReason.None;
    }

    /// <summary>
    /// Walks the fragmentable part of a first fragment from <paramref name="first"/>: false when it holds another
    /// Fragment header (RFC 8200 §4.1). <paramref name="wholeChain"/> tells whether it holds every extension header
    /// and the upper-layer header (RFC 7112 §5): TCP needs its whole header (data offset), UDP 8 bytes, ICMPv6 its
    /// 4-byte type, code and checksum (RFC 4443 §2.1); other upper layers (No Next Header, ESP, unknown) need
    /// nothing we can check.
    /// </summary>
    private static bool WalkFirstFragment(IpProtocol first, ReadOnlySpan<byte> data, out bool wholeChain)
    {
        var walker = new Ipv6ExtensionWalker(first, data);
        while (walker.MoveNext())
        {
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                wholeChain = false;
                return false;
            }
        }
        ReadOnlySpan<byte> upper = data[walker.Offset..];
        wholeChain = walker.Error == WireError.None && walker.NextHeader switch
        {
            IpProtocol.Tcp => upper.Length >= TcpHeader.MinLength && upper.Length >= TcpHeader.GetHeaderLength(upper),
            IpProtocol.Udp => upper.Length >= UdpHeader.HeaderLength,
            IpProtocol.IcmpV6 => upper.Length >= IcmpV6Header.RestOfHeaderOffset,
            _ => true,
        };
        return true;
    }
}
