using NetStack.Buffers;

namespace NetStack.Link;

public sealed partial class ChannelEndpoint
{
    private void InitializeGro()
    {
    }

    private void GroEnqueue(PacketBuffer packet) => Deliver(packet);

    private void GroFlush()
    {
    }
}
