// Layer: simulated links. The impairment stage's delay line: a bounded heap of held packets by due time.
using NetStack.Buffers;

namespace NetStack.Link.Simulation;

/// <summary>
/// A bounded min-heap of packets ordered by due timestamp, then by arrival sequence (so equal due times keep
/// arrival order and the order never depends on anything but the inputs). The entry array grows by doubling up
/// to the limit and is then reused: no allocation per packet in the steady state. Not thread-safe.
/// </summary>
internal sealed class DelayQueue
{
    private Entry[] _heap;
    private long _nextSequence;

    public DelayQueue(int limit)
    {
        Limit = limit;
        _heap = new Entry[Math.Min(limit, 64)];
    }

    public int Limit { get; }

    public int Count { get; private set; }

    public bool IsFull => Count >= Limit;

    /// <summary>Due timestamp of the earliest packet; only valid when <see cref="Count"/> is positive.</summary>
    public long EarliestDue => _heap[0].Due;

    /// <summary>Adds a packet (the queue takes over its reference); the caller checks <see cref="IsFull"/> first.</summary>
    public void Push(PacketBuffer packet, long due)
    {
        if (Count == _heap.Length)
        {
            Array.Resize(ref _heap, Math.Min(Limit, _heap.Length * 2));
        }
        var entry = new Entry(due, _nextSequence++, packet);
        int i = Count++;
        while (i > 0)
        {
            int parent = (i - 1) / 2;
            if (!Less(entry, _heap[parent]))
            {
                break;
            }
            _heap[i] = _heap[parent];
            i = parent;
        }
        _heap[i] = entry;
    }

    /// <summary>Removes the earliest packet and hands its reference to the caller.</summary>
    public PacketBuffer Pop()
    {
        PacketBuffer result = _heap[0].Packet;
        int last = --Count;
        Entry moved = _heap[last];
        _heap[last] = default;
        if (last > 0)
        {
            int i = 0;
            while (true)
            {
                int child = (2 * i) + 1;
                if (child >= last)
                {
                    break;
                }
                if (child + 1 < last && Less(_heap[child + 1], _heap[child]))
                {
                    child++;
                }
                if (!Less(_heap[child], moved))
                {
                    break;
                }
                _heap[i] = _heap[child];
                i = child;
            }
            _heap[i] = moved;
        }
        return result;
    }

    /// <summary>Releases every held packet; returns how many there were.</summary>
    public int ReleaseAll()
    {
        int n = Count;
        for (int i = 0; i < n; i++)
        {
            PacketBuffer p = _heap[i].Packet;
            _heap[i] = default;
            p.Release();
        }
        Count = 0;
        return n;
    }

    private static bool Less(in Entry a, in Entry b) => a.Due < b.Due || (a.Due == b.Due && a.Sequence < b.Sequence);

    private readonly record struct Entry(long Due, long Sequence, PacketBuffer Packet);
}
