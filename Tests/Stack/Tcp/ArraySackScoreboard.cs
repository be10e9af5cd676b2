// The SACK scoreboard as it was before its records moved into a tree: a sorted array with linear scans. Kept as
// the simple reference model SackScoreboardTests compares the tree against, and (linked into Bench) as the
// "before" side of SackScoreboardBenchmarks. Not used by the stack.
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The SACK scoreboard of one connection: records covering [SND.UNA, SND.NXT), in sequence order.
/// Invariants (checked by SackScoreboardTests): the records are contiguous and non-empty; a record is never both
/// SACKed and lost; <see cref="SackedBytes"/> and <see cref="LostBytes"/> are the sums over the records so marked; a SACK block's edges are
/// rounded inward to the segment boundaries the data was sent on, so there is never more than one record per
/// segment sent, whatever the peer reports. Not thread-safe: the connection's lock guards it. Amortized O(1) at
/// the head (ACKs) and at the tail (new data); O(n) to split in the middle (SACK edges, partial loss marks).
/// </summary>
internal sealed class ArraySackScoreboard
{
    private SentSegment[] _items = new SentSegment[16];
    private int _head;
    private int _count;
    private long _nextOrder = 1;

    /// <summary>Records held.</summary>
    public int Count => _count;

    /// <summary>Records visited and moved so far: the work the complexity tests compare.</summary>
    public long Work { get; private set; }

    /// <summary>Bytes SACKed above SND.UNA.</summary>
    public long SackedBytes { get; private set; }

    /// <summary>Bytes marked lost and not yet retransmitted.</summary>
    public long LostBytes { get; private set; }

    /// <summary>Highest sequence number SACKed (RACK.fack), or the queue's start when nothing is.</summary>
    public SequenceNumber HighestSacked { get; private set; }

    public ref SentSegment this[int index] => ref _items[_head + index];

    /// <summary>Records a transmission of new data at the tail.</summary>
    public void Append(SequenceNumber start, int length, long sentAt, bool fin, int segmentSize)
    {
        if (_count == 0)
        {
            HighestSacked = start;
        }
        else
        {
            ref SentSegment last = ref this[_count - 1];
            if (last.End == start && last.SentAt == sentAt && last.Order == _nextOrder - 1 && last.Flags == SentFlags.None && !fin
                && last.SegmentSize == segmentSize && last.Length % segmentSize == 0)
            {
                last.Length += length; // the same send opportunity: one record, one transmission
                return;
            }
        }
        EnsureRoom(1);
        _items[_head + _count] = new SentSegment { Start = start, Length = length, SentAt = sentAt, Order = _nextOrder++, SegmentSize = segmentSize, Flags = fin ? SentFlags.Fin : SentFlags.None };
        _count++;
    }

    /// <summary>Forgets everything (connection reset, close).</summary>
    public void Clear()
    {
        _head = 0;
        _count = 0;
        SackedBytes = LostBytes = 0;
    }

    /// <summary>Removes what <paramref name="ack"/> covers cumulatively, trimming a partly covered record.</summary>
    public void AckUpTo(SequenceNumber ack, ref DeliveryInfo info)
    {
        SequenceNumber highest = HighestSacked;
        while (_count > 0)
        {
            Work++;
            ref SentSegment first = ref _items[_head];
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
                first = default;
                _head++;
                _count--;
            }
            else
            {
                first.Start += covered;
                first.Length -= covered;
            }
        }
        if (_count == 0)
        {
            _head = 0;
            HighestSacked = ack;
        }
        else if (HighestSacked < ack)
        {
            HighestSacked = ack;
        }
    }

    /// <summary>What an ACK is about to change: starts with RACK.fack as it was (<see cref="HighestSacked"/>).</summary>
    public DeliveryInfo BeginDelivery() => new() { HighestSackedBefore = HighestSacked, HasHighestSackedBefore = _count > 0 };

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
        if (_count == 0)
        {
            return;
        }
        SequenceNumber start = this[0].Start, end = this[_count - 1].End;
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
        int i = SplitAt(left);
        SplitAt(right);
        for (; i < _count && this[i].Start < right; i++)
        {
            Work++;
            ref SentSegment s = ref this[i];
            if (s.Is(SentFlags.Sacked))
            {
                continue;
            }
            info.Note(s, s.Length, highestBefore);
            Account(s.Flags, -s.Length);
            s.Flags = (s.Flags & (SentFlags.EverRetransmitted | SentFlags.Fin)) | SentFlags.Sacked;
            Account(s.Flags, s.Length);
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
        int i = IndexOf(seq);
        if (i == _count)
        {
            return seq;
        }
        ref SentSegment s = ref this[i];
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

    /// <summary>Index of the record holding <paramref name="seq"/> (Count when past the end).</summary>
    private int IndexOf(SequenceNumber seq)
    {
        int lo = 0, hi = _count;
        while (lo < hi)
        {
            Work++;
            int mid = (lo + hi) >>> 1;
            if (this[mid].End <= seq)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return lo;
    }

    /// <summary>Marks record <paramref name="index"/> lost (it must not be SACKed). Returns the bytes newly marked.</summary>
    public int MarkLost(int index)
    {
        ref SentSegment s = ref this[index];
        if (s.Is(SentFlags.Lost) || s.Is(SentFlags.Sacked))
        {
            return 0;
        }
        Account(s.Flags, -s.Length);
        s.Flags |= SentFlags.Lost;
        Account(s.Flags, s.Length);
        return s.Length;
    }

    /// <summary>Marks every record that is not SACKed lost (RTO, RFC 6675 §5.1; a path MTU drop). Returns the bytes newly marked.</summary>
    public long MarkAllLost()
    {
        long marked = 0;
        for (int i = 0; i < _count; i++)
        {
            marked += MarkLost(i);
        }
        return marked;
    }

    /// <summary>Forgets SACK marks (the receiver reneged, RFC 2018 §8): the bytes count as in flight again.</summary>
    public void ClearSacks()
    {
        for (int i = 0; i < _count; i++)
        {
            ref SentSegment s = ref this[i];
            if (s.Is(SentFlags.Sacked))
            {
                Account(s.Flags, -s.Length);
                s.Flags &= ~SentFlags.Sacked;
                Account(s.Flags, s.Length);
            }
        }
        HighestSacked = _count > 0 ? this[0].Start : HighestSacked;
    }

    /// <summary>Marks what of [<paramref name="start"/>, <paramref name="end"/>) is recorded lost, splitting records at its edges.</summary>
    public void MarkLostRange(SequenceNumber start, SequenceNumber end)
    {
        int i = SplitAt(start);
        SplitAt(end);
        for (; i < _count && this[i].Start < end; i++)
        {
            MarkLost(i);
        }
    }

    /// <summary>
    /// The first run of contiguous lost records, from the first lost one, while it is shorter than
    /// <paramref name="maxLength"/> (whole records: the run may pass it by the last record's length).
    /// <paramref name="fin"/>: the run ends with our FIN. False when nothing is marked lost.
    /// </summary>
    public bool TryGetLostRun(int maxLength, out SequenceNumber start, out int length, out bool fin)
    {
        int i = FirstLost();
        start = default;
        length = 0;
        fin = false;
        if (i < 0)
        {
            return false;
        }
        start = this[i].Start;
        for (int j = i; j < _count && length < maxLength; j++)
        {
            Work++;
            ref SentSegment s = ref this[j];
            if (!s.Is(SentFlags.Lost) || s.Start != start + length)
            {
                break;
            }
            length += s.Length;
            fin = s.Is(SentFlags.Fin);
        }
        return true;
    }

    /// <summary>The last segment sent (at most <paramref name="mss"/> bytes of the last record): what a loss probe resends.</summary>
    public void TailSegment(int mss, out SequenceNumber start, out int length, out bool fin)
    {
        ref SentSegment last = ref this[_count - 1];
        length = Math.Min(last.Length, mss);
        start = last.End - length;
        fin = last.Is(SentFlags.Fin);
    }

    /// <summary>Index of the first record marked lost, or -1.</summary>
    public int FirstLost()
    {
        if (LostBytes == 0)
        {
            return -1;
        }
        for (int i = 0; i < _count; i++)
        {
            Work++;
            if (this[i].Is(SentFlags.Lost))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// RACK's step 5 (RFC 8985 §6.2) by a scan of every record below <paramref name="end"/>: marks lost each one
    /// neither SACKed nor lost that was sent before the reference transmission (<paramref name="order"/>,
    /// <paramref name="end"/>) at or before <paramref name="expiredAt"/>; <paramref name="oldestWaiting"/> is the
    /// earliest send time of the others sent before the reference (long.MaxValue when none).
    /// </summary>
    public bool MarkLostSentBefore(long order, SequenceNumber end, long expiredAt, out long oldestWaiting)
    {
        oldestWaiting = long.MaxValue;
        bool lost = false;
        for (int i = 0; i < _count; i++)
        {
            Work++;
            ref SentSegment s = ref this[i];
            if (s.Start >= end)
            {
                break;
            }
            if (s.Is(SentFlags.Sacked) || s.Is(SentFlags.Lost) || s.Order > order || (s.Order == order && s.End >= end))
            {
                continue;
            }
            if (s.SentAt <= expiredAt)
            {
                MarkLost(i);
                lost = true;
            }
            else if (s.SentAt < oldestWaiting)
            {
                oldestWaiting = s.SentAt;
            }
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
        int first = SplitAt(start);
        SplitAt(start + length);
        SequenceNumber end = start + length;
        long order = _nextOrder++;
        int last = first;
        SentFlags kept = SentFlags.None;
        for (int i = first; i < _count && this[i].Start < end; i++)
        {
            Work++;
            ref SentSegment s = ref this[i];
            Account(s.Flags, -s.Length);
            kept |= s.Flags & SentFlags.Fin;
            last = i;
        }
        if (first == _count)
        {
            return;
        }
        // One record for the whole retransmission (a contiguous run of lost ranges, never SACKed ones).
        ref SentSegment merged = ref this[first];
        merged.Length = end - merged.Start;
        merged.Flags = kept | SentFlags.EverRetransmitted;
        merged.SentAt = sentAt;
        merged.Order = order;
        merged.SegmentSize = segmentSize;
        Account(merged.Flags, merged.Length);
        int removed = last - first;
        if (removed > 0)
        {
            Array.Copy(_items, _head + last + 1, _items, _head + first + 1, _count - last - 1);
            Work += _count - last - 1;
            Array.Clear(_items, _head + _count - removed, removed);
            _count -= removed;
        }
    }

    /// <summary>Splits the record holding <paramref name="seq"/> so that a record starts there; returns its index (Count when past the end).</summary>
    public int SplitAt(SequenceNumber seq)
    {
        int lo = IndexOf(seq);
        if (lo == _count || this[lo].Start >= seq)
        {
            return lo;
        }
        EnsureRoom(1);
        int at = _head + lo;
        Array.Copy(_items, at + 1, _items, at + 2, _count - lo - 1);
        Work += _count - lo - 1;
        ref SentSegment left = ref _items[at];
        SentSegment right = left;
        int leftLength = seq - left.Start;
        right.Start = seq;
        right.Length = left.Length - leftLength;
        left.Length = leftLength;
        left.Flags &= ~SentFlags.Fin; // the FIN is the last sequence number: it stays with the right part
        _items[at + 1] = right;
        _count++;
        return lo + 1;
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

    private void EnsureRoom(int extra)
    {
        if (_head + _count + extra <= _items.Length)
        {
            return;
        }
        if (_count + extra <= _items.Length / 2)
        {
            Array.Copy(_items, _head, _items, 0, _count); // compact: the head moved far enough
            Work += _count;
        }
        else
        {
            var bigger = new SentSegment[Math.Max(_items.Length * 2, _count + extra)];
            Array.Copy(_items, _head, bigger, 0, _count);
            Work += _count;
            _items = bigger;
        }
        Array.Clear(_items, _count, _items.Length - _count);
        _head = 0;
    }
}
