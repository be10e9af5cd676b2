// Layer: transport (TCP), receive side. In-order bytes waiting for the application and the out-of-order
// queue (RFC 9293 §3.10.7.4 seventh; RFC 2018 §4 for the SACK blocks it reports). Payload stays in the
// inbound packets (one reference each); the only copy is into the application's memory, except for small
// segments that pin far more memory than they carry: those are copied into a dense buffer (as Linux's
// tcp_try_coalesce and tcp_collapse do). Every piece is charged the memory its packet pins (truesize).
using System.Runtime.InteropServices;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>A run of payload bytes inside a packet this queue holds a reference on.</summary>
internal struct RxPiece
{
    public PacketBuffer Packet;
    public int Offset;
    public int Length;
    public SequenceNumber Sequence;
    /// <summary>Memory charged to the queue for this piece: its packet's truesize (0 for a reader's piece).</summary>
    public int Charge;

    public readonly SequenceNumber End => Sequence + Length;

    /// <summary>Pins more than twice its payload (Linux: tcp_win_from_space(truesize) &gt; len): worth compacting.</summary>
    public readonly bool IsSparse => Charge > 2 * Length;
}

/// <summary>
/// Receive queue of one connection. Not thread-safe: the connection's lock guards it. Payload is bounded by the
/// receive window (only in-window bytes are accepted) and the out-of-order segment limit; the memory it pins is
/// <see cref="HeldBytes"/>, which the receiver keeps under its limit (docs/ARCHITECTURE.md §6).
/// </summary>
internal sealed class ReceiveQueue
{
    private RxPiece[] _ring = new RxPiece[16];
    private int _head;
    private int _count;
    private readonly List<RxPiece> _outOfOrder = [];
    private SequenceNumber _latestLeft;   // the out-of-order block most recently added to (RFC 2018 §4: report it first)
    private bool _hasLatest;

    /// <summary>In-order bytes waiting for the application.</summary>
    public int ReadyBytes { get; private set; }

    /// <summary>Out-of-order pieces held.</summary>
    public int OutOfOrderCount => _outOfOrder.Count;

    /// <summary>Out-of-order payload bytes held.</summary>
    public int OutOfOrderBytes { get; private set; }

    /// <summary>Memory the queue pins: the truesize of every piece it holds, in order or not (Linux's sk_rmem_alloc).</summary>
    public long HeldBytes { get; private set; }

    /// <summary>
    /// Takes in-window payload at <paramref name="seq"/> (≥ <paramref name="rcvNxt"/>). Returns the new RCV.NXT
    /// (advanced over this segment and any out-of-order data it made contiguous). <paramref name="accepted"/>
    /// is false when the out-of-order queue was full. A sparse segment is copied onto the end of the piece
    /// before it when that piece's packet has room and nobody else holds it, or into a dense buffer when
    /// that pins less; otherwise the packet itself is held.
    /// </summary>
    public SequenceNumber Add(SequenceNumber rcvNxt, SequenceNumber seq, PacketBuffer packet, int offset, int length, int maxOutOfOrder, out bool accepted)
    {
        accepted = true;
        if (length == 0)
        {
            return rcvNxt;
        }
        var piece = new RxPiece { Packet = packet, Offset = offset, Length = length, Sequence = seq, Charge = packet.TrueSize };
        if (seq == rcvNxt)
        {
            if (!(piece.IsSparse && _count > 0 && TryAppend(ref _ring[(_head + _count - 1) % _ring.Length], piece)))
            {
                Enqueue(Hold(piece));
            }
            else
            {
                ReadyBytes += length;
            }
            rcvNxt += length;
            return PullContiguous(rcvNxt);
        }
        accepted = InsertOutOfOrder(piece, maxOutOfOrder);
        return rcvNxt;
    }

    /// <summary>
    /// What taking <paramref name="length"/> bytes of <paramref name="packet"/> at <paramref name="seq"/> would
    /// add to <see cref="HeldBytes"/> at most: nothing when a sparse in-order segment goes onto the end of the
    /// last piece, else its truesize, or for a sparse segment the dense copy it would become.
    /// </summary>
    public int ChargeFor(SequenceNumber rcvNxt, SequenceNumber seq, PacketBuffer packet, int length)
    {
        int charge = packet.TrueSize;
        if (charge <= 2 * length)
        {
            return charge;
        }
        if (seq == rcvNxt && _count > 0 && CanAppend(_ring[(_head + _count - 1) % _ring.Length], seq, length))
        {
            return 0;
        }
        int dense = DenseCharge(packet.Pool, length);
        return 2 * dense < charge ? dense : charge;
    }

    /// <summary>Copies out up to <paramref name="max"/> bytes worth of pieces (taking a reference on each) for a reader to copy outside the lock.</summary>
    public int Take(Span<RxPiece> taken, int max, out int pieces)
    {
        int total = 0;
        pieces = 0;
        while (_count > 0 && total < max && pieces < taken.Length)
        {
            ref RxPiece first = ref _ring[_head];
            int n = Math.Min(first.Length, max - total);
            if (n == first.Length)
            {
                HeldBytes -= first.Charge;
                taken[pieces++] = first;
                first = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
            }
            else
            {
                taken[pieces++] = new RxPiece { Packet = first.Packet.AddRef(), Offset = first.Offset, Length = n, Sequence = first.Sequence }; // charged to the queue's piece
                first.Offset += n;
                first.Length -= n;
                first.Sequence += n;
            }
            total += n;
        }
        ReadyBytes -= total;
        return total;
    }

    /// <summary>
    /// Up to four SACK blocks describing the out-of-order data (RFC 2018 §4): the latest block first, or after
    /// <paramref name="duplicate"/>, a D-SACK block reporting data received twice (RFC 2883 §4).
    /// </summary>
    public TcpSackList SackBlocks(TcpSackBlock? duplicate = null)
    {
        var list = default(TcpSackList);
        if (duplicate is TcpSackBlock d)
        {
            list.TryAdd(d);
        }
        if (_outOfOrder.Count == 0)
        {
            return list;
        }
        Span<TcpSackBlock> blocks = stackalloc TcpSackBlock[TcpSackList.Capacity * 2];
        int count = 0;
        int latest = -1;
        SequenceNumber left = _outOfOrder[0].Sequence, right = _outOfOrder[0].End;
        for (int i = 1; i <= _outOfOrder.Count; i++)
        {
            if (i < _outOfOrder.Count && _outOfOrder[i].Sequence == right)
            {
                right = _outOfOrder[i].End;
                continue;
            }
            if (count < blocks.Length)
            {
                if (_hasLatest && _latestLeft >= left && _latestLeft < right)
                {
                    latest = count;
                }
                blocks[count++] = new TcpSackBlock(left.Value, right.Value);
            }
            if (i < _outOfOrder.Count)
            {
                left = _outOfOrder[i].Sequence;
                right = _outOfOrder[i].End;
            }
        }
        if (latest >= 0)
        {
            list.TryAdd(blocks[latest]);
        }
        for (int i = 0; i < count && list.Count < TcpSackList.Capacity; i++)
        {
            if (i != latest)
            {
                list.TryAdd(blocks[i]);
            }
        }
        return list;
    }

    /// <summary>Releases every held packet.</summary>
    public void Clear()
    {
        while (_count > 0)
        {
            _ring[_head].Packet.Release();
            _ring[_head] = default;
            _head = (_head + 1) % _ring.Length;
            _count--;
        }
        ReadyBytes = 0;
        ClearOutOfOrder();
        HeldBytes = 0;
    }

    /// <summary>Releases the out-of-order data only (the in-order bytes stay readable).</summary>
    public void ClearOutOfOrder()
    {
        foreach (RxPiece piece in _outOfOrder)
        {
            HeldBytes -= piece.Charge;
            piece.Packet.Release();
        }
        _outOfOrder.Clear();
        OutOfOrderBytes = 0;
        _hasLatest = false;
    }

    /// <summary>
    /// Copies runs of sparse pieces, in order and out of order, into dense buffers and releases the packets
    /// they pinned (Linux's tcp_collapse, tcp_collapse_ofo_queue). Returns the memory freed.
    /// </summary>
    public long Collapse()
    {
        long before = HeldBytes;
        LinearizeRing();
        _count = CollapseRun(_ring.AsSpan(0, _count));
        int kept = CollapseRun(CollectionsMarshal.AsSpan(_outOfOrder));
        _outOfOrder.RemoveRange(kept, _outOfOrder.Count - kept);
        return before - HeldBytes;
    }

    /// <summary>
    /// Drops out-of-order data from the highest sequence number down, never at or below
    /// <paramref name="above"/> (the segment making room), until the queue pins at most <paramref name="target"/>
    /// bytes (Linux's tcp_prune_ofo_queue: what is nearest RCV.NXT is kept; the sender still holds what it sees
    /// SACKed, RFC 2018 §8). Returns the pieces dropped.
    /// </summary>
    public int PruneOutOfOrder(long target, SequenceNumber above)
    {
        int dropped = 0;
        while (_outOfOrder.Count > 0 && HeldBytes > target && _outOfOrder[^1].Sequence > above)
        {
            RxPiece last = _outOfOrder[^1];
            _outOfOrder.RemoveAt(_outOfOrder.Count - 1);
            HeldBytes -= last.Charge;
            OutOfOrderBytes -= last.Length;
            last.Packet.Release();
            dropped++;
        }
        if (_outOfOrder.Count == 0)
        {
            _hasLatest = false;
        }
        return dropped;
    }

    /// <summary>What a dense copy of <paramref name="length"/> bytes pins: the smallest chunk that holds them, and the object.</summary>
    private static int DenseCharge(PacketBufferPool pool, int length) => PacketBuffer.ObjectOverhead + pool.ChunkSizeFor(length);

    /// <summary>
    /// A new piece enters the queue: a sparse one is copied into a dense buffer when that pins less than half
    /// (a segment in a 64 KiB chunk; the packet is left to its other owners), otherwise the packet gains a
    /// reference. Charged either way. Full-sized segments never qualify: the hot path copies nothing.
    /// </summary>
    private RxPiece Hold(RxPiece piece)
    {
        if (piece.IsSparse && 2 * DenseCharge(piece.Packet.Pool, piece.Length) < piece.Charge)
        {
            piece = Densify(piece);
        }
        else
        {
            piece.Packet.AddRef();
        }
        HeldBytes += piece.Charge;
        return piece;
    }

    /// <summary>A copy of <paramref name="piece"/>'s bytes in a buffer of its own, charged its truesize (the caller keeps its reference on the original).</summary>
    private static RxPiece Densify(RxPiece piece)
    {
        PacketBuffer dense = piece.Packet.Pool.Rent(piece.Length, headroom: 0);
        piece.Packet.CopyTo(piece.Offset, dense.Append(piece.Length));
        return new RxPiece { Packet = dense, Offset = 0, Length = piece.Length, Sequence = piece.Sequence, Charge = dense.TrueSize };
    }

    /// <summary>
    /// Copies <paramref name="next"/> (which starts where <paramref name="target"/> ends) onto the end of
    /// <paramref name="target"/>'s packet, when that packet has the room, ends where the piece ends and has no
    /// other owner (so no reader is copying from it and no other packet sees its tailroom).
    /// </summary>
    private static bool TryAppend(ref RxPiece target, in RxPiece next)
    {
        if (!CanAppend(target, next.Sequence, next.Length))
        {
            return false;
        }
        next.Packet.CopyTo(next.Offset, target.Packet.Append(next.Length));
        target.Length += next.Length;
        return true;
    }

    private static bool CanAppend(in RxPiece target, SequenceNumber seq, int length)
    {
        PacketBuffer packet = target.Packet;
        return target.End == seq && packet.ReferenceCount == 1 && target.Offset + target.Length == packet.Length && packet.Tailroom >= length;
    }

    /// <summary>Compacts one sequence-ordered run of held pieces in place; returns how many remain (the rest of the span is cleared).</summary>
    private int CollapseRun(Span<RxPiece> pieces)
    {
        int write = 0;
        for (int read = 0; read < pieces.Length; read++)
        {
            RxPiece piece = pieces[read];
            pieces[read] = default;
            if (piece.IsSparse)
            {
                if (write > 0 && TryAppend(ref pieces[write - 1], piece))
                {
                    HeldBytes -= piece.Charge;
                    piece.Packet.Release();
                    continue;
                }
                if (DenseCharge(piece.Packet.Pool, piece.Length) < piece.Charge)
                {
                    RxPiece dense = Densify(piece);
                    HeldBytes += dense.Charge - piece.Charge;
                    piece.Packet.Release();
                    piece = dense;
                }
            }
            pieces[write++] = piece;
        }
        return write;
    }

    /// <summary>Moves the in-order pieces to the front of the ring, in order (rotation by reversals: no allocation).</summary>
    private void LinearizeRing()
    {
        if (_head == 0)
        {
            return;
        }
        _ring.AsSpan(0, _head).Reverse();
        _ring.AsSpan(_head).Reverse();
        _ring.AsSpan().Reverse();
        _head = 0;
    }

    private void Enqueue(RxPiece piece)
    {
        if (_count == _ring.Length)
        {
            var bigger = new RxPiece[_ring.Length * 2];
            for (int i = 0; i < _count; i++)
            {
                bigger[i] = _ring[(_head + i) % _ring.Length];
            }
            _ring = bigger;
            _head = 0;
        }
        _ring[(_head + _count) % _ring.Length] = piece;
        _count++;
        ReadyBytes += piece.Length;
    }

    private SequenceNumber PullContiguous(SequenceNumber rcvNxt)
    {
        while (_outOfOrder.Count > 0 && _outOfOrder[0].Sequence <= rcvNxt)
        {
            RxPiece piece = _outOfOrder[0];
            _outOfOrder.RemoveAt(0);
            OutOfOrderBytes -= piece.Length;
            int old = rcvNxt - piece.Sequence;
            if (old >= piece.Length)
            {
                HeldBytes -= piece.Charge;
                piece.Packet.Release(); // wholly duplicate
                continue;
            }
            piece.Offset += old;
            piece.Length -= old;
            piece.Sequence = rcvNxt;
            Enqueue(piece); // its charge moves with it
            rcvNxt = piece.End;
        }
        if (_outOfOrder.Count == 0)
        {
            _hasLatest = false;
        }
        return rcvNxt;
    }

    /// <summary>
    /// Inserts the parts of <paramref name="piece"/> not already held (overlaps trimmed), each charged on its
    /// own: onto the end of the piece before it when that is possible (see <see cref="TryAppend"/>), else held.
    /// </summary>
    private bool InsertOutOfOrder(RxPiece piece, int maxOutOfOrder)
    {
        SequenceNumber cursor = piece.Sequence;
        SequenceNumber end = piece.End;
        int i = 0;
        bool any = false;
        while (cursor < end)
        {
            while (i < _outOfOrder.Count && _outOfOrder[i].End <= cursor)
            {
                i++;
            }
            SequenceNumber gapEnd = i < _outOfOrder.Count ? SequenceNumber.Min(_outOfOrder[i].Sequence, end) : end;
            if (gapEnd > cursor)
            {
                int length = gapEnd - cursor;
                var gap = new RxPiece
                {
                    Packet = piece.Packet,
                    Offset = piece.Offset + (cursor - piece.Sequence),
                    Length = length,
                    Sequence = cursor,
                    Charge = piece.Charge,
                };
                if (gap.IsSparse && i > 0 && TryAppend(ref CollectionsMarshal.AsSpan(_outOfOrder)[i - 1], gap))
                {
                    OutOfOrderBytes += length;
                }
                else
                {
                    if (_outOfOrder.Count >= maxOutOfOrder)
                    {
                        return any;
                    }
                    _outOfOrder.Insert(i, Hold(gap));
                    OutOfOrderBytes += length;
                    i++;
                }
                any = true;
            }
            if (i < _outOfOrder.Count && _outOfOrder[i].Sequence <= gapEnd && _outOfOrder[i].Sequence < end)
            {
                cursor = _outOfOrder[i].End; // skip what we already hold
                i++;
            }
            else
            {
                cursor = gapEnd;
            }
        }
        _latestLeft = piece.Sequence;
        _hasLatest = true;
        return true;
    }
}
