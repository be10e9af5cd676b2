using NetStack.Buffers;

namespace NetStack;

/// <summary>
/// Where a wire delivers packets: the inbound side of an endpoint (the channel endpoint's RX validation and
/// GRO), an impairment stage, a capture, or a test probe. Packets arrive in batches; <see cref="Flush"/> ends a
/// batch (GRO flushes there, ARCHITECTURE.md §2). Not thread-safe: one wire drives a sink.
/// </summary>
public interface IPacketSink
{
    /// <summary>Takes one packet; ownership of one reference passes to the sink.</summary>
    void Enqueue(PacketBuffer packet);

    /// <summary>Ends the current batch.</summary>
    void Flush();
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
