// Layer: network, reassembly. Builds the datagram from its fragments: the first fragment's headers with the
// lengths and next header fixed (RFC 791 §3.2, RFC 8200 §4.5), the data of every fragment by reference.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Network.Fragmentation;

internal sealed partial class FragmentReassembler
{
    /// <summary>
    /// Builds the datagram of a complete context: a new head with the first fragment's header, fixed up, and
    /// every fragment's data appended by reference (no payload copy); then releases the fragments.
    /// </summary>
    private ReassemblyResult Complete(ReassemblyContext ctx, long now)
    {
        int total = ctx.TotalLength;
        int headerLength = ctx.FirstHeaderLength;
        bool v4 = ctx.Key.Version == 4;
        // RFC 791 §3.1 total length; RFC 8200 §4.5 payload length: both 16 bits. The first fragment's header
        // may be longer than the one each fragment was checked against.
        int lengthField = v4 ? headerLength + total : headerLength - Ipv6Header.Length + total;
        if (lengthField > MaxDatagramLength)
        {
            Discard(ctx, ReassemblyDropReason.TooLong, quarantine: false, now);
            return ReassemblyResult.Dropped(ReassemblyDropReason.TooLong);
        }

        PacketBuffer first = ctx.Entries[0].Buffer;
        PacketBuffer datagram = first.Pool.Rent(headerLength);
        Span<byte> head = datagram.Append(headerLength);
        first.CopyTo(0, head);
        if (v4)
        {
            FixIpv4Header(head, lengthField);
        }
        else
        {
            FixIpv6Header(head, ctx.FirstNextHeaderPosition, ctx.FirstNextHeader, lengthField);
        }
        for (int i = 0; i < ctx.Count; i++)
        {
            ref ReassemblyContext.Entry e = ref ctx.Entries[i];
            if (!datagram.AppendReference(e.Buffer, e.DataOffset, e.End - e.Start))
            {
                datagram.Release();
                Discard(ctx, ReassemblyDropReason.SegmentLimit, quarantine: false, now);
                return ReassemblyResult.Dropped(ReassemblyDropReason.SegmentLimit);
            }
        }
        datagram.NetworkProtocol = v4 ? NetworkProtocol.IPv4 : NetworkProtocol.IPv6;
        datagram.RxChecksumValidated = false;
        Unlink(ctx);
        Recycle(ctx); // the datagram holds its own references to the fragments' chunks
        Events.Increment(ReassemblyEvent.DatagramCompleted);
        return ReassemblyResult.Completed(datagram);
    }

    /// <summary>RFC 6946 §4: an atomic fragment is the packet itself without its fragment header.</summary>
    private ReassemblyResult CompleteAtomic(PacketBuffer fragment, in ParsedFragment f)
    {
        int length = f.End - f.Start;
        PacketBuffer packet = fragment.Pool.Rent(f.HeaderLength);
        Span<byte> head = packet.Append(f.HeaderLength);
        fragment.CopyTo(0, head);
        FixIpv6Header(head, f.NextHeaderPosition, f.NextHeader, f.HeaderLength - Ipv6Header.Length + length);
        if (!packet.AppendReference(fragment, f.DataOffset, length))
        {
            packet.Release();
            return Drop(fragment, ReassemblyDropReason.SegmentLimit, notify: false);
        }
        fragment.Release();
        packet.NetworkProtocol = NetworkProtocol.IPv6;
        packet.RxChecksumValidated = false;
        Events.Increment(ReassemblyEvent.AtomicFragment);
        return ReassemblyResult.Completed(packet);
    }

    private static void FixIpv4Header(Span<byte> header, int totalLength)
    {
        bool dontFragment = (BinaryPrimitives.ReadUInt16BigEndian(header[Ipv4Header.FragmentOffsetField..]) & Ipv4Header.DontFragmentBit) != 0;
        Ipv4Header.SetTotalLength(header, (ushort)totalLength);
        Ipv4Header.SetFragment(header, dontFragment, moreFragments: false, fragmentOffset: 0);
        Ipv4Header.RecomputeChecksum(header);
    }

    // RFC 8200 §4.5: the unfragmentable part's last next-header takes the fragment header's next header, and
    // the payload length covers the unfragmentable extension headers plus the reassembled data.
    private static void FixIpv6Header(Span<byte> header, int nextHeaderPosition, byte nextHeader, int payloadLength)
    {
        header[nextHeaderPosition] = nextHeader;
        Ipv6Header.SetPayloadLength(header, (ushort)payloadLength);
    }
}
