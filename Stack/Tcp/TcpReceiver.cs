// Layer: transport (TCP), receive side. The receive sequence space (RFC 9293 §3.3.1: IRS, RCV.NXT, and the
// right edge of the window we advertised, RCV.ADV = RCV.NXT + RCV.WND as last sent), segment acceptability
// (§3.10.7.4 first), the advertised window with receiver-side SWS avoidance (§3.8.6.2.2) and its scaling (RFC
// 7323 §2.3), the receive buffer and its auto-tuning, the ACK policy (§3.8.6.3, RFC 5681 §4.2: every second
// full-sized segment — counted GRO-aware — at once for out-of-order data, else after the delayed-ACK timeout),
// the reports of what arrived twice (D-SACK, RFC 2883), the out-of-order queue (ReceiveQueue), the memory
// that queue pins (charged by truesize and kept under a limit, as Linux's tcp_rmem accounting) and what the
// application reads.
using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// The receive side of one connection. Invariants (checked by TcpReceiverTests): the advertised right edge never
/// moves left (RFC 9293 §3.8.6.2.2: the window may shrink only as data arrives); it moves right only by at least
/// min(buffer/2, MSS) unless forced, and never beyond what the buffer and the receive memory can hold (RFC 7323
/// §2.4: the window field is rounded down, never up); RCV.NXT advances only over in-order data and the FIN; bytes
/// held (readable, out of order, being copied by a reader) never exceed the window advertised for them; the memory
/// the queue pins stays under <see cref="MemoryLimit"/> (compacted, then out-of-order data pruned, then new text
/// dropped, in that order, as Linux's tcp_prune_queue); an ACK is owed at once
/// for out-of-order data, for data filling a hole and for every second full-sized segment, and the delayed-ACK
/// timer runs only while one is owed later; one reader at a time. Not thread-safe: the connection's lock guards it.
/// </summary>
internal sealed class TcpReceiver
{
    private static readonly TimeSpan Never = TimeSpan.MaxValue;

    private readonly ReceiveQueue _queue = new();
    private readonly RxPiece[] _readScratch = new RxPiece[64];
    private readonly TcpConnectionCounters _counters;
    private readonly ReasonCounters<TcpEvent> _events;
    private readonly ReasonCounters<TcpDropReason> _drops;
    private readonly Diagnostics.LimitLog? _memoryLimited;
    private readonly int _maxOutOfOrder;
    private readonly TimeSpan _delayedAckTimeout;
    private int _mss = 536;                 // the peer's segment size as seen (RFC 9293 §3.8.6.3 "full-sized")
    private int _segmentsSinceAck;
    private int _readerOutstanding;         // bytes taken by a reader and not yet copied (still count against the window)
    private bool _readerBusy;
    private TcpSackBlock? _duplicate;       // data that arrived twice, for the next pure ACK's D-SACK (RFC 2883)
    private bool _finPending;               // a FIN arrived ahead of missing data
    private SequenceNumber _finSequence;
    private long _copiedSinceMeasure;       // auto-tuning: bytes the application read since the measurement began
    private TimeSpan _measureStart = Never; // when it began

    public TcpReceiver(int bufferLimit, int maxOutOfOrder, TimeSpan delayedAckTimeout, TcpConnectionCounters counters, ReasonCounters<TcpEvent> events, ReasonCounters<TcpDropReason> drops, Diagnostics.LimitLog? memoryLimited = null)
    {
        _memoryLimited = memoryLimited;
        BufferLimit = bufferLimit;
        _maxOutOfOrder = maxOutOfOrder;
        _delayedAckTimeout = delayedAckTimeout;
        _counters = counters;
        _events = events;
        _drops = drops;
    }

    /// <summary>IRS: the peer's initial sequence number.</summary>
    public SequenceNumber Irs { get; private set; }

    /// <summary>RCV.NXT: the next sequence number expected.</summary>
    public SequenceNumber Nxt { get; private set; }

    /// <summary>The right edge of the window we advertised (RCV.NXT + RCV.WND when it was sent).</summary>
    public SequenceNumber Adv { get; private set; }

    /// <summary>RCV.WND: what is left of the advertised window.</summary>
    public int Window => Math.Max(0, Adv - Nxt);

    /// <summary>The shift we apply to our window field (RFC 7323 §2.3).</summary>
    public byte WindowScale { get; set; }

    /// <summary>Bytes the receive buffer holds at most (auto-tuning grows it).</summary>
    public int BufferLimit { get; private set; }

    /// <summary>The peer's FIN has been taken (RCV.NXT is past it).</summary>
    public bool FinReceived { get; private set; }

    /// <summary>An ACK is owed now.</summary>
    public bool AckNow { get; private set; }

    /// <summary>When the delayed ACK is due, or never.</summary>
    public TimeSpan DelayedAckDeadline { get; private set; } = Never;

    /// <summary>RFC 7323 Last.ACK.sent: RCV.NXT as our last ACK carried it.</summary>
    public SequenceNumber LastAckSent { get; private set; }

    /// <summary>In-order bytes waiting for the application.</summary>
    public int ReadyBytes => _queue.ReadyBytes;

    /// <summary>Out-of-order segments held.</summary>
    public int OutOfOrderCount => _queue.OutOfOrderCount;

    /// <summary>
    /// Memory the queue may pin: twice the buffer (Linux's default tcp_adv_win_scale of 1 leaves half of the
    /// receive memory to overhead), charged by truesize.
    /// </summary>
    public long MemoryLimit => 2L * BufferLimit;

    /// <summary>Memory the queue pins now (truesize of what it holds).</summary>
    public long HeldBytes => _queue.HeldBytes;

    /// <summary>
    /// Free receive space: the buffer minus what waits for the application or is being copied, and no more than
    /// half the memory left (Linux's tcp_space), so the window stops growing before memory runs out.
    /// </summary>
    private int Space
    {
        get
        {
            long memory = (MemoryLimit - _queue.HeldBytes) / 2;
            return (int)Math.Max(0, Math.Min(BufferLimit - _queue.ReadyBytes - _readerOutstanding, memory));
        }
    }

    /// <summary>
    /// The window scale we offer: the smallest that lets the largest receive buffer (auto-tuning's maximum, or
    /// the fixed size) fit the 16-bit field (RFC 7323 §2.3).
    /// </summary>
    public static byte OfferedScale(TcpConnectionOptions options)
    {
        int largest = options.BufferAutoTuning ? Math.Max(options.ReceiveBufferSize, options.MaxReceiveBufferSize) : options.ReceiveBufferSize;
        byte shift = 0;
        while (shift < TcpOption.MaxWindowScale && (largest >> shift) > ushort.MaxValue)
        {
            shift++;
        }
        return shift;
    }

    /// <summary>The peer's SYN: IRS = SEG.SEQ, RCV.NXT = IRS + 1.</summary>
    public void OnSyn(SequenceNumber irs)
    {
        Irs = irs;
        Nxt = irs + 1;
    }

    /// <summary>The window of a SYN or SYN-ACK: never scaled (RFC 7323 §2.2), so at most 65535; it becomes RCV.ADV.</summary>
    public ushort SynWindow()
    {
        int window = Math.Min(BufferLimit, ushort.MaxValue);
        Adv = Nxt + window;
        return (ushort)window;
    }

    /// <summary>A SYN cookie's SYN-ACK was ours: what it advertised, and that it acknowledged RCV.NXT.</summary>
    public void RestoreSynAck()
    {
        SynWindow();
        LastAckSent = Nxt;
    }

    /// <summary>Our SYN-ACK is going out (passive open): it acknowledges RCV.NXT.</summary>
    public void NoteSynAckSent() => LastAckSent = Nxt;

    /// <summary>The handshake completed on our SYN's ACK (RFC 9293 §3.10.7.3): the window opens to the buffer, and the peer is owed an ACK.</summary>
    public void OpenAfterSynSent()
    {
        Adv = Nxt;
        UpdateWindow(force: true);
        AckNow = true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 first, the acceptability table: a segment of <paramref name="length"/> sequence numbers
    /// at <paramref name="seq"/> is acceptable when it begins or ends in the window (an empty one: at RCV.NXT);
    /// with a zero window, a segment at RCV.NXT still is (its ACK, RST and URG count; its text is trimmed).
    /// </summary>
    public bool IsAcceptable(SequenceNumber seq, int length)
    {
        int window = Window;
        SequenceNumber windowEnd = Nxt + window;
        if (length == 0)
        {
            return window == 0 ? seq == Nxt : seq.InWindow(Nxt, windowEnd);
        }
        return window > 0 ? seq.InWindow(Nxt, windowEnd) || (seq + (length - 1)).InWindow(Nxt, windowEnd) : seq == Nxt;
    }

    /// <summary>[<paramref name="seq"/>, <paramref name="end"/>) arrived again: report it on the next pure ACK (RFC 2883 §4.1.1).</summary>
    public void NoteDuplicate(SequenceNumber seq, SequenceNumber end) => _duplicate = new TcpSackBlock(seq.Value, end.Value);

    /// <summary>An ACK is owed at once.</summary>
    public void RequestAck() => AckNow = true;

    /// <summary>
    /// Queues in-window segment text (already trimmed to the window) and decides how to ACK it. A coalesced
    /// segment (GRO, or a peer's GSO over memory) stands for several wire segments: the peer's segment size comes
    /// from its GSO metadata, not its length (RFC 9293 §3.8.6.3 counts full-sized segments; a 64 KiB
    /// super-segment is 45 of them). Returns the bytes newly readable in order; <paramref name="delayedAckArmed"/>
    /// when the delayed-ACK timer was started.
    /// </summary>
    public int Accept(SequenceNumber seq, PacketBuffer packet, int offset, int length, TimeSpan now, out bool delayedAckArmed)
    {
        delayedAckArmed = false;
        int segments = 1;
        int wireSize = length;
        if (packet.Gso.IsGso && packet.Gso.MaxSegmentSize > 0)
        {
            wireSize = Math.Min(length, packet.Gso.MaxSegmentSize);
            segments = Math.Max(packet.SegmentsRepresented, (length + wireSize - 1) / wireSize);
            _events.Increment(TcpEvent.CoalescedSegmentsReceived);
        }
        if (wireSize > _mss)
        {
            _mss = wireSize;
        }
        bool hadHoles = _queue.OutOfOrderCount > 0;
        SequenceNumber before = Nxt;
        if (!MakeRoom(_queue.ChargeFor(Nxt, seq, packet, length), seq))
        {
            _drops.Increment(TcpDropReason.ReceiveMemoryFull);
            _memoryLimited?.Hit();
            AckNow = true; // the peer learns RCV.NXT and the window, and retransmits
            return 0;
        }
        Nxt = _queue.Add(Nxt, seq, packet, offset, length, _maxOutOfOrder, out bool accepted);
        if (!accepted)
        {
            _drops.Increment(TcpDropReason.OutOfOrderQueueFull);
        }
        int delivered = Nxt - before;
        _counters.Delivered(delivered);
        if (seq != before || hadHoles)
        {
            AckNow = true; // RFC 5681 §4.2: out-of-order data, or data filling a hole, is ACKed at once
            return delivered;
        }
        _segmentsSinceAck += segments;
        if (_segmentsSinceAck >= 2 || length >= 2 * _mss)
        {
            AckNow = true; // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment
        }
        else if (DelayedAckDeadline == Never)
        {
            DelayedAckDeadline = now + _delayedAckTimeout;
            delayedAckArmed = true;
        }
        return delivered;
    }

    /// <summary>
    /// Makes room for <paramref name="charge"/> bytes of receive memory as Linux's tcp_prune_queue does: compact
    /// sparse pieces, then drop out-of-order data from the top down to the segment at <paramref name="seq"/>.
    /// False when even that leaves no room; an empty queue always takes a segment.
    /// </summary>
    private bool MakeRoom(int charge, SequenceNumber seq)
    {
        if (_queue.HeldBytes == 0 || _queue.HeldBytes + charge <= MemoryLimit)
        {
            return true;
        }
        if (_queue.Collapse() > 0)
        {
            _events.Increment(TcpEvent.ReceiveQueueCollapsed);
        }
        if (_queue.HeldBytes + charge <= MemoryLimit)
        {
            return true;
        }
        int pruned = _queue.PruneOutOfOrder(MemoryLimit - charge, seq);
        if (pruned > 0)
        {
            _drops.Add(TcpDropReason.OutOfOrderPruned, pruned);
            _memoryLimited?.Hit();
        }
        return _queue.HeldBytes == 0 || _queue.HeldBytes + charge <= MemoryLimit;
    }

    /// <summary>A FIN at <paramref name="seq"/> (RFC 9293 §3.10.7.4 eighth): taken once everything before it has arrived.</summary>
    public void NoteFin(SequenceNumber seq)
    {
        _finPending = true;
        _finSequence = seq;
        if (seq != Nxt)
        {
            AckNow = true;
        }
    }

    /// <summary>A FIN is known and everything before it has arrived.</summary>
    public bool FinReady => _finPending && _finSequence == Nxt && !FinReceived;

    /// <summary>Takes the FIN: RCV.NXT passes it and it is ACKed at once.</summary>
    public void TakeFin()
    {
        Nxt += 1;
        FinReceived = true;
        AckNow = true;
        DelayedAckDeadline = Never;
    }

    /// <summary>The delayed-ACK timer fired, or an ACK went out another way.</summary>
    public void CancelDelayedAck() => DelayedAckDeadline = Never;

    /// <summary>An ACK of RCV.NXT went out: nothing is owed any more.</summary>
    public void OnAckSent()
    {
        LastAckSent = Nxt;
        DelayedAckDeadline = Never;
        AckNow = false;
        _segmentsSinceAck = 0;
    }

    /// <summary>
    /// Moves the advertised right edge forward when the increase is worth it: at least min(buffer/2, MSS)
    /// (RFC 9293 §3.8.6.2.2), or whenever <paramref name="force"/>. Returns the increase of the window.
    /// </summary>
    public int UpdateWindow(bool force)
    {
        SequenceNumber candidate = Nxt + Space;
        int increase = candidate - Adv;
        if (increase <= 0)
        {
            return 0;
        }
        int threshold = Math.Min(BufferLimit / 2, Math.Max(_mss, 1));
        if (increase >= threshold || force)
        {
            Adv = candidate;
            return increase;
        }
        return 0;
    }

    /// <summary>
    /// The window field of a segment other than a SYN: RCV.ADV − RCV.NXT scaled and rounded down, so the edge the
    /// peer sees never lies beyond what the buffer can hold (RFC 9293 §3.8.6.2.2: shrink by not advancing).
    /// Rounding down may show the peer an edge up to 2^scale − 1 bytes short of one it saw before; RFC 7323 §2.4
    /// allows that retraction as long as the receiver still takes what any earlier ACK allowed, which it does:
    /// acceptance (<see cref="Window"/>) runs to RCV.ADV, which never moves left. Rounding up instead would move
    /// the edge right by what each small segment carried, so a peer could keep a non-reading buffer open forever.
    /// </summary>
    public ushort WindowField()
    {
        UpdateWindow(force: false);
        long scaled = (long)Window >> WindowScale;
        return (ushort)Math.Min(scaled, ushort.MaxValue);
    }

    /// <summary>
    /// The SACK blocks of a segment (RFC 2018 §4) while data is out of order; on a pure ACK
    /// (<paramref name="pureAck"/>) a pending D-SACK block goes first, once (RFC 2883 §4). False when there are none.
    /// </summary>
    public bool TryGetSackBlocks(bool pureAck, out TcpSackList blocks)
    {
        if (pureAck && _duplicate is TcpSackBlock duplicate)
        {
            blocks = _queue.SackBlocks(duplicate);
            _duplicate = null;
            return true;
        }
        if (_queue.OutOfOrderCount > 0)
        {
            blocks = _queue.SackBlocks();
            return true;
        }
        blocks = default;
        return false;
    }

    /// <summary>The SACK blocks our next ACK would carry (for sizing segments).</summary>
    public TcpSackList SackBlocks() => _queue.SackBlocks();

    /// <summary>
    /// A reader takes up to <paramref name="max"/> readable bytes as pieces (each with its own reference) to copy
    /// outside the lock; they still count against the window until <see cref="EndRead"/>.
    /// </summary>
    public int BeginRead(int max, out RxPiece[] pieces, out int count)
    {
        if (_readerBusy)
        {
            throw new InvalidOperationException("Another read is in progress.");
        }
        _readerBusy = true;
        pieces = _readScratch;
        int total = _queue.Take(_readScratch, max, out count);
        _readerOutstanding += total;
        return total;
    }

    /// <summary>The reader copied <paramref name="total"/> bytes out.</summary>
    public void EndRead(int total)
    {
        _readerOutstanding -= total;
        _readerBusy = false;
    }

    /// <summary>
    /// After a read: a window update is worth an ACK when the window opened by at least min(buffer/2, MSS) from
    /// below half the buffer, e.g. from (near) zero (RFC 9293 §3.8.6.2.2).
    /// </summary>
    public bool WindowOpenedByRead()
    {
        int oldWindow = Adv - Nxt;
        int increase = UpdateWindow(force: false);
        return increase > 0 && oldWindow < BufferLimit / 2;
    }

    /// <summary>
    /// Receive-buffer auto-tuning (dynamic right-sizing, as Linux's tcp_rcv_space_adjust), after the application
    /// read <paramref name="copied"/> bytes: once per <paramref name="rtt"/>, if it read more than half the buffer
    /// in that time, the buffer doubles that rate, up to <paramref name="max"/>, so the window never limits a
    /// reader that keeps up. Never shrinks.
    /// </summary>
    public void TuneBuffer(int copied, TimeSpan now, TimeSpan rtt, int max)
    {
        if (BufferLimit >= max)
        {
            return;
        }
        if (_measureStart == Never)
        {
            _measureStart = now;
            _copiedSinceMeasure = 0;
        }
        _copiedSinceMeasure += copied;
        if (now - _measureStart < rtt)
        {
            return;
        }
        if (2 * _copiedSinceMeasure > BufferLimit)
        {
            BufferLimit = (int)Math.Min(Math.Max(2 * _copiedSinceMeasure, (long)BufferLimit * 2), max);
            _events.Increment(TcpEvent.ReceiveBufferGrown);
        }
        _measureStart = now;
        _copiedSinceMeasure = 0;
    }

    /// <summary>Releases everything held (reset, or nobody will read).</summary>
    public void Clear() => _queue.Clear();

    /// <summary>Releases the out-of-order data only (the in-order bytes stay readable).</summary>
    public void ClearOutOfOrder() => _queue.ClearOutOfOrder();
}
