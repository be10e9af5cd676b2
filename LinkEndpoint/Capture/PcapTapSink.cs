// Layer: capture. The pcap tap: a sink decorator that captures every packet passing it, on a wire, in front of an
// endpoint or at the TUN layer's edge, both directions through one writer when placed on both chains.
using NetStack.Buffers;

namespace NetStack.Link.Capture;

/// <summary>
/// A <see cref="PacketSinkDecorator"/> that captures each packet into a <see cref="PcapWriter"/>, then passes it (and
/// its reference) on to the inner sink. The writer copies the bytes at the tap, so what the inner chain changes in
/// place later (GRO on write, ID renumbering) never tears a record (ARCHITECTURE.md §3); it belongs to the
/// caller: one writer may serve several taps (both directions of a port).
/// </summary>
public sealed class PcapTapSink : PacketSinkDecorator
{
    /// <summary>Captures into <paramref name="writer"/> what flows into <paramref name="inner"/>.</summary>
    public PcapTapSink(IPacketSink inner, PcapWriter writer)
        : base(inner)
    {
        ArgumentNullException.ThrowIfNull(writer);
        Writer = writer;
    }

    /// <summary>Where captured packets go.</summary>
    public PcapWriter Writer { get; }

    /// <summary>Captures the packet, then hands it to the inner sink.</summary>
    public override void Enqueue(PacketBuffer packet)
    {
        ArgumentNullException.ThrowIfNull(packet);
        Writer.Write(packet);
        Inner.Enqueue(packet);
    }
}
