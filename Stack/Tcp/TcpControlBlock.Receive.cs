// Layer: transport (TCP), receive side: the receive window with receiver-side SWS avoidance
// (RFC 9293 §3.8.6.2.2), queueing of segment text (§3.10.7.4 seventh), ACK policy (RFC 9293 §3.8.6.3,
// RFC 5681 §4.2: every second full segment, at once for out-of-order data), and the copy to the application.
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private bool _ackNow;
    private TcpSackBlock? _duplicateReceived; // data that arrived twice, for the next pure ACK's D-SACK (RFC 2883)
    private int _segmentsSinceAck;
    private int _readerOutstanding;   // bytes taken by a reader and not yet copied (still count against the window)

    /// <summary>Free receive space: the buffer minus what waits for the application.</summary>
    private int ReceiveSpace => Math.Max(0, _receiveBufferLimit - _receiveQueue.ReadyBytes - _readerOutstanding);

    /// <summary>
    /// Moves the advertised right edge forward when the increase is worth it: at least min(buffer/2, MSS)
    /// (RFC 9293 §3.8.6.2.2). Returns the increase of the window.
    /// </summary>
    private int UpdateReceiveWindow(bool force)
    {
        SequenceNumber candidate = _rcvNxt + ReceiveSpace;
        int increase = candidate - _rcvAdv;
        if (increase <= 0)
        {
            return 0;
        }
        int threshold = Math.Min(_receiveBufferLimit / 2, Math.Max(_rcvMss, 1));
        if (increase >= threshold || force)
        {
            _rcvAdv = candidate;
            return increase;
        }
        return 0;
    }

    /// <summary>Queues in-window segment text (already trimmed to the window) and decides how to ACK it.</summary>
    private void AcceptText(SequenceNumber seq, PacketBuffer packet, int offset, int length)
    {
        // A coalesced segment (GRO, or a peer's GSO over memory) stands for several wire segments: learn the
        // peer's segment size from its GSO metadata, not from its length (RFC 9293 §3.8.6.3 counts full-sized
        // segments, and a 64 KiB super-segment is 45 of them).
        int segments = 1;
        int wireSize = length;
        if (packet.Gso.IsGso && packet.Gso.MaxSegmentSize > 0)
        {
            wireSize = Math.Min(length, packet.Gso.MaxSegmentSize);
            segments = Math.Max(packet.SegmentsRepresented, (length + wireSize - 1) / wireSize);
            Protocol.Events.Increment(TcpEvent.CoalescedSegmentsReceived);
        }
        if (wireSize > _rcvMss)
        {
            _rcvMss = wireSize;
        }
        bool hadHoles = _receiveQueue.OutOfOrderCount > 0;
        SequenceNumber before = _rcvNxt;
        _rcvNxt = _receiveQueue.Add(_rcvNxt, seq, packet, offset, length, Protocol.Options.MaxOutOfOrderSegments, out bool accepted);
        if (!accepted)
        {
            Protocol.Drops.Increment(TcpDropReason.OutOfOrderQueueFull);
        }
        int delivered = _rcvNxt - before;
        _counters.Delivered(delivered);
        if (seq != before || hadHoles)
        {
            _ackNow = true; // RFC 5681 §4.2: out-of-order data, or data filling a hole, is ACKed at once
        }
        else
        {
            _segmentsSinceAck += segments;
            if (_segmentsSinceAck >= 2 || length >= 2 * _rcvMss)
            {
                _ackNow = true; // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment
            }
            else
            {
                ArmDelayedAck();
            }
        }
        if (delivered > 0)
        {
            SignalReadable();
        }
    }

    /// <summary>
    /// Copies queued bytes into <paramref name="destination"/>: pieces are taken under the lock and copied after it
    /// is released. Returns the byte count; 0 with <paramref name="endOfStream"/> after the peer's FIN.
    /// </summary>
    internal int Receive(Span<byte> destination, out bool endOfStream, out bool wouldBlock)
    {
        endOfStream = false;
        wouldBlock = false;
        RxPiece[] scratch = _readScratch;
        int total;
        int pieces;
        lock (Gate)
        {
            if (_receiveQueue.ReadyBytes == 0)
            {
                if (_error != System.Net.Sockets.SocketError.Success && _error != System.Net.Sockets.SocketError.Shutdown)
                {
                    ThrowError();
                }
                if (_finReceived || _state == TcpState.Closed)
                {
                    endOfStream = true;
                    return 0;
                }
                wouldBlock = true;
                return 0;
            }
            if (destination.IsEmpty)
            {
                return 0;
            }
            if (_readerBusy)
            {
                throw new InvalidOperationException("Another read is in progress.");
            }
            _readerBusy = true;
            total = _receiveQueue.Take(scratch, destination.Length, out pieces);
            _readerOutstanding += total;
        }
        int copied = 0;
        for (int i = 0; i < pieces; i++)
        {
            ref RxPiece piece = ref scratch[i];
            piece.Packet.CopyTo(piece.Offset, destination.Slice(copied, piece.Length));
            copied += piece.Length;
            piece.Packet.Release();
            piece = default;
        }
        lock (Gate)
        {
            _readerOutstanding -= total;
            _readerBusy = false;
            TuneReceiveBuffer(total);
            if (_state is not TcpState.Closed and not TcpState.SynSent and not TcpState.SynReceived && !_finReceived)
            {
                // Window update when the window opened a lot, e.g. from (near) zero (RFC 9293 §3.8.6.2.2).
                int oldWindow = _rcvAdv - _rcvNxt;
                int increase = UpdateReceiveWindow(force: false);
                if (increase > 0 && oldWindow < _receiveBufferLimit / 2)
                {
                    SendAck();
                }
            }
        }
        Flush();
        return total;
    }

    private readonly RxPiece[] _readScratch = new RxPiece[64];
    private bool _readerBusy;
}
