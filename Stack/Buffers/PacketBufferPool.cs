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

    /// <summary>The process-wide pool with default options.</summary>
    public static PacketBufferPool Shared { get; } = new(new PacketBufferPoolOptions(), "shared");

    private readonly int[] _classSizes;
    private readonly FreeList<BufferChunk>[] _chunks;
    private readonly FreeList<PacketBuffer> _buffers;
    private readonly ConcurrentDictionary<PacketBuffer, string>? _liveSites;

    private long _rentals;
    private long _returns;
    private long _misses;
    private long _discards;
    private long _liveChunks;

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
        if (Options.DebugTracking)
        {
            _liveSites = new ConcurrentDictionary<PacketBuffer, string>(ReferenceEqualityComparer.Instance);
        }

        var tags = new KeyValuePair<string, object?>("pool", Name);
        s_meter.CreateObservableCounter("netstack.buffers.rentals", () => new Measurement<long>(Rentals, tags), description: "PacketBuffers rented");
        s_meter.CreateObservableCounter("netstack.buffers.returns", () => new Measurement<long>(Returns, tags), description: "PacketBuffers returned");
        s_meter.CreateObservableCounter("netstack.buffers.misses", () => new Measurement<long>(Misses, tags), description: "Chunk rentals that allocated");
        s_meter.CreateObservableUpDownCounter("netstack.buffers.live", () => new Measurement<long>(LiveBuffers, tags), description: "PacketBuffers rented and not yet returned");
    }

    /// <summary>The options this pool was made with.</summary>
    public PacketBufferPoolOptions Options { get; }

    /// <summary>Name used in metrics tags and diagnostics.</summary>
    public string Name { get; }

    /// <summary>Largest chunk a pooled rental can have.</summary>
    public int MaxPooledChunkSize => _classSizes[^1];

    /// <summary>PacketBuffers handed out.</summary>
    public long Rentals => Interlocked.Read(ref _rentals);

    /// <summary>PacketBuffers returned (last reference released).</summary>
    public long Returns => Interlocked.Read(ref _returns);

    /// <summary>Chunk rentals that found the class empty and allocated.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Chunks returned while their class was full and left to the GC.</summary>
    public long Discards => Interlocked.Read(ref _discards);

    /// <summary>PacketBuffers rented and not yet returned.</summary>
    public long LiveBuffers => Rentals - Returns;

    /// <summary>Chunks referenced by at least one packet.</summary>
    public long LiveChunks => Interlocked.Read(ref _liveChunks);

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
        PacketBuffer buffer = _buffers.TryPop() ?? new PacketBuffer(this);
        buffer.Initialize(chunk, headroom);
        Interlocked.Increment(ref _rentals);
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
            chunk = _chunks[cls].TryPop();
        }
        if (chunk is null)
        {
            Interlocked.Increment(ref _misses);
            chunk = cls >= 0 ? new BufferChunk(this, cls, _classSizes[cls]) : new BufferChunk(this, -1, size);
        }
        chunk.Activate();
        Interlocked.Increment(ref _liveChunks);
        return chunk;
    }

    internal void ReturnChunk(BufferChunk chunk)
    {
        Interlocked.Decrement(ref _liveChunks);
        if (chunk.SizeClass < 0 || !_chunks[chunk.SizeClass].TryPush(chunk))
        {
            Interlocked.Increment(ref _discards);
        }
    }

    internal void ReturnBuffer(PacketBuffer buffer)
    {
        Interlocked.Increment(ref _returns);
        if (_liveSites is not null)
        {
            _liveSites.TryRemove(buffer, out _);
            return; // debug mode never recycles, so a stale reference stays detectably dead
        }
        _buffers.TryPush(buffer);
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
    /// A bounded LIFO of free objects under a short lock (no copy or I/O inside it). LIFO keeps recently
    /// used (cache-warm) memory in play. Measured before anything cleverer: see BENCHMARKS.md.
    /// </summary>
    private sealed class FreeList<T>(int capacity) where T : class
    {
        private readonly T?[] _items = new T?[capacity];
        private int _count;
        private SpinLock _lock = new(enableThreadOwnerTracking: false);

        public T? TryPop()
        {
            bool taken = false;
            try
            {
                _lock.Enter(ref taken);
                if (_count == 0)
                {
                    return null;
                }
                T? item = _items[--_count];
                _items[_count] = null;
                return item;
            }
            finally
            {
                if (taken)
                {
                    _lock.Exit(useMemoryBarrier: false);
                }
            }
        }

        public bool TryPush(T item)
        {
            bool taken = false;
            try
            {
                _lock.Enter(ref taken);
                if (_count == _items.Length)
                {
                    return false;
                }
                _items[_count++] = item;
                return true;
            }
            finally
            {
                if (taken)
                {
                    _lock.Exit(useMemoryBarrier: false);
                }
            }
        }
    }
}
