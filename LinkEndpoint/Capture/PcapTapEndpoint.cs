using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Link.Capture;

/// <summary>
/// A decorator that captures everything an <see cref="ILinkEndpoint"/> carries into a <see cref="PcapWriter"/>:
/// outbound packets the inner endpoint took in <see cref="WritePackets"/>, and inbound packets it delivers to the
/// dispatcher (the dispatcher is wrapped on <see cref="Attach"/>). Everything else forwards to the inner endpoint.
/// </summary>
public sealed class PcapTapEndpoint : ILinkEndpoint
{
    private readonly ILinkEndpoint _inner;
    private readonly bool _ownsWriter;

    /// <summary>Wraps <paramref name="inner"/>; with <paramref name="ownsWriter"/> <see cref="Close"/> also disposes the writer.</summary>
    public PcapTapEndpoint(ILinkEndpoint inner, PcapWriter writer, bool ownsWriter = false)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(writer);
        _inner = inner;
        Writer = writer;
        _ownsWriter = ownsWriter;
    }

    /// <summary>The endpoint being captured.</summary>
    public ILinkEndpoint Inner => _inner;

    /// <summary>Where captured packets go.</summary>
    public PcapWriter Writer { get; }

    /// <inheritdoc/>
    public int Mtu
    {
        get => _inner.Mtu;
        set => _inner.Mtu = value;
    }

    /// <inheritdoc/>
    public int MaxHeaderLength => _inner.MaxHeaderLength;

    /// <inheritdoc/>
    public ReadOnlyMemory<byte> LinkAddress => _inner.LinkAddress;

    /// <inheritdoc/>
    public LinkCapabilities Capabilities => _inner.Capabilities;

    /// <inheritdoc/>
    public int GsoMaxSize => _inner.GsoMaxSize;

    /// <inheritdoc/>
    public GsoSupport SupportedGso => _inner.SupportedGso;

    /// <inheritdoc/>
    public bool IsAttached => _inner.IsAttached;

    /// <inheritdoc/>
    public void Attach(INetworkDispatcher? dispatcher) =>
        _inner.Attach(dispatcher is null ? null : new TapDispatcher(dispatcher, Writer));

    /// <summary>
    /// Offers the packets to the inner endpoint and captures those it took. The packets are pinned with an extra
    /// reference for the call, since the inner endpoint may release a packet it took before returning.
    /// </summary>
    public int WritePackets(ReadOnlySpan<PacketBuffer> packets)
    {
        int pinned = 0;
        try
        {
            for (; pinned < packets.Length; pinned++)
            {
                packets[pinned].AddRef();
            }
            int taken = _inner.WritePackets(packets);
            for (int i = 0; i < taken; i++)
            {
                Writer.Write(packets[i]);
            }
            return taken;
        }
        finally
        {
            for (int i = 0; i < pinned; i++)
            {
                packets[i].Release();
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask WaitWritableAsync(CancellationToken cancellationToken) => _inner.WaitWritableAsync(cancellationToken);

    /// <inheritdoc/>
    public int OutboundSpace => _inner.OutboundSpace;

    /// <summary>Closes the inner endpoint, and the writer when the tap owns it.</summary>
    public void Close()
    {
        _inner.Close();
        if (_ownsWriter)
        {
            Writer.Dispose();
        }
    }

    /// <summary>Captures each inbound packet, then delivers it (the capture takes its own reference).</summary>
    private sealed class TapDispatcher(INetworkDispatcher inner, PcapWriter writer) : INetworkDispatcher
    {
        public void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet)
        {
            writer.Write(packet);
            inner.DeliverNetworkPacket(protocol, packet);
        }
    }
}
