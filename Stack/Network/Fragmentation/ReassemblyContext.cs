using NetStack.Buffers;

namespace NetStack.Network.Fragmentation;

/// <summary>
/// One datagram being reassembled: its held fragments sorted by offset (never overlapping), what the first
/// fragment said about the header, and its place in the per-version age list. Pooled and reused by
/// <see cref="FragmentReassembler"/>; the fragment array grows to the largest datagram seen and stays.
/// </summary>
internal sealed class ReassemblyContext
{
    internal FragmentKey Key;
    internal long Created;       // timestamp of the first fragment: age order for eviction
    internal long Deadline;      // timestamp at which the datagram times out
    internal ReassemblyContext? Older;
    internal ReassemblyContext? Newer;
    internal SourceUsage? Source;          // the source's usage while linked
    internal ReassemblyContext? SourceOlder; // the source's datagrams in arrival order
    internal ReassemblyContext? SourceNewer;

    internal Entry[] Entries = new Entry[4];
    internal int Count;
    internal int TotalLength;    // fragmentable data length once the last fragment arrived, else -1
    internal int Received;       // data bytes held (no overlaps, so complete when == TotalLength)
    internal long Bytes;         // memory cost charged to the reassembler

    // From the offset-0 fragment: IPv4 header length, or IPv6 fixed header + unfragmentable part (where the
    // fragment header starts); for IPv6 also where the next-header byte pointing at the fragment header sits
    // and the fragment header's own next header.
    internal int FirstHeaderLength;
    internal int FirstNextHeaderPosition;
    internal byte FirstNextHeader;

    internal bool HasFirst => Count > 0 && Entries[0].Start == 0;

    internal bool IsComplete => TotalLength >= 0 && Received == TotalLength;

    internal void Reset(in FragmentKey key, long now, long deadline)
    {
        Key = key;
        Created = now;
        Deadline = deadline;
        Older = Newer = null;
        Source = null;
        SourceOlder = SourceNewer = null;
        Count = 0;
        TotalLength = -1;
        Received = 0;
        Bytes = 0;
        FirstHeaderLength = 0;
        FirstNextHeaderPosition = 0;
        FirstNextHeader = 0;
    }

    /// <summary>Index of the first entry whose start is at or after <paramref name="start"/>.</summary>
    internal int LowerBound(int start)
    {
        int lo = 0, hi = Count;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (Entries[mid].Start < start)
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

    internal void Insert(int index, in Entry entry)
    {
        if (Count == Entries.Length)
        {
            Array.Resize(ref Entries, Entries.Length * 2); // bounded by MaxFragmentsPerDatagram; kept on reuse
        }
        Array.Copy(Entries, index, Entries, index + 1, Count - index);
        Entries[index] = entry;
        Count++;
        Received += entry.End - entry.Start;
    }

    /// <summary>One held fragment: data [Start, End) of the datagram at <see cref="DataOffset"/> in <see cref="Buffer"/>.</summary>
    internal struct Entry
    {
        internal PacketBuffer Buffer;
        internal int Start;
        internal int End;
        internal int DataOffset;
        internal bool More;
    }
}
