// Contract between the network layer and a transport protocol (UDP, TCP): the stack hands each protocol the
// packets whose IP protocol number it registered for, and the ICMP errors about packets it sent.
using NetStack.Buffers;
using NetStack.Icmp;
using NetStack.Network;

namespace NetStack;

/// <summary>
/// A transport protocol registered on the stack (UDP, TCP). <see cref="Deliver"/> borrows the packet for the
/// call (take a reference to keep it); <see cref="DeliverIcmpError"/> reports an ICMP error about a packet this
/// protocol sent.
/// </summary>
internal interface ITransportProtocol
{
    void Deliver(in IpPacketInfo info, PacketBuffer packet);

    void DeliverIcmpError(in IcmpError error);
}
