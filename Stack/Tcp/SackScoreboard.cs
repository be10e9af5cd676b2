// Layer: transport (TCP), send side. The SACK scoreboard (RFC 6675 §3, RFC 8985 §5.2): one record per
// transmitted segment (a GSO super-segment is one record until SACK or loss marks split it), with its latest
// transmit time and whether it is SACKed, lost, or retransmitted; the SACK blocks of each ACK are applied here,
// D-SACK (RFC 2883) detected here. The bytes themselves stay in the SendBuffer; this holds only sequence ranges,
// in a tree so that an ACK costs O(log n) however many records a hostile peer makes (docs/ARCHITECTURE.md §6).
using NetStack.Diagnostics;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>State of one transmitted range.</summary>
[Flags]
internal enum SentFlags : byte
{
    None = 0,
    /// <summary>The peer SACKed it (RFC 2018).</summary>
    Sacked = 1,
    /// <summary>Deemed lost and not retransmitted since (RFC 6675 IsLost, RFC 8985 §6.2 step 5, or an RTO).</summary>
    Lost = 2,
    /// <summary>Retransmitted at least once: no RTT sample from it (Karn, RFC 6298 §3).</summary>
    EverRetransmitted = 4,
    /// <summary>Its last sequence number is our FIN.</summary>
    Fin = 8,
}

/// <summary>One transmitted range of sequence space.</summary>
internal struct SentSegment
{
    public SequenceNumber Start;
    public int Length;          // sequence numbers, FIN included
    public long SentAt;         // clock ticks of the latest transmission
    public long Order;          // transmission number of the latest transmission: send order, even within one clock tick
    public int SegmentSize;     // the MSS it was cut into on the wire (its records start on a segment boundary)
    public SentFlags Flags;

    public readonly SequenceNumber End => Start + Length;

    public readonly bool Is(SentFlags flag) => (Flags & flag) != 0;
}

/// <summary>What an ACK or a SACK block changed in the queue.</summary>
internal struct DeliveryInfo
{
    /// <summary>Bytes newly delivered (cumulatively ACKed and not SACKed before, or newly SACKed).</summary>
    public int NewlyDelivered;
    /// <summary>
    /// The most recently transmitted of the newly delivered ranges (RACK.xmit_ts and RACK.end_seq): its
    /// transmission number, time and end. Ordered by (Order, End): one transmission is one contiguous run.
    /// </summary>
    public long NewestOrder;
    public long NewestSentAt;
    public SequenceNumber NewestEnd;
    public bool NewestWasRetransmitted;
    /// <summary>Newest transmit time among newly delivered ranges never retransmitted (an unambiguous RTT sample), or 0.</summary>
    public long RttSampleSentAt;
    /// <summary>A newly delivered range lay below the highest range delivered before it: the network reordered (RFC 8985 §6.2 step 3).</summary>
    public bool Reordered;

    /// <summary>The highest SACKed sequence number before this ACK (RACK.fack), set once before its blocks and cumulative ACK are applied.</summary>
    public SequenceNumber HighestSackedBefore;
    public bool HasHighestSackedBefore;

    public void Note(in SentSegment s, int delivered, SequenceNumber highestDeliveredBefore)
    {
        if (HasHighestSackedBefore)
        {
            highestDeliveredBefore = HighestSackedBefore;
        }
        NewlyDelivered += delivered;
        if (s.Order > NewestOrder || (s.Order == NewestOrder && s.End > NewestEnd))
        {
            NewestOrder = s.Order;
            NewestSentAt = s.SentAt;
            NewestEnd = s.End;
            NewestWasRetransmitted = s.Is(SentFlags.EverRetransmitted);
        }
        if (!s.Is(SentFlags.EverRetransmitted) && s.SentAt > RttSampleSentAt)
        {
            RttSampleSentAt = s.SentAt;
        }
        if (s.End < highestDeliveredBefore && !s.Is(SentFlags.EverRetransmitted))
        {
            Reordered = true;
        }
    }
}

/// <summary>
/// The SACK scoreboard of one connection: records covering [SND.UNA, SND.NXT), in sequence order, held in a treap
/// (a search tree on the records' first sequence numbers, balanced by random priorities) whose nodes also know
/// what their subtree holds — records lost, records not SACKed, and the oldest transmission neither SACKed nor
/// lost — so that an ACK costs O(log n) in the records held plus O(log n) per record it changes, wherever the
/// peer puts its SACK edges (Linux keeps its retransmit queue in a red-black tree for the same reason).
/// Invariants (checked by SackScoreboardTests, which also compares every answer with the sorted array this
/// replaced): the records are contiguous and non-empty; a record is never both SACKed and lost;
/// <see cref="SackedBytes"/> and <see cref="LostBytes"/> are the sums over the records so marked; a SACK block's
/// edges are rounded inward to the segment boundaries the data was sent on, so there is never more than one record
/// per segment sent, whatever the peer reports; no record is split once <see cref="MaxRecords"/> are held.
/// Send times never decrease with the transmission number (<see cref="SentSegment.Order"/>): the clock is
/// monotonic, which RACK's query (<see cref="MarkLostSentBefore"/>) relies on.
/// The fast path of a transfer without loss: new records wait in a ring at the tail (the "clean tail": never
/// SACKed, lost or retransmitted, sent in sequence order, each transmitted after every record in the tree) and a
/// cumulative ACK takes them from its front, O(1) each, as the array before the tree did. The first operation that
/// marks, splits or re-sends a record moves the ring into the tree in O(k) (a treap built from sorted records)
/// plus one O(log n) merge, so each record enters the tree at most once: the per-ACK bound holds, amortized over
/// the records sent. Not thread-safe: the connection's lock guards it. No allocation but when the node array,
/// the ring or the build stack doubles.
/// </summary>
internal sealed class SackScoreboard
{
    /// <summary>
    /// Records beyond which none is split (docs/ARCHITECTURE.md §6): room for a full default send buffer (4 MiB) cut
    /// at the smallest MSS we send (48 bytes, Linux's tcp_min_snd_mss), 87,382 records, with room for splits to
    /// spare. At the bound (as Linux's tcp_fragment refuses once the queue is twice sndbuf, TCPWQUEUETOOBIG), SACK
    /// edges are rounded inward to whole records, loss marks and retransmissions outward, and new data joins the
    /// tail record. All of it is safe: a byte is never counted delivered that was not SACKed; rounding a loss mark
    /// out only resends more; a retransmission rounded out counts bytes not resent as resent, which RACK or the RTO
    /// repairs; new data that takes the tail's older send time may be deemed lost early (a spurious retransmission,
    /// never a missed one). Each refusal counts <see cref="TcpEvent.SackScoreboardFull"/> and is logged at most once
    /// per interval (<see cref="LimitLog"/>).
    /// </summary>
    public const int MaxRecords = 1 << 17;

    private Node[] _nodes = new Node[16]; // [0] stands for "no node": size 0, holds nothing
    private int _root;
    private int _free;     // free nodes, linked through Left
    private int _used = 1; // nodes [1, _used) have been handed out
    private uint _random;  // xorshift32 state: node priorities
    private long _nextOrder = 1;
    private SentSegment[] _tail = new SentSegment[16]; // the clean tail: a ring, records after the tree's last
    private int _tailHead;
    private int _tailCount;
    private int[] _buildStack = new int[16];
    private readonly ReasonCounters<TcpEvent>? _events;
    private readonly LimitLog? _limitLog;

    /// <summary>
    /// A scoreboard counting refusals at the bound in <paramref name="events"/> and logging them through
    /// <paramref name="limitLog"/>; <paramref name="seed"/> fixes the tree's shape (tests), 0 draws one.
    /// </summary>
    public SackScoreboard(ReasonCounters<TcpEvent>? events = null, LimitLog? limitLog = null, int seed = 0)
    {
        _events = events;
        _limitLog = limitLog;
        _random = seed != 0 ? (uint)seed : (uint)Random.Shared.Next() | 1;
        _nodes[0].OldestUnmarked = long.MaxValue;
    }

    /// <summary>Records held.</summary>
    public int Count => _nodes[_root].Size + _tailCount;

    /// <summary>Bytes SACKed above SND.UNA.</summary>
    public long SackedBytes { get; private set; }

    /// <summary>Bytes marked lost and not yet retransmitted.</summary>
    public long LostBytes { get; private set; }

    /// <summary>Highest sequence number SACKed (RACK.fack), or the queue's start when nothing is.</summary>
    public SequenceNumber HighestSacked { get; private set; }

    /// <summary>Tree nodes visited so far: the work the complexity tests bound (never a timing).</summary>
    internal long Work { get; private set; }

    /// <summary>The record at <paramref name="index"/> in sequence order (O(log n)).</summary>
    public SentSegment this[int index]
    {
        get
        {
            int inTree = _nodes[_root].Size;
            if (index >= inTree && (uint)(index - inTree) < (uint)_tailCount)
            {
                return TailAt(index - inTree);
            }
            return _nodes[NodeAt(index)].Segment;
        }
    }

    /// <summary>Records a transmission of new data at the tail.</summary>
    public void Append(SequenceNumber start, int length, long sentAt, bool fin, int segmentSize)
    {
        int count = Count;
        if (count == 0)
        {
            HighestSacked = start;
        }
        else
        {
            ref SentSegment last = ref _tailCount != 0 ? ref TailAt(_tailCount - 1) : ref _nodes[Last(_root)].Segment;
            bool sameSend = last.SentAt == sentAt && last.Order == _nextOrder - 1 && last.SegmentSize == segmentSize && last.Length % segmentSize == 0;
            if (last.End == start && last.Flags == SentFlags.None && !fin && (sameSend || count >= MaxRecords))
            {
                if (!sameSend)
                {
                    Refuse(); // at the bound: the new data joins the tail record
                }
                last.Length += length; // the same send opportunity: one record, one transmission
                return;
            }
        }
        PushTail(new SentSegment { Start = start, Length = length, SentAt = sentAt, Order = _nextOrder++, SegmentSize = segmentSize, Flags = fin ? SentFlags.Fin : SentFlags.None });
    }

    /// <summary>Forgets everything (connection reset, close).</summary>
    public void Clear()
    {
        _root = 0;
        _free = 0;
        _used = 1;
        _tailHead = _tailCount = 0;
        SackedBytes = LostBytes = 0;
    }

    /// <summary>Removes what <paramref name="ack"/> covers cumulatively, trimming a partly covered record.</summary>
    public void AckUpTo(SequenceNumber ack, ref DeliveryInfo info)
    {
        SequenceNumber highest = HighestSacked;
        while (_root != 0)
        {
            ref SentSegment first = ref _nodes[First(_root)].Segment;
            if (first.Start >= ack)
            {
                break;
            }
            int covered = Math.Min(ack - first.Start, first.Length);
            if (!first.Is(SentFlags.Sacked))
            {
                info.Note(first, covered, highest);
            }
            Account(first.Flags, -covered);
            if (covered == first.Length)
            {
                _root = RemoveFirst(_root);
            }
            else
            {
                first.Start += covered; // still below the next record's start: the tree's order holds
                first.Length -= covered;
            }
        }
        while (_root == 0 && _tailCount != 0)
        {
            ref SentSegment first = ref _tail[_tailHead];
            if (first.Start >= ack)
            {
                break;
            }
            int covered = Math.Min(ack - first.Start, first.Length);
            info.Note(first, covered, highest); // a tail record is never SACKed or lost
            if (covered == first.Length)
            {
                _tailHead = (_tailHead + 1) & (_tail.Length - 1);
                _tailCount--;
            }
            else
            {
                first.Start += covered;
                first.Length -= covered;
            }
        }
        if (Count == 0)
        {
            HighestSacked = ack;
        }
        else if (HighestSacked < ack)
        {
            HighestSacked = ack;
        }
    }

    /// <summary>What an ACK is about to change: starts with RACK.fack as it was (<see cref="HighestSacked"/>).</summary>
    public DeliveryInfo BeginDelivery() => new() { HighestSackedBefore = HighestSacked, HasHighestSackedBefore = Count != 0 };

    /// <summary>
    /// Takes the SACK blocks of an acceptable ACK (RFC 2018 §4). A first block below the cumulative ACK, or inside
    /// the second block, is a D-SACK (RFC 2883 §4): it reports data received twice, is not applied, and makes this
    /// return true. Malformed blocks, and blocks with nothing of [<paramref name="una"/>, <paramref name="nxt"/>),
    /// are ignored.
    /// </summary>
    public bool ApplySackBlocks(in TcpSackList blocks, SequenceNumber ack, SequenceNumber una, SequenceNumber nxt, ref DeliveryInfo info)
    {
        bool duplicate = false;
        for (int i = 0; i < blocks.Count; i++)
        {
            var left = new SequenceNumber(blocks[i].Left);
            var right = new SequenceNumber(blocks[i].Right);
            if (right <= left || right - left > 1 << 30)
            {
                continue; // malformed
            }
            if (i == 0 && (right <= ack || (blocks.Count > 1 && left >= new SequenceNumber(blocks[1].Left) && right <= new SequenceNumber(blocks[1].Right))))
            {
                duplicate = true;
                continue;
            }
            if (left < una || right > nxt)
            {
                if (right <= una || left >= nxt)
                {
                    continue; // nothing of it is in flight
                }
            }
            Sack(left, right, ref info);
        }
        return duplicate;
    }

    /// <summary>
    /// Marks [<paramref name="left"/>, <paramref name="right"/>) SACKed (RFC 2018 §4), splitting records at its
    /// edges — rounded inward to the segment boundaries the data was sent on, so a peer that
    /// reports odd edges (or crafts them to cut the queue byte by byte, the "SACK panic" of CVE-2019-11477/8) makes
    /// at most one record per segment sent. What a rounded edge leaves out merely counts as not SACKed.
    /// </summary>
    public void Sack(SequenceNumber left, SequenceNumber right, ref DeliveryInfo info)
    {
        FlushTail();
        if (_root == 0)
        {
            return;
        }
        SequenceNumber start = _nodes[First(_root)].Segment.Start, end = _nodes[Last(_root)].Segment.End;
        if (left < start)
        {
            left = start;
        }
        if (right > end)
        {
            right = end;
        }
        left = AlignToSegment(left, up: true);
        right = AlignToSegment(right, up: false);
        if (right <= left)
        {
            return;
        }
        SequenceNumber highestBefore = HighestSacked;
        left = Split(left, roundUp: true);
        right = Split(right, roundUp: false);
        if (left < right)
        {
            MarkRange(_root, left, right, Mark.Sacked, highestBefore, ref info);
        }
        if (right > HighestSacked)
        {
            HighestSacked = right;
        }
    }

    /// <summary>
    /// <paramref name="seq"/> moved to a segment boundary of the record holding it (records start on one and hold
    /// whole segments but for the last), or left alone at the queue's end and at a record's last sequence number.
    /// </summary>
    private SequenceNumber AlignToSegment(SequenceNumber seq, bool up)
    {
        int node = Find(seq);
        if (node == 0)
        {
            return seq;
        }
        ref SentSegment s = ref _nodes[node].Segment;
        int segmentSize = s.SegmentSize;
        if (segmentSize <= 0)
        {
            return seq;
        }
        int into = seq - s.Start;
        int past = into % segmentSize;
        if (past == 0)
        {
            return seq;
        }
        return up ? SequenceNumber.Min(s.Start + (into - past + segmentSize), s.End) : s.Start + (into - past);
    }

    /// <summary>Marks record <paramref name="index"/> lost (it must not be SACKed). Returns the bytes newly marked.</summary>
    public int MarkLost(int index)
    {
        FlushTail();
        return MarkLostNode(NodeAt(index));
    }

    /// <summary>Marks every record that is not SACKed lost (RTO, RFC 6675 §5.1; a path MTU drop). Returns the bytes newly marked.</summary>
    public long MarkAllLost()
    {
        DeliveryInfo unused = default;
        long before = LostBytes;
        FlushTail();
        if (_root != 0)
        {
            MarkRange(_root, _nodes[First(_root)].Segment.Start, _nodes[Last(_root)].Segment.End, Mark.Lost, default, ref unused);
        }
        return LostBytes - before;
    }

    /// <summary>Forgets SACK marks (the receiver reneged, RFC 2018 §8): the bytes count as in flight again.</summary>
    public void ClearSacks()
    {
        ClearSacks(_root); // the tail holds no SACKed record
        HighestSacked = _root != 0 ? _nodes[First(_root)].Segment.Start : _tailCount != 0 ? _tail[_tailHead].Start : HighestSacked;
    }

    /// <summary>Marks what of [<paramref name="start"/>, <paramref name="end"/>) is recorded lost, splitting records at its edges.</summary>
    public void MarkLostRange(SequenceNumber start, SequenceNumber end)
    {
        FlushTail();
        start = Split(start, roundUp: false);
        end = Split(end, roundUp: true);
        if (start < end)
        {
            DeliveryInfo unused = default;
            MarkRange(_root, start, end, Mark.Lost, default, ref unused);
        }
    }

    /// <summary>
    /// The first run of contiguous lost records, from the first lost one, while it is shorter than
    /// <paramref name="maxLength"/> (whole records: the run may pass it by the last record's length).
    /// <paramref name="fin"/>: the run ends with our FIN. False when nothing is marked lost.
    /// </summary>
    public bool TryGetLostRun(int maxLength, out SequenceNumber start, out int length, out bool fin)
    {
        int node = FirstLost(); // the tail holds no lost record, and a run ends where the tree does
        start = default;
        length = 0;
        fin = false;
        if (node == 0)
        {
            return false;
        }
        start = _nodes[node].Segment.Start;
        while (node != 0 && length < maxLength)
        {
            ref SentSegment s = ref _nodes[node].Segment;
            if (!s.Is(SentFlags.Lost) || s.Start != start + length)
            {
                break;
            }
            length += s.Length;
            fin = s.Is(SentFlags.Fin);
            node = Find(s.End);
        }
        return true;
    }

    /// <summary>The last segment sent (at most <paramref name="mss"/> bytes of the last record): what a loss probe resends.</summary>
    public void TailSegment(int mss, out SequenceNumber start, out int length, out bool fin)
    {
        ref SentSegment last = ref _tailCount != 0 ? ref TailAt(_tailCount - 1) : ref _nodes[Last(_root)].Segment;
        length = Math.Min(last.Length, mss);
        start = last.End - length;
        fin = last.Is(SentFlags.Fin);
    }

    /// <summary>
    /// RACK's step 5 (RFC 8985 §6.2) over the records below <paramref name="end"/>: marks lost each one neither
    /// SACKed nor lost that was sent before the reference transmission (<paramref name="order"/>, ending at
    /// <paramref name="end"/>) at or before <paramref name="expiredAt"/> (clock ticks). <paramref name="oldestWaiting"/>:
    /// the send time of the oldest such record not yet expired (long.MaxValue when none), for the reordering timer.
    /// Oldest first, so it stops at the first record that is not expired or not sent before the reference: send
    /// times grow with the transmission number. True when it marked a record lost.
    /// </summary>
    public bool MarkLostSentBefore(long order, SequenceNumber end, long expiredAt, out long oldestWaiting)
    {
        oldestWaiting = long.MaxValue;
        bool lost = false;
        while (true)
        {
            int node = OldestUnmarkedBelow(end);
            if (node == 0)
            {
                // Every tail record was sent after every tree record: the tail's first answers only now.
                if (_tailCount == 0 || _tail[_tailHead].Start >= end)
                {
                    break;
                }
                ref SentSegment t = ref _tail[_tailHead];
                if (t.Order > order || (t.Order == order && t.End >= end))
                {
                    break;
                }
                if (t.SentAt > expiredAt)
                {
                    oldestWaiting = t.SentAt;
                    break;
                }
                FlushTail(); // to be marked, it must be in the tree
                continue;
            }
            ref SentSegment s = ref _nodes[node].Segment;
            if (s.Order > order || (s.Order == order && s.End >= end))
            {
                break; // sent after the reference, and so is every other record below it
            }
            if (s.SentAt > expiredAt)
            {
                oldestWaiting = s.SentAt;
                break;
            }
            MarkLostNode(node);
            lost = true;
        }
        return lost;
    }

    /// <summary>
    /// Records that a retransmission of [<paramref name="start"/>, +<paramref name="length"/>) left at
    /// <paramref name="sentAt"/>, cut into <paramref name="segmentSize"/> segments from its start. Its records
    /// (split at its edges) become one, so that the record again starts where the wire segments do.
    /// </summary>
    public void Retransmitted(SequenceNumber start, int length, long sentAt, int segmentSize)
    {
        FlushTail(); // the new transmission number must be above every record's in the ring too
        long order = _nextOrder++;
        SequenceNumber end = start + length;
        start = Split(start, roundUp: false);
        end = Split(end, roundUp: true);
        int only = Find(start);
        if (only != 0 && _nodes[only].Segment.Start == start && _nodes[only].Segment.End == end)
        {
            // One record already (a lost run of one, a probe of the tail): changed in place.
            ref SentSegment s = ref _nodes[only].Segment;
            Account(s.Flags, -s.Length);
            s.Flags = (s.Flags & SentFlags.Fin) | SentFlags.EverRetransmitted;
            s.SentAt = sentAt;
            s.Order = order;
            s.SegmentSize = segmentSize;
            Account(s.Flags, s.Length);
            Refresh(_root, start);
            return;
        }
        SplitTree(_root, start, out int before, out int rest);
        SplitTree(rest, end, out int range, out int after);
        if (range == 0)
        {
            _root = Merge(before, after);
            return;
        }
        // One record for the whole retransmission (a contiguous run of lost ranges, never SACKed ones).
        int merged = First(range);
        SentFlags kept = Release(range, merged);
        ref Node m = ref _nodes[merged];
        m.Left = m.Right = 0;
        m.Segment.Length = end - m.Segment.Start;
        m.Segment.Flags = kept | SentFlags.EverRetransmitted;
        m.Segment.SentAt = sentAt;
        m.Segment.Order = order;
        m.Segment.SegmentSize = segmentSize;
        Account(m.Segment.Flags, m.Segment.Length);
        Update(merged);
        _root = Merge(Merge(before, merged), after);
    }

    /// <summary>Splits the record holding <paramref name="seq"/> so that a record starts there; returns its index (Count when past the end).</summary>
    public int SplitAt(SequenceNumber seq)
    {
        FlushTail();
        return Rank(Split(seq, roundUp: false));
    }

    /// <summary>
    /// Splits the record holding <paramref name="seq"/> so that a record starts there and returns
    /// <paramref name="seq"/>; at <see cref="MaxRecords"/> returns that record's start (or, when
    /// <paramref name="roundUp"/>, its end) instead.
    /// </summary>
    private SequenceNumber Split(SequenceNumber seq, bool roundUp)
    {
        int node = Find(seq);
        if (node == 0 || _nodes[node].Segment.Start == seq)
        {
            return seq;
        }
        ref SentSegment left = ref _nodes[node].Segment;
        if (Count >= MaxRecords)
        {
            Refuse();
            return roundUp ? left.End : left.Start;
        }
        SentSegment right = left;
        int leftLength = seq - left.Start;
        right.Start = seq;
        right.Length = left.Length - leftLength;
        left.Length = leftLength;
        left.Flags &= ~SentFlags.Fin; // the FIN is the last sequence number: it stays with the right part
        _root = Insert(_root, NewNode(right));
        return seq;
    }

    /// <summary>The tail record at <paramref name="index"/> (0 is the oldest).</summary>
    private ref SentSegment TailAt(int index) => ref _tail[(_tailHead + index) & (_tail.Length - 1)];

    private void PushTail(in SentSegment segment)
    {
        if (_tailCount == _tail.Length)
        {
            var grown = new SentSegment[_tail.Length * 2];
            for (int i = 0; i < _tailCount; i++)
            {
                grown[i] = TailAt(i);
            }
            _tail = grown;
            _tailHead = 0;
        }
        _tail[(_tailHead + _tailCount) & (_tail.Length - 1)] = segment;
        _tailCount++;
    }

    /// <summary>
    /// Moves the clean tail into the tree: a treap of its records built in one pass in sequence order (each new
    /// node takes as its left child what it outranks on the right spine), then merged after the tree, whose records
    /// all start below the tail's.
    /// </summary>
    private void FlushTail()
    {
        if (_tailCount == 0)
        {
            return;
        }
        int depth = 0;
        for (int i = 0; i < _tailCount; i++)
        {
            int node = NewNode(TailAt(i));
            Work++;
            int left = 0;
            while (depth > 0 && _nodes[_buildStack[depth - 1]].Priority < _nodes[node].Priority)
            {
                left = _buildStack[--depth];
                Work++;
            }
            _nodes[node].Left = left;
            if (depth > 0)
            {
                _nodes[_buildStack[depth - 1]].Right = node;
            }
            if (depth == _buildStack.Length)
            {
                Array.Resize(ref _buildStack, depth * 2);
            }
            _buildStack[depth++] = node;
        }
        int built = _buildStack[0];
        _tailHead = _tailCount = 0;
        UpdateAll(built);
        _root = Merge(_root, built);
    }

    /// <summary>Recomputes what every node of a freshly built subtree knows, children first.</summary>
    private void UpdateAll(int node)
    {
        if (node == 0)
        {
            return;
        }
        UpdateAll(_nodes[node].Left);
        UpdateAll(_nodes[node].Right);
        Update(node);
    }

    private void Refuse()
    {
        _events?.Increment(TcpEvent.SackScoreboardFull);
        _limitLog?.Hit();
    }

    private void Account(SentFlags flags, long delta)
    {
        if ((flags & SentFlags.Sacked) != 0)
        {
            SackedBytes += delta;
        }
        else if ((flags & SentFlags.Lost) != 0)
        {
            LostBytes += delta;
        }
    }

    private int MarkLostNode(int node)
    {
        ref SentSegment s = ref _nodes[node].Segment;
        if (s.Is(SentFlags.Lost) || s.Is(SentFlags.Sacked))
        {
            return 0;
        }
        Account(s.Flags, -s.Length);
        s.Flags |= SentFlags.Lost;
        Account(s.Flags, s.Length);
        Refresh(_root, s.Start);
        return s.Length;
    }

    // ---- The tree. Each node holds one record; in-order is sequence order. ----

    private enum Mark
    {
        Sacked,
        Lost,
    }

    [Flags]
    private enum Holds : byte
    {
        None = 0,
        Lost = 1,
        Unsacked = 2,
        Sacked = 4,
    }

    private struct Node
    {
        public SentSegment Segment;
        public int Left;
        public int Right;
        public int Size;              // records in the subtree
        public uint Priority;         // a parent's is at least its children's
        public Holds Holds;           // what the subtree's records are
        public long OldestUnmarked;   // least Order among the subtree's records neither SACKed nor lost, long.MaxValue if none
    }

    private int NewNode(in SentSegment segment)
    {
        int node;
        if (_free != 0)
        {
            node = _free;
            _free = _nodes[node].Left;
        }
        else
        {
            if (_used == _nodes.Length)
            {
                Array.Resize(ref _nodes, _nodes.Length * 2);
            }
            node = _used++;
        }
        _random ^= _random << 13;
        _random ^= _random >> 17;
        _random ^= _random << 5;
        _nodes[node] = new Node { Segment = segment, Priority = _random };
        Update(node);
        return node;
    }

    private void FreeNode(int node)
    {
        _nodes[node] = default;
        _nodes[node].Left = _free;
        _free = node;
    }

    /// <summary>Recomputes what <paramref name="node"/> knows of its subtree from its record and its children.</summary>
    private void Update(int node)
    {
        ref Node n = ref _nodes[node];
        ref Node l = ref _nodes[n.Left];
        ref Node r = ref _nodes[n.Right];
        n.Size = 1 + l.Size + r.Size;
        Holds holds = l.Holds | r.Holds;
        long oldest = Math.Min(l.OldestUnmarked, r.OldestUnmarked);
        SentFlags flags = n.Segment.Flags;
        if ((flags & SentFlags.Sacked) != 0)
        {
            holds |= Holds.Sacked;
        }
        else
        {
            holds |= Holds.Unsacked;
            if ((flags & SentFlags.Lost) != 0)
            {
                holds |= Holds.Lost;
            }
            else if (n.Segment.Order < oldest)
            {
                oldest = n.Segment.Order;
            }
        }
        n.Holds = holds;
        n.OldestUnmarked = oldest;
    }

    /// <summary>Recomputes the nodes on the path to the record starting at <paramref name="start"/>.</summary>
    private void Refresh(int node, SequenceNumber start)
    {
        if (node == 0)
        {
            return;
        }
        Work++;
        SequenceNumber at = _nodes[node].Segment.Start;
        if (start < at)
        {
            Refresh(_nodes[node].Left, start);
        }
        else if (start > at)
        {
            Refresh(_nodes[node].Right, start);
        }
        Update(node);
    }

    /// <summary>Splits a tree into the records starting below <paramref name="key"/> and the rest.</summary>
    private void SplitTree(int node, SequenceNumber key, out int below, out int rest)
    {
        if (node == 0)
        {
            below = rest = 0;
            return;
        }
        Work++;
        if (_nodes[node].Segment.Start < key)
        {
            SplitTree(_nodes[node].Right, key, out int right, out rest);
            _nodes[node].Right = right;
            below = node;
        }
        else
        {
            SplitTree(_nodes[node].Left, key, out below, out int left);
            _nodes[node].Left = left;
            rest = node;
        }
        Update(node);
    }

    /// <summary>Joins two trees, every record of <paramref name="low"/> below every one of <paramref name="high"/>.</summary>
    private int Merge(int low, int high)
    {
        if (low == 0)
        {
            return high;
        }
        if (high == 0)
        {
            return low;
        }
        Work++;
        if (_nodes[low].Priority > _nodes[high].Priority)
        {
            int right = Merge(_nodes[low].Right, high);
            _nodes[low].Right = right;
            Update(low);
            return low;
        }
        int left = Merge(low, _nodes[high].Left);
        _nodes[high].Left = left;
        Update(high);
        return high;
    }

    private int Insert(int node, int added)
    {
        if (node == 0)
        {
            return added;
        }
        Work++;
        SequenceNumber key = _nodes[added].Segment.Start;
        if (_nodes[added].Priority > _nodes[node].Priority)
        {
            SplitTree(node, key, out int below, out int rest);
            _nodes[added].Left = below;
            _nodes[added].Right = rest;
            Update(added);
            return added;
        }
        if (key < _nodes[node].Segment.Start)
        {
            int left = Insert(_nodes[node].Left, added);
            _nodes[node].Left = left;
        }
        else
        {
            int right = Insert(_nodes[node].Right, added);
            _nodes[node].Right = right;
        }
        Update(node);
        return node;
    }

    private int RemoveFirst(int node)
    {
        Work++;
        int left = _nodes[node].Left;
        if (left == 0)
        {
            int right = _nodes[node].Right;
            FreeNode(node);
            return right;
        }
        _nodes[node].Left = RemoveFirst(left);
        Update(node);
        return node;
    }

    /// <summary>Frees every node of a tree but <paramref name="kept"/>, taking their bytes out of the accounts; returns the FIN flag if one held it.</summary>
    private SentFlags Release(int node, int kept)
    {
        if (node == 0)
        {
            return SentFlags.None;
        }
        Work++;
        int left = _nodes[node].Left, right = _nodes[node].Right;
        SentFlags fin = _nodes[node].Segment.Flags & SentFlags.Fin;
        Account(_nodes[node].Segment.Flags, -_nodes[node].Segment.Length);
        if (node != kept)
        {
            FreeNode(node);
        }
        return fin | Release(left, kept) | Release(right, kept);
    }

    private int First(int node)
    {
        while (_nodes[node].Left != 0)
        {
            Work++;
            node = _nodes[node].Left;
        }
        return node;
    }

    private int Last(int node)
    {
        while (_nodes[node].Right != 0)
        {
            Work++;
            node = _nodes[node].Right;
        }
        return node;
    }

    /// <summary>The node whose record holds <paramref name="seq"/>, or 0.</summary>
    private int Find(SequenceNumber seq)
    {
        int node = _root;
        while (node != 0)
        {
            Work++;
            ref SentSegment s = ref _nodes[node].Segment;
            if (seq < s.Start)
            {
                node = _nodes[node].Left;
            }
            else if (seq >= s.End)
            {
                node = _nodes[node].Right;
            }
            else
            {
                return node;
            }
        }
        return 0;
    }

    private int NodeAt(int index)
    {
        if ((uint)index >= (uint)_nodes[_root].Size)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        int node = _root;
        while (true)
        {
            Work++;
            int leftSize = _nodes[_nodes[node].Left].Size;
            if (index < leftSize)
            {
                node = _nodes[node].Left;
            }
            else if (index == leftSize)
            {
                return node;
            }
            else
            {
                index -= leftSize + 1;
                node = _nodes[node].Right;
            }
        }
    }

    /// <summary>Records starting below <paramref name="seq"/>.</summary>
    private int Rank(SequenceNumber seq)
    {
        int rank = 0;
        for (int node = _root; node != 0;)
        {
            Work++;
            if (_nodes[node].Segment.Start < seq)
            {
                rank += _nodes[_nodes[node].Left].Size + 1;
                node = _nodes[node].Right;
            }
            else
            {
                node = _nodes[node].Left;
            }
        }
        return rank;
    }

    /// <summary>The first record marked lost, or 0.</summary>
    private int FirstLost()
    {
        int node = _root;
        if ((_nodes[node].Holds & Holds.Lost) == 0)
        {
            return 0;
        }
        while (true)
        {
            Work++;
            int left = _nodes[node].Left;
            if ((_nodes[left].Holds & Holds.Lost) != 0)
            {
                node = left;
            }
            else if (_nodes[node].Segment.Is(SentFlags.Lost))
            {
                return node;
            }
            else
            {
                node = _nodes[node].Right;
            }
        }
    }

    /// <summary>Of the records starting below <paramref name="end"/> neither SACKed nor lost, the first of the oldest transmission; or 0.</summary>
    private int OldestUnmarkedBelow(SequenceNumber end)
    {
        long best = long.MaxValue;
        int bestSubtree = 0;
        for (int node = _root; node != 0;)
        {
            Work++;
            ref Node n = ref _nodes[node];
            if (n.Segment.Start >= end)
            {
                node = n.Left;
                continue;
            }
            // This record and its left subtree lie below end, and before anything seen later: '<' keeps the first.
            if (_nodes[n.Left].OldestUnmarked < best)
            {
                best = _nodes[n.Left].OldestUnmarked;
                bestSubtree = n.Left;
            }
            if ((n.Segment.Flags & (SentFlags.Sacked | SentFlags.Lost)) == 0 && n.Segment.Order < best)
            {
                best = n.Segment.Order;
                bestSubtree = node;
            }
            node = n.Right;
        }
        if (bestSubtree == 0)
        {
            return 0;
        }
        for (int node = bestSubtree; ;)
        {
            Work++;
            ref Node n = ref _nodes[node];
            if (_nodes[n.Left].OldestUnmarked == best)
            {
                node = n.Left;
            }
            else if ((n.Segment.Flags & (SentFlags.Sacked | SentFlags.Lost)) == 0 && n.Segment.Order == best)
            {
                return node;
            }
            else
            {
                node = n.Right;
            }
        }
    }

    /// <summary>
    /// Marks the records of [<paramref name="left"/>, <paramref name="right"/>) (record edges) SACKed or lost,
    /// visiting only subtrees that hold a record the mark would change.
    /// </summary>
    private void MarkRange(int node, SequenceNumber left, SequenceNumber right, Mark mark, SequenceNumber highestBefore, ref DeliveryInfo info)
    {
        if (node == 0 || (mark == Mark.Sacked ? (_nodes[node].Holds & Holds.Unsacked) == 0 : _nodes[node].OldestUnmarked == long.MaxValue))
        {
            return;
        }
        Work++;
        SequenceNumber start = _nodes[node].Segment.Start;
        if (start > left)
        {
            MarkRange(_nodes[node].Left, left, right, mark, highestBefore, ref info);
        }
        if (start >= left && start < right)
        {
            ref SentSegment s = ref _nodes[node].Segment;
            if (mark == Mark.Lost)
            {
                if (!s.Is(SentFlags.Lost) && !s.Is(SentFlags.Sacked))
                {
                    Account(s.Flags, -s.Length);
                    s.Flags |= SentFlags.Lost;
                    Account(s.Flags, s.Length);
                }
            }
            else if (!s.Is(SentFlags.Sacked))
            {
                info.Note(s, s.Length, highestBefore);
                Account(s.Flags, -s.Length);
                s.Flags = (s.Flags & (SentFlags.EverRetransmitted | SentFlags.Fin)) | SentFlags.Sacked;
                Account(s.Flags, s.Length);
            }
        }
        if (start < right)
        {
            MarkRange(_nodes[node].Right, left, right, mark, highestBefore, ref info);
        }
        Update(node);
    }

    private void ClearSacks(int node)
    {
        if (node == 0 || (_nodes[node].Holds & Holds.Sacked) == 0)
        {
            return;
        }
        Work++;
        ClearSacks(_nodes[node].Left);
        ref SentSegment s = ref _nodes[node].Segment;
        if (s.Is(SentFlags.Sacked))
        {
            Account(s.Flags, -s.Length);
            s.Flags &= ~SentFlags.Sacked;
            Account(s.Flags, s.Length);
        }
        ClearSacks(_nodes[node].Right);
        Update(node);
    }
}
