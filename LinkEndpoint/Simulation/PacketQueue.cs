// Layer: simulated links. In-memory packet plumbing for tests and simulations: a bounded queue that is both a
// sink and a source, and a link that pumps sources into sinks through optional impairments (ARCHITECTURE.md §5: every
// queue bounded, every drop counted).
using System.Threading.Channels;
using NetStack.Buffers;

namespace NetStack.Link.Simulation;

/// <summary>
/// A bounded in-memory FIFO of packets that is both an <see cref="IPacketSink"/> and an <see cref="IPacketSource"/>:
/// one side writes (an endpoint's outbound side, a test), the other reads (a <see cref="PipeLink"/>, a test).
/// A packet offered to a full or completed queue is released and counted, never blocked on. Thread-safe: writers
/// and a reader may run on different threads; no allocation per packet.
/// </summary>
internal sealed class PacketQueue : IPacketSink, IPacketSource, IDisposable
{
    private readonly Channel<PacketBuffer> _channel;
    private long _enqueued;
    private long _droppedFull;
    private long _droppedClosed;
    private long _dequeued;
    private long _flushes;

    /// <summary>Creates a queue holding at most <paramref name="capacity"/> packets.</summary>
    public PacketQueue(int capacity = 1024)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        Capacity = capacity;
        _channel = Channel.CreateBounded<PacketBuffer>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait, // TryWrite fails when full: we drop and count, never wait
            SingleReader = false,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
    }

    /// <summary>Most packets the queue holds.</summary>
    public int Capacity { get; }

    /// <summary>Packets queued now.</summary>
    public int Count => _channel.Reader.Count;

    /// <summary>Packets accepted.</summary>
    public long Enqueued => Interlocked.Read(ref _enqueued);

    /// <summary>Packets read out.</summary>
    public long Dequeued => Interlocked.Read(ref _dequeued);

    /// <summary>Packets dropped because the queue was full.</summary>
    public long DroppedFull => Interlocked.Read(ref _droppedFull);

    /// <summary>Packets dropped because the queue was completed or disposed (including those still queued at disposal).</summary>
    public long DroppedClosed => Interlocked.Read(ref _droppedClosed);

    /// <summary>Times <see cref="Flush"/> was called (batches ended by the writer).</summary>
    public long Flushes => Interlocked.Read(ref _flushes);

    /// <summary>True once <see cref="Complete"/> or <see cref="Dispose"/> was called.</summary>
    public bool IsCompleted => _completed;

    private volatile bool _completed;

    /// <summary>Queues a packet, taking its reference; when full or completed the packet is released and counted.</summary>
    public void Enqueue(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        if (_channel.Writer.TryWrite(packet))
        {
            Interlocked.Increment(ref _enqueued);
            return;
        }
        if (IsCompleted)
        {
            Interlocked.Increment(ref _droppedClosed);
        }
        else
        {
            Interlocked.Increment(ref _droppedFull);
        }
        packet.Release();
    }

    /// <summary>Ends a batch. Readers are woken per packet already, so this only counts.</summary>
    public void Flush() => Interlocked.Increment(ref _flushes);

    /// <summary>Moves up to <c>destination.Length</c> packets out of the queue, in order; the reader takes their references.</summary>
    public int ReadBatch(Span<PacketBuffer> destination)
    {
        int n = 0;
        while (n < destination.Length && _channel.Reader.TryRead(out PacketBuffer? p))
        {
            destination[n++] = p;
        }
        if (n > 0)
        {
            Interlocked.Add(ref _dequeued, n);
        }
        return n;
    }

    /// <summary>Takes one packet, or returns false when the queue is empty.</summary>
    public bool TryDequeue([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out PacketBuffer? packet)
    {
        if (_channel.Reader.TryRead(out packet))
        {
            Interlocked.Increment(ref _dequeued);
            return true;
        }
        return false;
    }

    /// <summary>Completes with true when a packet can be read, false once the queue is completed and drained.</summary>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _channel.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Accepts no more packets; readers drain what is queued and then see the end.</summary>
    public void Complete()
    {
        _completed = true;
        _channel.Writer.TryComplete();
    }

    /// <summary>Releases every queued packet (counted as <see cref="DroppedClosed"/>); returns how many.</summary>
    public int Clear()
    {
        int n = 0;
        while (_channel.Reader.TryRead(out PacketBuffer? p))
        {
            p.Release();
            n++;
        }
        Interlocked.Add(ref _droppedClosed, n);
        return n;
    }

    /// <summary>Completes the queue and releases everything still in it.</summary>
    public void Dispose()
    {
        Complete();
        Clear();
    }
}
