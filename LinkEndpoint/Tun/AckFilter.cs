// Layer: link endpoints, Linux TUN. ACK filtering on write (RFC 3449 §5.2.1): a pure cumulative ACK that a later
// ACK of the same connection in the same write batch supersedes is not written. The stack ACKs every super-segment
// it receives; a read batch of several super-segments leaves several ACKs of one flow queued together, and each
// written ACK costs a writev plus the kernel's ACK processing.
using System.Buffers.Binary;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Link.Tun;

/// <summary>
/// Removes from a write batch every pure ACK superseded by a later pure ACK of the same connection in the batch, as
/// RFC 3449 §5.2.1 describes ("an ACK filter … removes ACKs that are superseded by a later cumulative ACK for the
/// same connection already in the queue"). Only segments that carry nothing but the cumulative ACK and the window are
/// candidates, so nothing a sender acts on besides those is lost: flags exactly ACK (no PSH, FIN, SYN, RST, URG,
/// ECE or CWR), no payload, options only NOP/EOL and timestamps (no SACK or D-SACK blocks), IPv4 without options and
/// not a fragment, or IPv6 with TCP right after the fixed header. An ACK is dropped only when a later candidate of
/// its connection acknowledges strictly more (RFC 9293 §3.10.7.4: that ACK also carries the newer window and, with
/// timestamps, a newer TSecr), so duplicate ACKs (same acknowledgment number: fast retransmit counts them, RFC 5681
/// §3.2) and window updates always go out. The rest of the batch keeps its order. Single-threaded (the writer).
/// </summary>
internal sealed class AckFilter
{
    private const int MaxFlows = 32;
    private readonly FlowAck[] _latest = new FlowAck[MaxFlows];

    /// <summary>A connection as the packet names it: IP version, both addresses, both ports (exact, no hash).</summary>
    internal readonly record struct FlowKey(ulong A, ulong B, ulong C, ulong D, uint Ports, byte Version);

    private struct FlowAck
    {
        public FlowKey Key;
        public uint Ack;
    }

    /// <summary>ACKs removed so far.</summary>
    public long Filtered { get; private set; }

    /// <summary>
    /// Compacts <paramref name="batch"/> in place, releasing the ACKs it removes; returns the new length. The slots past
    /// it are cleared.
    /// </summary>
    public int Apply(Span<PacketBuffer> batch)
    {
        if (batch.Length < 2)
        {
            return batch.Length;
        }
        // Backwards: for each connection, the latest candidate is met first and remembered; an earlier one it
        // supersedes is marked (null) for removal.
        int flows = 0;
        int removed = 0;
        for (int i = batch.Length - 1; i >= 0; i--)
        {
            if (!TryReadPureAck(batch[i], out FlowKey key, out uint ack))
            {
                continue;
            }
            int slot = Find(in key, flows);
            if (slot < 0)
            {
                if (flows < MaxFlows)
                {
                    _latest[flows++] = new FlowAck { Key = key, Ack = ack };
                }
                continue;
            }
            if (SequenceNumberGreater(_latest[slot].Ack, ack))
            {
                batch[i].Release();
                batch[i] = null!;
                removed++;
            }
            else
            {
                _latest[slot].Ack = ack; // not superseded (a duplicate, or reordered): it is now the one to compare with
            }
        }
        if (removed == 0)
        {
            return batch.Length;
        }
        int kept = 0;
        for (int i = 0; i < batch.Length; i++)
        {
            if (batch[i] is { } packet)
            {
                batch[kept++] = packet;
            }
        }
        batch[kept..].Clear();
        Filtered += removed;
        return kept;
    }

    private int Find(in FlowKey key, int flows)
    {
        for (int i = 0; i < flows; i++)
        {
            if (_latest[i].Key == key)
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>RFC 9293 §3.4 modular comparison: a after b.</summary>
    private static bool SequenceNumberGreater(uint a, uint b) => (int)(a - b) > 0;

    /// <summary>
    /// A pure ACK candidate (see the class remarks): its connection and its acknowledgment number.
    /// </summary>
    internal static bool TryReadPureAck(PacketBuffer packet, out FlowKey key, out uint ack)
    {
        key = default;
        ack = 0;
        if (packet.Gso.IsGso)
        {
            return false;
        }
        ReadOnlySpan<byte> head = packet.Head;
        // The transport right after a header without options or extension headers, not a fragment, no padding.
        if (!IpLayout.TryLocate(head, packet.Length, out IpLayout ip, out _) || ip.Protocol != IpProtocol.Tcp || ip.IsFragment
            || ip.HasExtensionHeaders || ip.HeaderLength != (ip.IsV6 ? Ipv6Header.Length : Ipv4Header.MinLength) || ip.Length != packet.Length)
        {
            return false;
        }
        ulong a, b = 0, c = 0, d = 0;
        if (!ip.IsV6)
        {
            a = BinaryPrimitives.ReadUInt64LittleEndian(head[Ipv4Header.SourceOffset..]); // source and destination
        }
        else
        {
            ReadOnlySpan<byte> addresses = head.Slice(Ipv6Header.SourceOffset, 32);
            a = BinaryPrimitives.ReadUInt64LittleEndian(addresses);
            b = BinaryPrimitives.ReadUInt64LittleEndian(addresses[8..]);
            c = BinaryPrimitives.ReadUInt64LittleEndian(addresses[16..]);
            d = BinaryPrimitives.ReadUInt64LittleEndian(addresses[24..]);
        }
        int tcpOffset = ip.TransportOffset;
        int ipEnd = ip.Length;
        if (head.Length < tcpOffset + TcpHeader.MinLength)
        {
            return false;
        }
        ReadOnlySpan<byte> tcp = head[tcpOffset..];
        int dataOffset = TcpHeader.GetHeaderLength(tcp);
        // Flags exactly ACK (the reserved bits too): no payload, and options the sender acts on only through ACK/window.
        if (BinaryPrimitives.ReadUInt16BigEndian(tcp[TcpHeader.DataOffsetAndFlagsOffset..]) != (ushort)((dataOffset / 4) << 12 | (int)TcpFlags.Ack)
            || dataOffset < TcpHeader.MinLength || tcpOffset + dataOffset != ipEnd || head.Length < tcpOffset + dataOffset
            || !OnlyTimestamps(tcp[TcpHeader.MinLength..dataOffset]))
        {
            return false;
        }
        key = new FlowKey(a, b, c, d, BinaryPrimitives.ReadUInt32LittleEndian(tcp[TcpHeader.SourcePortOffset..]), (byte)(ip.IsV6 ? 6 : 4));
        ack = BinaryPrimitives.ReadUInt32BigEndian(tcp[TcpHeader.AcknowledgmentOffset..]);
        return true;
    }

    private static bool OnlyTimestamps(ReadOnlySpan<byte> options)
    {
        int i = 0;
        while (i < options.Length)
        {
            switch ((TcpOptionKind)options[i])
            {
                case TcpOptionKind.EndOfOptions: // the rest is padding
                    return true;
                case TcpOptionKind.NoOperation:
                    i++;
                    break;
                case TcpOptionKind.Timestamps when i + TcpOption.TimestampsLength <= options.Length && options[i + 1] == TcpOption.TimestampsLength: // RFC 7323 §3
                    i += TcpOption.TimestampsLength;
                    break;
                default:
                    return false; // SACK, MSS, window scale, anything else: not filtered
            }
        }
        return true;
    }
}
