// Layer: link endpoints. What a channel endpoint offers the stack (MTU, GSO, the device's header room) and how its
// queues and GRO are sized.
using Microsoft.Extensions.Logging;

namespace NetStack.Link.Channels;

/// <summary>Configuration of a <see cref="ChannelEndpoint"/>.</summary>
public sealed record ChannelEndpointOptions
{
    /// <summary>Link MTU (largest IP packet without GSO).</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Outbound queue bound, in packets (each up to 64 KiB with GSO). A full queue pushes back on the writer.</summary>
    public int OutboundQueueCapacity { get; init; } = 1024;

    /// <summary>Which segmentation offload the endpoint advertises: the TUN layer with virtio headers takes host GSO.</summary>
    public GsoSupport Gso { get; init; } = GsoSupport.Host;

    /// <summary>Largest super-segment accepted when GSO is on.</summary>
    public int GsoMaxSize { get; init; } = 65535;

    /// <summary>Coalesce inbound TCP segments in <see cref="ChannelEndpoint.EnqueueGro"/> (otherwise each packet is delivered as it is).</summary>
    public bool EnableGro { get; init; } = true;

    /// <summary>Flows GRO holds at once during a batch; the oldest is flushed when a new one needs room.</summary>
    public int GroMaxFlows { get; init; } = 64;

    /// <summary>
    /// Bytes the device behind the endpoint pushes in front of each outbound packet (the TUN layer's 10-byte
    /// virtio_net_hdr; 0 for an in-memory wire): the endpoint's <see cref="ILinkEndpoint.MaxHeaderLength"/>, which the
    /// stack's transports keep as headroom so the device writes its header in place.
    /// </summary>
    public int DeviceHeaderLength { get; init; }

    /// <summary>
    /// The device behind the endpoint completes partial transport checksums of single packets (a TUN device with
    /// a virtio_net_hdr): the endpoint advertises <see cref="LinkCapabilities.TxChecksumOffload"/>. Off for an
    /// in-memory wire, whose receiver checks every checksum of a packet that is not a super-segment.
    /// </summary>
    public bool TxChecksumOffload { get; init; }

    /// <summary>Name used in metric tags.</summary>
    public string Name { get; init; } = "channel";

    /// <summary>Where the endpoint logs faults caught on its inbound path (at most once a minute); null for none.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }
}
