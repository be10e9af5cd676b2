// Layer: transport (TCP), receive side. In-order bytes waiting for the application and the out-of-order
// queue (RFC 9293 §3.10.7.4 seventh; RFC 2018 §4 for the SACK blocks it reports). Payload stays in the
// inbound packets (one reference each); the only copy is into the application's memory.
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

    public readonly SequenceNumber End => Sequence + Length;
}

/// <summary>
/// Receive queue of one connection. Not thread-safe: the connection's lock guards it. Memory is bounded by
/// the receive window (only in-window bytes are accepted) and the out-of-order segment limit.
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

    /// <summary>
    /// Takes in-window payload at <paramref name="seq"/> (≥ <paramref name="rcvNxt"/>). Returns the new RCV.NXT
    /// (advanced over this segment and any out-of-order data it made contiguous). <paramref name="accepted"/>
    /// is false when the out-of-order queue was full.
    /// </summary>
    public SequenceNumber Add(SequenceNumber rcvNxt, SequenceNumber seq, PacketBuffer packet, int offset, int length, int maxOutOfOrder, out bool accepted)
    {
        accepted = true;
        if (length == 0)
        {
            return rcvNxt;
        }
        if (seq == rcvNxt)
        {
            Enqueue(new RxPiece { Packet = packet.AddRef(), Offset = offset, Length = length, Sequence = seq });
            rcvNxt += length;
            return PullContiguous(rcvNxt);
        }
        accepted = InsertOutOfOrder(new RxPiece { Packet = packet, Offset = offset, Length = length, Sequence = seq }, maxOutOfOrder);
        return rcvNxt;
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
                taken[pieces++] = first;
                first = default;
                _head = (_head + 1) % _ring.Length;
                _count--;
            }
            else
            {
                taken[pieces++] = new RxPiece { Packet = first.Packet.AddRef(), Offset = first.Offset, Length = n, Sequence = first.Sequence };
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
        foreach (RxPiece piece in _outOfOrder)
        {
            piece.Packet.Release();
        }
        _outOfOrder.Clear();
        _hasLatest = false;
    }

    /// <summary>Releases the out-of-order data only (the in-order bytes stay readable).</summary>
    public void ClearOutOfOrder()
    {
        foreach (RxPiece piece in _outOfOrder)
        {
            piece.Packet.Release();
        }
        _outOfOrder.Clear();
        _hasLatest = false;
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
            int old = rcvNxt - piece.Sequence;
            if (old >= piece.Length)
            {
                piece.Packet.Release(); // wholly duplicate
                continue;
            }
            piece.Offset += old;
            piece.Length -= old;
            piece.Sequence = rcvNxt;
            Enqueue(piece);
            rcvNxt = piece.End;
        }
        if (_outOfOrder.Count == 0)
        {
            _hasLatest = false;
        }
        return rcvNxt;
    }

    /// <summary>Inserts the parts of <paramref name="piece"/> not already held (overlaps trimmed), each with its own reference.</summary>
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
                if (_outOfOrder.Count >= maxOutOfOrder)
                {
                    return any;
                }
                int length = gapEnd - cursor;
                _outOfOrder.Insert(i, new RxPiece
                {
                    Packet = piece.Packet.AddRef(),
                    Offset = piece.Offset + (cursor - piece.Sequence),
                    Length = length,
                    Sequence = cursor,
                });
                i++;
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
