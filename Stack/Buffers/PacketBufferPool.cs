using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace NetStack.Buffers;

/// <summary>
/// A capped pool of <see cref="PacketBuffer"/>s and the pinned chunks behind them, in size classes.
/// The I/O edge rents what it needs (a reader rents an MTU-sized buffer for an MTU-sized read and a
/// 64 KiB one only for a GSO read), so memory follows traffic rather than worst cases: the ownership
/// inversion wireguard-go made to cut RSS from over 1 GB to about 200 MB at 32 streams.
/// Thread-safe. Counters let tests assert that nothing leaked.
/// </summary>
public sealed class PacketBufferPool
{
    private static readonly Meter s_meter = new("NetStack.Buffers", "1.0");
    private static readonly Diagnostics.LiveInstances<PacketBufferPool> s_pools = new();

    static PacketBufferPool()
    {
        // One set of instruments for every pool, holding pools weakly: a meter keeps its callbacks alive
        // forever, so per-pool instruments would keep every pool (and its free chunks) reachable.
        s_meter.CreateObservableCounter("netstack.buffers.rentals", () => Observe(p => p.Rentals), unit: "{buffer}", description: "PacketBuffers rented");
        s_meter.CreateObservableCounter("netstack.buffers.returns", () => Observe(p => p.Returns), unit: "{buffer}", description: "PacketBuffers returned");
        s_meter.CreateObservableCounter("netstack.buffers.misses", () => Observe(p => p.Misses), unit: "{chunk}", description: "Chunk rentals that allocated");
        s_meter.CreateObservableUpDownCounter("netstack.buffers.live", () => Observe(p => p.LiveBuffers), unit: "{buffer}", description: "PacketBuffers rented and not yet returned");
    }

    private static void Register(PacketBufferPool pool) => s_pools.Add(pool);

    private static List<Measurement<long>> Observe(Func<PacketBufferPool, long> read) =>
        s_pools.Observe<long>((pool, result) => result.Add(new Measurement<long>(read(pool), new KeyValuePair<string, object?>("pool", pool.Name))));

    /// <summary>The process-wide pool with default options.</summary>
    public static PacketBufferPool Shared { get; } = new(new PacketBufferPoolOptions(), "shared");

    private readonly int[] _classSizes;
    private readonly FreeList<BufferChunk>[] _chunks;
    private readonly FreeList<PacketBuffer> _buffers;
    private readonly FreeList<PayloadSegment[]>[] _segmentLists; // 16, 64 and 128 entries: coalesced packets
    private readonly ConcurrentDictionary<PacketBuffer, string>? _liveSites;

    private long _misses;
    private long _discards;

    /// <summary>Creates a pool.</summary>
    public PacketBufferPool(PacketBufferPoolOptions? options = null, string? name = null)
    {
        Options = options ?? new PacketBufferPoolOptions();
        Name = name ?? "pool";
        if (Options.SizeClasses.Length == 0 || Options.SizeClasses.Length != Options.MaxRetained.Length)
        {
            throw new ArgumentException("SizeClasses and MaxRetained must be non-empty and of equal length.", nameof(options));
        }
        _classSizes = (int[])Options.SizeClasses.Clone();
        for (int i = 1; i < _classSizes.Length; i++)
        {
            if (_classSizes[i] <= _classSizes[i - 1])
            {
                throw new ArgumentException("SizeClasses must be ascending.", nameof(options));
            }
        }
        _chunks = new FreeList<BufferChunk>[_classSizes.Length];
        for (int i = 0; i < _chunks.Length; i++)
        {
            _chunks[i] = new FreeList<BufferChunk>(Options.MaxRetained[i]);
        }
        _buffers = new FreeList<PacketBuffer>(Options.DebugTracking ? 0 : Options.MaxRetainedBuffers);
        _segmentLists = [new(Options.MaxRetainedBuffers / 4), new(Options.MaxRetainedBuffers / 4), new(Options.MaxRetainedBuffers / 8)];
        if (Options.DebugTracking)
        {
            _liveSites = new ConcurrentDictionary<PacketBuffer, string>(ReferenceEqualityComparer.Instance);
        }

        Register(this);
    }

    /// <summary>The options this pool was made with.</summary>
    public PacketBufferPoolOptions Options { get; }

    /// <summary>Name used in metrics tags and diagnostics.</summary>
    public string Name { get; }

    /// <summary>Largest chunk a pooled rental can have.</summary>
    public int MaxPooledChunkSize => _classSizes[^1];

    /// <summary>PacketBuffers handed out.</summary>
    public long Rentals => _buffers.Taken;

    /// <summary>PacketBuffers returned (last reference released).</summary>
    public long Returns => _buffers.Put;

    /// <summary>Chunk rentals that found the class empty and allocated.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Chunks returned while their class was full and left to the GC.</summary>
    public long Discards => Interlocked.Read(ref _discards);

    /// <summary>PacketBuffers rented and not yet returned.</summary>
    public long LiveBuffers => Rentals - Returns;

    /// <summary>Chunks referenced by at least one packet.</summary>
    public long LiveChunks
    {
        get
        {
            long live = 0;
            foreach (var list in _chunks)
            {
                live += list.Taken - list.Put;
            }
            return live + Interlocked.Read(ref _oversizeLive);
        }
    }

    private long _oversizeLive;
    private long _oversizeBytes;

    /// <summary>Bytes in chunks referenced by at least one packet (what live packets pin, free lists excluded).</summary>
    public long LiveBytes
    {
        get
        {
            long live = Interlocked.Read(ref _oversizeBytes);
            for (int i = 0; i < _chunks.Length; i++)
            {
                live += (_chunks[i].Taken - _chunks[i].Put) * _classSizes[i];
            }
            return live;
        }
    }

    /// <summary>
    /// Live packets pin more than <see cref="PacketBufferPoolOptions.MaxLiveBytes"/>: inbound packets are to be
    /// dropped until some are returned. Reads the counters the free lists keep anyway: no atomic per rental.
    /// </summary>
    public bool IsOverLimit => Options.MaxLiveBytes > 0 && LiveBytes > Options.MaxLiveBytes;

    /// <summary>
    /// Rents a buffer whose head has <paramref name="headroom"/> bytes in front for headers and at least
    /// <paramref name="capacity"/> bytes of tailroom; it starts empty (<see cref="PacketBuffer.Length"/> 0).
    /// </summary>
    public PacketBuffer Rent(int capacity, int headroom = -1)
    {
        if (headroom < 0)
        {
            headroom = Options.DefaultHeadroom;
        }
        ArgumentOutOfRangeException.ThrowIfNegative(capacity);
        BufferChunk chunk = RentChunk(capacity + headroom);
        PacketBuffer buffer = _buffers.Take() ?? new PacketBuffer(this);
        buffer.Initialize(chunk, headroom);
        if (_liveSites is not null)
        {
            _liveSites[buffer] = new StackTrace(1, true).ToString();
        }
        return buffer;
    }

    /// <summary>Rents a buffer holding a copy of <paramref name="data"/> (for tests, replays and the edges that must copy).</summary>
    public PacketBuffer RentCopy(ReadOnlySpan<byte> data, int headroom = -1)
    {
        PacketBuffer buffer = Rent(data.Length, headroom);
        data.CopyTo(buffer.Append(data.Length));
        return buffer;
    }

    /// <summary>Describes every live buffer and where it was rented (debug mode), for leak reports.</summary>
    public string DescribeLive()
    {
        if (_liveSites is null)
        {
            return $"{LiveBuffers} live buffer(s) in pool '{Name}' (enable DebugTracking for rental sites)";
        }
        var sb = new System.Text.StringBuilder();
        sb.Append(LiveBuffers).Append(" live buffer(s) in pool '").Append(Name).AppendLine("':");
        foreach (var site in _liveSites.Values.Take(10))
        {
            sb.AppendLine("--- rented at:").AppendLine(site);
        }
        return sb.ToString();
    }

    internal string? RentalSite(PacketBuffer buffer) =>
        _liveSites is not null && _liveSites.TryGetValue(buffer, out var site) ? site : null;

    internal BufferChunk RentChunk(int size)
    {
        int cls = ClassFor(size);
        BufferChunk? chunk = null;
        if (cls >= 0)
        {
            chunk = _chunks[cls].Take();
        }
        else
        {
            Interlocked.Increment(ref _oversizeLive);
            Interlocked.Add(ref _oversizeBytes, size);
        }
        if (chunk is null)
        {
            Interlocked.Increment(ref _misses);
            chunk = cls >= 0 ? new BufferChunk(this, cls, _classSizes[cls]) : new BufferChunk(this, -1, size);
        }
        chunk.Activate();
        return chunk;
    }

    internal void ReturnChunk(BufferChunk chunk)
    {
        if (chunk.SizeClass < 0)
        {
            Interlocked.Decrement(ref _oversizeLive);
            Interlocked.Add(ref _oversizeBytes, -chunk.Array.Length);
            Interlocked.Increment(ref _discards);
        }
        else if (!_chunks[chunk.SizeClass].Return(chunk))
        {
            Interlocked.Increment(ref _discards);
        }
    }

    internal void ReturnBuffer(PacketBuffer buffer)
    {
        if (_liveSites is not null)
        {
            _liveSites.TryRemove(buffer, out _);
        }
        // Debug mode keeps no free buffers (capacity 0), so a stale reference stays detectably dead.
        _buffers.Return(buffer);
    }

    /// <summary>Segment-list sizes a coalesced packet steps through (the last is <see cref="PacketBuffer.MaxPayloadSegments"/>).</summary>
    private static readonly int[] s_segmentListSizes = [16, 64, PacketBuffer.MaxPayloadSegments];

    /// <summary>
    /// A segment list of at least <paramref name="minimum"/> entries for a packet that outgrew its inline four:
    /// pooled here, not per thread, because packets are coalesced on one thread and released on another.
    /// </summary>
    internal PayloadSegment[] RentSegmentList(int minimum)
    {
        for (int i = 0; i < s_segmentListSizes.Length; i++)
        {
            if (minimum <= s_segmentListSizes[i])
            {
                return _segmentLists[i].Take() ?? new PayloadSegment[s_segmentListSizes[i]];
            }
        }
        throw new ArgumentOutOfRangeException(nameof(minimum));
    }

    /// <summary>Takes back a list from <see cref="RentSegmentList"/>; the caller cleared the entries it used.</summary>
    internal void ReturnSegmentList(PayloadSegment[] list)
    {
        for (int i = 0; i < s_segmentListSizes.Length; i++)
        {
            if (list.Length == s_segmentListSizes[i])
            {
                _segmentLists[i].Return(list);
                return;
            }
        }
    }

    /// <summary>Bytes of the chunk a rental of <paramref name="size"/> bytes (headroom included) pins.</summary>
    internal int ChunkSizeFor(int size)
    {
        int cls = ClassFor(size);
        return cls >= 0 ? _classSizes[cls] : size;
    }

    private int ClassFor(int size)
    {
        for (int i = 0; i < _classSizes.Length; i++)
        {
            if (size <= _classSizes[i])
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// A bounded LIFO of free objects under a tiny test-and-set lock held only for a pointer swap (no copy or
    /// I/O inside it). It also counts takes and puts under that lock, so the pool's counters cost no extra
    /// atomic operation. LIFO keeps recently used (cache-warm) memory in play. See BENCHMARKS.md for the
    /// measurement behind this design.
    /// </summary>
    private sealed class FreeList<T>(int capacity) where T : class
    {
        private readonly T?[] _items = new T?[capacity];
        private int _count;
        private int _lock;
        private long _taken;   // successful pops plus misses recorded by the caller
        private long _put;     // pushes, accepted or not

        public long Taken => Volatile.Read(ref _taken);

        public long Put => Volatile.Read(ref _put);

        /// <summary>Pops a free item, or returns null (and still counts the take, since the caller will allocate).</summary>
        public T? Take()
        {
            Enter();
            _taken++;
            T? item = null;
            if (_count > 0)
            {
                item = _items[--_count];
                _items[_count] = null;
            }
            Volatile.Write(ref _lock, 0);
            return item;
        }

        /// <summary>Pushes an item; false when full (the caller lets the GC have it). Counts the put either way.</summary>
        public bool Return(T item)
        {
            Enter();
            _put++;
            bool kept = _count < _items.Length;
            if (kept)
            {
                _items[_count++] = item;
            }
            Volatile.Write(ref _lock, 0);
            return kept;
        }

        private void Enter()
        {
            if (Interlocked.CompareExchange(ref _lock, 1, 0) != 0)
            {
                SpinUntilFree();
            }
        }

        private void SpinUntilFree()
        {
            var spinner = default(SpinWait);
            do
            {
                spinner.SpinOnce(sleep1Threshold: -1);
            }
            while (Volatile.Read(ref _lock) != 0 || Interlocked.CompareExchange(ref _lock, 1, 0) != 0);
        }
    }
}
