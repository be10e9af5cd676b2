// Layer: GRO. The flow table: pre-allocated flow slots, chained hash buckets keyed by the connection, and an
// age list (oldest first) for eviction and for the order of the end-of-batch flush.
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Gro;

public sealed partial class TcpGro
{
    private Flow[] _flows = [];
    private int[] _buckets = [];     // bucket → first flow slot, or -1
    private int _bucketMask;
    private int _free = -1;          // free slots, chained through Flow.NextInBucket
    private int _oldest = -1;
    private int _newest = -1;
    private int _heldCount;
    private ulong _seed;

    /// <summary>One held flow: the first segment (which collects the others' payload) and what merging needs.</summary>
    private struct Flow
    {
        public PacketBuffer? Held;
        public FlowKey Key;
        public uint Hash;
        public int NextInBucket;
        public int Older;
        public int Newer;
        public int TcpOffset;
        public int TcpHeaderLength;
        public int SegmentSize;          // payload of the first segment: the MSS of the super-segment
        public int IpLength;             // IP length of the packet as it will be after the flush
        public int Count;                // segments held
        public uint NextSequence;        // held sequence + held payload
        public ushort NextIdentification; // IPv4: held ID + segments held
        public TcpFlags LastFlags;       // PSH/FIN of the last merged segment
    }

    private void InitializeTable(int maxFlows)
    {
        _flows = new Flow[maxFlows];
        int buckets = (int)Math.Min(1u << 17, System.Numerics.BitOperations.RoundUpToPowerOf2((uint)maxFlows * 2));
        _buckets = new int[buckets];
        Array.Fill(_buckets, -1);
        _bucketMask = buckets - 1;
        for (int i = 0; i < maxFlows; i++)
        {
            _flows[i].NextInBucket = i + 1 < maxFlows ? i + 1 : -1;
        }
        _free = 0;
        _seed = (ulong)Random.Shared.NextInt64(); // bucket placement only: output order never depends on it
    }

    private int Find(in FlowKey key, uint hash)
    {
        int index = _buckets[(int)hash & _bucketMask];
        while (index >= 0)
        {
            ref Flow flow = ref _flows[index];
            if (flow.Hash == hash && flow.Key.Equals(key))
            {
                return index;
            }
            index = flow.NextInBucket;
        }
        return -1;
    }

    /// <summary>Takes a free slot (evicting the oldest flow when there is none), links it in, and returns it.</summary>
    private int AllocateEntry(in FlowKey key, uint hash)
    {
        if (_free < 0)
        {
            _pendingEvents[(int)GroEvent.Evictions]++;
            FlushEntry(_oldest, GroFlushReason.Eviction);
        }
        int index = _free;
        ref Flow flow = ref _flows[index];
        _free = flow.NextInBucket;
        flow.Key = key;
        flow.Hash = hash;
        ref int bucket = ref _buckets[(int)hash & _bucketMask];
        flow.NextInBucket = bucket;
        bucket = index;
        flow.Newer = -1;
        flow.Older = _newest;
        if (_newest >= 0)
        {
            _flows[_newest].Newer = index;
        }
        else
        {
            _oldest = index;
        }
        _newest = index;
        _heldCount++;
        return index;
    }

    private void RemoveEntry(int index)
    {
        ref Flow flow = ref _flows[index];
        ref int link = ref _buckets[(int)flow.Hash & _bucketMask];
        while (link != index)
        {
            link = ref _flows[link].NextInBucket;
        }
        link = flow.NextInBucket;
        if (flow.Older >= 0)
        {
            _flows[flow.Older].Newer = flow.Newer;
        }
        else
        {
            _oldest = flow.Newer;
        }
        if (flow.Newer >= 0)
        {
            _flows[flow.Newer].Older = flow.Older;
        }
        else
        {
            _newest = flow.Older;
        }
        flow.Held = null;
        flow.NextInBucket = _free;
        _free = index;
        _heldCount--;
    }
}
