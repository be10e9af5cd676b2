using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Network.Fragmentation;

public sealed partial class FragmentReassembler
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
        if (view.IsEmpty)
        {
            return ReassemblyDropReason.Malformed;
        }
        return (view[0] >> 4) switch
        {
            4 => ParseIpv4(view, ref f),
            6 => ParseIpv6(view, ref f),
            _ => ReassemblyDropReason.Malformed,
        };
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

    private static ReassemblyDropReason ParseIpv4(ReadOnlySpan<byte> view, ref ParsedFragment f)
    {
        if (!Ipv4Header.TryCreate(view, out Ipv4Header ip, out _))
        {
            return ReassemblyDropReason.Malformed;
        }
        f.Key = new FragmentKey(4, ip.Source, ip.Destination, (byte)ip.Protocol, ip.Identification); // RFC 791 §3.2
        if (!ip.IsFragment)
        {
            f.IsNotFragment = true;
            return ReassemblyDropReason.None;
        }
        int headerLength = ip.HeaderLength;
        int length = ip.TotalLength - headerLength;
        f.Start = ip.FragmentOffset;
        f.End = f.Start + length;
        f.More = ip.MoreFragments;
        f.DataOffset = headerLength;
        f.HeaderLength = headerLength;
        if (length == 0)
        {
            return ReassemblyDropReason.EmptyFragment;
        }
        if (f.More && (length & 7) != 0)
        {
            return ReassemblyDropReason.NotMultipleOf8;
        }
        if (headerLength + f.End > MaxDatagramLength)
        {
            return ReassemblyDropReason.TooLong;
        }
        return ReassemblyDropReason.None;
    }

    private static ReassemblyDropReason ParseIpv6(ReadOnlySpan<byte> view, ref ParsedFragment f)
    {
        if (!Ipv6Header.TryCreate(view, out Ipv6Header ip, out _))
        {
            return ReassemblyDropReason.Malformed;
        }
        var walker = new Ipv6ExtensionWalker(ip);
        int nextHeaderPosition = Ipv6Header.NextHeaderOffset;
        int fragmentHeaderOffset = -1;
        uint identification = 0;
        IpProtocol fragmentNext = default;
        int offset = 0;
        bool more = false;
        while (walker.MoveNext())
        {
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                // The first fragment header ends the unfragmentable part (RFC 8200 §4.5).
                Ipv6FragmentHeader.TryCreate(walker.Current.Bytes, out Ipv6FragmentHeader header, out _);
                fragmentHeaderOffset = walker.Current.Offset;
                identification = header.Identification;
                fragmentNext = header.NextHeader;
                offset = header.FragmentOffset;
                more = header.MoreFragments;
                break;
            }
            nextHeaderPosition = Ipv6Header.Length + walker.Current.Offset; // each extension header opens with its next header
        }
        f.Key = new FragmentKey(6, ip.Source, ip.Destination, 0, identification); // RFC 8200 §4.5
        if (fragmentHeaderOffset < 0)
        {
            if (walker.Error != WireError.None)
            {
                return ReassemblyDropReason.Malformed;
            }
            f.IsNotFragment = true;
            return ReassemblyDropReason.None;
        }
        int unfragmentable = fragmentHeaderOffset;
        f.HeaderLength = Ipv6Header.Length + unfragmentable;
        f.DataOffset = f.HeaderLength + Ipv6FragmentHeader.Length;
        f.NextHeaderPosition = nextHeaderPosition;
        f.NextHeader = (byte)fragmentNext;
        f.Start = offset;
        f.More = more;
        int length = ip.Packet.Length - f.DataOffset;
        f.End = offset + length;
        // RFC 8200 §4.1: each extension header occurs at most once (Destination Options excepted). A second Fragment
        // header in the fragmentable part would hand the datagram back to reassembly once per nesting level, and the
        // stack's input would recurse as deep as the nesting goes (a stack overflow for a 64 KiB packet of them).
        if (offset == 0 && HasNestedFragmentHeader(fragmentNext, ip.Packet[f.DataOffset..]))
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
        if (unfragmentable + f.End > MaxDatagramLength)
        {
            return ReassemblyDropReason.TooLong; // RFC 8200 §4.5: reassembled payload length past 65535
        }
        if (offset == 0 && !HasWholeHeaderChain(fragmentNext, ip.Packet[f.DataOffset..]))
        {
            return ReassemblyDropReason.IncompleteHeaderChain; // RFC 7112 §5
        }
        return ReassemblyDropReason.None;
    }

    /// <summary>True when the fragmentable part, walked from <paramref name="first"/>, holds another Fragment header.</summary>
    private static bool HasNestedFragmentHeader(IpProtocol first, ReadOnlySpan<byte> data)
    {
        var walker = new Ipv6ExtensionWalker(first, data);
        while (walker.MoveNext())
        {
            if (walker.Current.Type == IpProtocol.Ipv6Fragment)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// RFC 7112 §5: the first fragment must hold every extension header and the upper-layer header. TCP needs
    /// its whole header (data offset), UDP 8 bytes, ICMPv6 its 4-byte header (RFC 4443 §2.1); other upper
    /// layers (No Next Header, ESP, unknown) need nothing we can check.
    /// </summary>
    private static bool HasWholeHeaderChain(IpProtocol first, ReadOnlySpan<byte> data)
    {
        var walker = new Ipv6ExtensionWalker(first, data);
        while (walker.MoveNext())
        {
        }
        if (walker.Error != WireError.None)
        {
            return false;
        }
        ReadOnlySpan<byte> upper = data[walker.Offset..];
        return walker.NextHeader switch
        {
            IpProtocol.Tcp => upper.Length >= TcpHeader.MinLength && upper.Length >= (upper[12] >> 4) * 4,
            IpProtocol.Udp => upper.Length >= UdpHeader.HeaderLength,
            IpProtocol.IcmpV6 => upper.Length >= 4,
            _ => true,
        };
    }
}
