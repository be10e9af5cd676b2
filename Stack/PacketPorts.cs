// Contract between a wire or device and a link endpoint's device side (ARCHITECTURE.md §1, §2): packets flow in
// batches into an IPacketSink (the channel endpoint's RX validation and GRO, or a decorator in front of it: a
// capture, an impairment, a test tracer) and out of an IPacketSource (the endpoint's outbound queue). Decorators
// derive from PacketSinkDecorator and override only what they change.
using NetStack.Buffers;

namespace NetStack;

/// <summary>
/// Where a wire or device delivers packets: the inbound side of an endpoint (the channel endpoint's RX validation
/// and GRO), a decorator in front of it (<see cref="PacketSinkDecorator"/>), or a test probe. Packets arrive in
/// batches; <see cref="Flush"/> ends a batch (GRO flushes there, ARCHITECTURE.md §2). A sink may hold packets for
/// later (a delay line): it then says when the next one falls due and releases them in <see cref="DeliverDue"/>,
/// which its driver (a wire's pump, the TUN loops) calls. Not thread-safe: one driver at a time.
/// </summary>
public interface IPacketSink
{
    /// <summary>Takes one packet; ownership of one reference passes to the sink.</summary>
    void Enqueue(PacketBuffer packet);

    /// <summary>Ends the current batch.</summary>
    void Flush();

    /// <summary>
    /// How long until the earliest packet this sink (or a sink behind it) holds falls due (<see cref="TimeSpan.Zero"/>
    /// when one is due already), or null when it holds none. Sinks that never hold packets say null.
    /// </summary>
    TimeSpan? TimeUntilNextDue => null;

    /// <summary>
    /// Passes on every held packet whose time has come (here and behind), ending the batch where any went; returns
    /// how many went. Sinks that never hold packets return 0.
    /// </summary>
    int DeliverDue() => 0;
}

/// <summary>
/// Where a wire takes packets from: the outbound queue of an endpoint. Reads transfer one reference per
/// packet to the reader.
/// </summary>
public interface IPacketSource
{
    /// <summary>Moves up to <c>destination.Length</c> queued packets into <paramref name="destination"/>; returns how many. Never blocks.</summary>
    int ReadBatch(Span<PacketBuffer> destination);

    /// <summary>Completes with true when a packet can be read, false when the source is closed and drained.</summary>
    ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken);
}

/// <summary>
/// The delegating base of every sink decorator (a pcap tap, an impairment stage, a test tracer), after gVisor's
/// nested link endpoint: each member forwards to <see cref="Inner"/>, so a decorator overrides only what it
/// changes. Decorators stack: the wire or device enqueues into the outermost, the innermost forwards to the
/// endpoint. <see cref="Dispose()"/> disposes the decorators behind this one, never the final sink (the endpoint
/// belongs to its owner).
/// </summary>
public abstract class PacketSinkDecorator : IPacketSink, IDisposable
{
    /// <summary>Puts the decorator in front of <paramref name="inner"/>.</summary>
    protected PacketSinkDecorator(IPacketSink inner)
    {
        ArgumentNullException.ThrowIfNull(inner);
        Inner = inner;
    }

    /// <summary>The sink packets are passed on to.</summary>
    public IPacketSink Inner { get; }

    /// <inheritdoc/>
    public virtual void Enqueue(PacketBuffer packet) => Inner.Enqueue(packet);

    /// <inheritdoc/>
    public virtual void Flush() => Inner.Flush();

    /// <inheritdoc/>
    public virtual TimeSpan? TimeUntilNextDue => Inner.TimeUntilNextDue;

    /// <inheritdoc/>
    public virtual int DeliverDue() => Inner.DeliverDue();

    /// <summary>Releases what this decorator holds, then disposes the decorators behind it.</summary>
    public void Dispose()
    {
        Dispose(disposing: true);
        (Inner as PacketSinkDecorator)?.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases what this decorator alone holds (held packets, metrics); called once or more, it must be idempotent.</summary>
    protected virtual void Dispose(bool disposing)
    {
    }

    /// <summary>The earlier of two due times (null meaning none).</summary>
    protected static TimeSpan? Earliest(TimeSpan? a, TimeSpan? b) => a is null ? b : b is null || a <= b ? a : b;
}
