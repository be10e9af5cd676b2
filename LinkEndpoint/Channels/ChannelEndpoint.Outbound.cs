// Layer: link endpoints. The channel endpoint's outbound side: the bounded queue the stack writes and the device
// drains in batches (IPacketSource), with back-pressure instead of silent drops.
using System.Threading.Channels;
using NetStack.Buffers;

namespace NetStack.Link.Channels;

public sealed partial class ChannelEndpoint
{
    private readonly Channel<PacketBuffer> _outbound;

    /// <summary>Packets waiting for the device (TUN writer, wire) to read them.</summary>
    public int NumQueued => _outbound.Reader.Count;

    /// <summary>
    /// Called, on the writing thread, after <see cref="WritePackets"/> queued at least one packet: lets a device
    /// that does not wait on <see cref="WaitToReadAsync"/> learn of them its own way (the TUN endpoint writes what
    /// its reader thread's stack work queued from that thread, without waking its writer loop). Null by default.
    /// </summary>
    public Action? OutboundQueued { get; set; }

    /// <inheritdoc/>
    public int OutboundSpace => _closed ? 0 : Math.Max(0, _options.OutboundQueueCapacity - _outbound.Reader.Count);

    /// <inheritdoc/>
    public int WritePackets(ReadOnlySpan<PacketBuffer> packets)
    {
        int taken = 0;
        foreach (PacketBuffer packet in packets)
        {
            if (!_outbound.Writer.TryWrite(packet))
            {
                // Back-pressure, never a silent drop: the writer keeps the rest and waits on WaitWritableAsync.
                _events.Add(_closed ? ChannelEvent.WriteAfterClose : ChannelEvent.OutboundQueueFull, packets.Length - taken);
                break;
            }
            taken++;
        }
        _events.Add(ChannelEvent.OutboundPackets, taken);
        if (taken > 0)
        {
            OutboundQueued?.Invoke();
        }
        return taken;
    }

    /// <inheritdoc/>
    public async ValueTask WaitWritableAsync(CancellationToken cancellationToken)
    {
        // Channel's WaitToWriteAsync returns false once completed: then writes will fail and the caller sees 0 taken.
        _ = await _outbound.Writer.WaitToWriteAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Takes the next outbound packet without waiting, or null. The caller owns (and releases) it.</summary>
    public PacketBuffer? Read() => _outbound.Reader.TryRead(out var packet) ? packet : null;

    /// <summary>Waits for the next outbound packet; null once the endpoint is closed and drained.</summary>
    public async ValueTask<PacketBuffer?> ReadAsync(CancellationToken cancellationToken)
    {
        while (await _outbound.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (_outbound.Reader.TryRead(out var packet))
            {
                return packet;
            }
        }
        return null;
    }

    /// <inheritdoc/>
    public int ReadBatch(Span<PacketBuffer> destination)
    {
        int n = 0;
        while (n < destination.Length && _outbound.Reader.TryRead(out var packet))
        {
            destination[n++] = packet;
        }
        return n;
    }

    /// <inheritdoc/>
    public ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken) => _outbound.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Releases every queued outbound packet; returns how many.</summary>
    public int Drain()
    {
        int n = 0;
        while (_outbound.Reader.TryRead(out var packet))
        {
            packet.Release();
            n++;
        }
        return n;
    }
}
