using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// Keeps the IPv4 identification of each outbound TCP flow's atomic datagrams consecutive, so GRO on write can
/// merge them under the kernel's rule (ID + i). The stack numbers IDs per (source, destination, protocol), so
/// parallel connections to one host interleave their IDs; RFC 6864 §4.1 lets the source of an atomic datagram
/// (DF set, not a fragment) put any value there, and segmentation (TSO, GsoSegmenter) rewrites it to ID + i
/// anyway. A datagram already in sequence is left untouched; one out of sequence gets the next value of its
/// flow's slot and an incrementally updated header checksum (RFC 1624). Flows are hashed into a fixed table:
/// two flows in one slot merely merge less. Single-threaded (the writer).
/// </summary>
internal sealed class AtomicIdRenumberer
{
    private const int Slots = 1024;
    private readonly ushort[] _next = new ushort[Slots];
    private readonly bool[] _seen = new bool[Slots];

    /// <summary>Datagrams whose ID was rewritten.</summary>
    public long Renumbered { get; private set; }

    public void Apply(PacketBuffer packet)
    {
        if (packet.ReferenceCount != 1)
        {
            return; // another owner may read the head
        }
        Span<byte> head = packet.Head;
        if (head.Length < Ipv4Header.MinLength + 4 || head[0] >> 4 != 4 || (IpProtocol)head[Ipv4Header.ProtocolOffset] != IpProtocol.Tcp)
        {
            return;
        }
        int ihl = (head[0] & 0x0F) * 4;
        ushort flags = BinaryPrimitives.ReadUInt16BigEndian(head[Ipv4Header.FragmentOffsetField..]);
        if (flags != 0x4000 || ihl < Ipv4Header.MinLength || head.Length < ihl + 4)
        {
            return; // not atomic (DF clear, or a fragment): the ID matters
        }
        uint src = BinaryPrimitives.ReadUInt32BigEndian(head[Ipv4Header.SourceOffset..]);
        uint dst = BinaryPrimitives.ReadUInt32BigEndian(head[Ipv4Header.DestinationOffset..]);
        uint ports = BinaryPrimitives.ReadUInt32BigEndian(head[ihl..]);
        uint hash = (src * 0x9E3779B1u) ^ (dst * 0x85EBCA77u) ^ (ports * 0xC2B2AE3Du);
        int slot = (int)((hash ^ (hash >> 15)) % Slots);
        ushort id = BinaryPrimitives.ReadUInt16BigEndian(head[4..]);
        if (!_seen[slot])
        {
            _seen[slot] = true;
        }
        else if (id != _next[slot])
        {
            ushort wanted = _next[slot];
            ushort checksum = BinaryPrimitives.ReadUInt16BigEndian(head[10..]);
            BinaryPrimitives.WriteUInt16BigEndian(head[4..], wanted);
            BinaryPrimitives.WriteUInt16BigEndian(head[10..], InternetChecksum.Update(checksum, id, wanted));
            Renumbered++;
            id = wanted;
        }
        _next[slot] = (ushort)(id + 1);
    }
}
