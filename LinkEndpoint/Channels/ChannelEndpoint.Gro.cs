// Layer: link endpoints. The channel endpoint's inbound GRO: packets of a batch coalesced per TCP flow, delivered to
// the stack at the end of the batch (ARCHITECTURE.md §4).
using NetStack.Buffers;
using NetStack.Gro;

namespace NetStack.Link.Channels;

public sealed partial class ChannelEndpoint
{
    private TcpGro? _gro;

    /// <summary>The GRO engine (its events, flush reasons and pass-throughs), or null when GRO is off.</summary>
    public TcpGro? Gro => _gro;

    private void InitializeGro()
    {
        if (_options.EnableGro)
        {
            // TcpGro hands each output packet with one reference; Deliver gives it to the stack and releases it.
            _gro = new TcpGro(new GroOptions { Name = _options.Name, MaxFlows = _options.GroMaxFlows }, Deliver);
        }
    }

    private void GroEnqueue(PacketBuffer packet)
    {
        if (_gro is null)
        {
            Deliver(packet);
        }
        else
        {
            _gro.Enqueue(packet);
        }
    }

    private void GroFlush() => _gro?.Flush();
}
