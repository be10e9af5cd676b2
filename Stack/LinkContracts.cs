// Layer: link-endpoint contracts (gVisor's pkg/tcpip/stack/registration.go is the model). The stack talks
// to every device through ILinkEndpoint; devices hand inbound packets to the stack through
// INetworkDispatcher. Nothing here knows about TUN, pcap or GRO (ARCHITECTURE.md §1).
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack;

/// <summary>What a link endpoint can do for the stack.</summary>
[Flags]
public enum LinkCapabilities
{
    /// <summary>Nothing special.</summary>
    None = 0,
    /// <summary>Inbound packets have had their checksums verified; the stack need not re-validate packets marked <see cref="PacketBuffer.RxChecksumValidated"/>.</summary>
    RxChecksumOffload = 1 << 0,
    /// <summary>Packets written are delivered back to this host (a loopback device).</summary>
    Loopback = 1 << 1,
    /// <summary>
    /// The endpoint takes a single packet (not only a super-segment) whose transport checksum is left partial:
    /// <see cref="GsoOptions.NeedsChecksum"/> with no GSO type, the pseudo-header sum in the checksum field, and
    /// the device completes it (virtio_net_hdr NEEDS_CSUM; Linux's NETIF_F_HW_CSUM). TCP then sums no payload.
    /// </summary>
    TxChecksumOffload = 1 << 2,
}

/// <summary>Which kind of segmentation offload an endpoint accepts on <see cref="ILinkEndpoint.WritePackets"/>.</summary>
public enum GsoSupport
{
    /// <summary>Every packet must fit the MTU.</summary>
    None = 0,
    /// <summary>
    /// Host GSO: the endpoint takes super-segments up to <see cref="ILinkEndpoint.GsoMaxSize"/> with a partial
    /// (pseudo-header) checksum and <see cref="GsoOptions"/>, and the device segments them (virtio_net_hdr).
    /// </summary>
    Host = 1,
    /// <summary>The endpoint takes super-segments and splits them in software before they leave.</summary>
    Software = 2,
}

/// <summary>Receives inbound packets from a link endpoint (implemented by the stack's NIC).</summary>
public interface INetworkDispatcher
{
    /// <summary>
    /// Delivers one network-layer packet. The callee borrows <paramref name="packet"/> for the call: a callee
    /// that keeps it past the return takes its own reference with <see cref="PacketBuffer.AddRef"/>; the caller
    /// releases its reference afterwards (ARCHITECTURE.md §3).
    /// </summary>
    void DeliverNetworkPacket(NetworkProtocol protocol, PacketBuffer packet);
}

/// <summary>A network device as the stack sees it (mirrors gVisor's LinkEndpoint).</summary>
public interface ILinkEndpoint
{
    /// <summary>Largest IP packet (header included) the link carries without GSO; the stack reads it for every route.</summary>
    int Mtu { get; }

    /// <summary>
    /// Bytes the endpoint or its device may push in front of an outbound packet (a virtio_net_hdr); the stack's
    /// transports reserve this much headroom beyond the IP header (<c>Nic.MaxHeaderLength</c>).
    /// </summary>
    int MaxHeaderLength { get; }

    /// <summary>What the endpoint does for the stack.</summary>
    LinkCapabilities Capabilities { get; }

    /// <summary>Largest GSO super-segment accepted (65535 where GSO is supported, else 0).</summary>
    int GsoMaxSize { get; }

    /// <summary>Which segmentation offload the endpoint accepts.</summary>
    GsoSupport SupportedGso { get; }

    /// <summary>Attaches the dispatcher that receives inbound packets; <c>null</c> detaches.</summary>
    void Attach(INetworkDispatcher? dispatcher);

    /// <summary>True while a dispatcher is attached.</summary>
    bool IsAttached { get; }

    /// <summary>
    /// Offers packets for transmission in order and returns how many were taken. Each taken packet transfers one
    /// reference to the endpoint; the caller keeps (and must release or retry) those not taken. Fewer than offered
    /// means back-pressure: wait with <see cref="WaitWritableAsync"/> before retrying.
    /// </summary>
    int WritePackets(ReadOnlySpan<PacketBuffer> packets);

    /// <summary>
    /// Packets the endpoint would take right now (its free queue space; another writer may take it first). A
    /// sender that stops at zero never has segments refused — TCP's small-queue rule. Endpoints that never push
    /// back say <see cref="int.MaxValue"/>.
    /// </summary>
    int OutboundSpace => int.MaxValue;

    /// <summary>Completes when the endpoint can take packets again (immediately for endpoints that never push back).</summary>
    ValueTask WaitWritableAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Closes the endpoint and releases every packet it holds. Idempotent.</summary>
    void Close();
}
