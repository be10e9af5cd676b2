// Layer: link endpoints, Linux TUN. Renumbers the IPv4 identification of atomic datagrams on write so that
// each TCP flow's IDs run consecutively (RFC 6864 §4.1) and the kernel's GRO can merge them.
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
        // RFC 6864 §4.1: atomic is DF set and not a fragment (the reserved bit clear too); otherwise the ID matters.
        if (!Ipv4Header.TryCreate(head, packet.Length, out Ipv4Header ip, out _) || ip.Protocol != IpProtocol.Tcp
            || !ip.DontFragment || ip.IsFragment || ip.ReservedFlag)
        {
            return;
        }
        IpLayout layout = IpLayout.Of(ip);
        if (head.Length < layout.TransportOffset + 4)
        {
            return;
        }
        uint src = ip.Source;
        uint dst = ip.Destination;
        uint ports = BinaryPrimitives.ReadUInt32BigEndian(head[layout.TransportOffset..]);
        ushort id = ip.Identification;
        ushort checksum = ip.Checksum;
        uint hash = (src * 0x9E3779B1u) ^ (dst * 0x85EBCA77u) ^ (ports * 0xC2B2AE3Du);
        int slot = (int)((hash ^ (hash >> 15)) % Slots);
        if (!_seen[slot])
        {
            _seen[slot] = true;
        }
        else if (id != _next[slot])
        {
            ushort wanted = _next[slot];
            Ipv4Header.SetIdentification(head, wanted);
            Ipv4Header.SetChecksum(head, InternetChecksum.Update(checksum, id, wanted));
            Renumbered++;
            id = wanted;
        }
        _next[slot] = (ushort)(id + 1);
    }
}
