using NetStack.Buffers;

namespace NetStack.Link.Capture;

/// <summary>
/// An <see cref="IPacketSink"/> decorator for wires: captures each packet into a <see cref="PcapWriter"/>, then
/// passes it (and its reference) on to the inner sink.
/// </summary>
public sealed class PcapTapSink : IPacketSink
{
    private readonly IPacketSink _inner;

    /// <summary>Captures into <paramref name="writer"/> what flows into <paramref name="inner"/>.</summary>
    public PcapTapSink(IPacketSink inner, PcapWriter writer)
    {
        ArgumentNullException.ThrowIfNull(inner);
        ArgumentNullException.ThrowIfNull(writer);
        _inner = inner;
        Writer = writer;
    }

    /// <summary>Where captured packets go.</summary>
    public PcapWriter Writer { get; }

    /// <summary>The sink packets are forwarded to.</summary>
    public IPacketSink Inner => _inner;

    /// <summary>Captures the packet (the writer takes its own reference), then hands it to the inner sink.</summary>
    public void Enqueue(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        Writer.Write(packet);
        _inner.Enqueue(packet);
    }

    /// <inheritdoc/>
    public void Flush() => _inner.Flush();
}
