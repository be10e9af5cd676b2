namespace NetStack.Link.Channels;

/// <summary>Configuration of a <see cref="ChannelEndpoint"/>.</summary>
public sealed class ChannelEndpointOptions
{
    /// <summary>Link MTU (largest IP packet without GSO).</summary>
    public int Mtu { get; set; } = 1500;

    /// <summary>Outbound queue bound, in packets (each up to 64 KiB with GSO). A full queue pushes back on the writer.</summary>
    public int OutboundQueueCapacity { get; set; } = 1024;

    /// <summary>Which segmentation offload the endpoint advertises: the TUN layer with virtio headers takes host GSO.</summary>
    public GsoSupport Gso { get; set; } = GsoSupport.Host;

    /// <summary>Largest super-segment accepted when GSO is on.</summary>
    public int GsoMaxSize { get; set; } = 65535;

    /// <summary>Coalesce inbound TCP segments in <see cref="ChannelEndpoint.EnqueueGro"/> (otherwise each packet is delivered as it is).</summary>
    public bool EnableGro { get; set; } = true;

    /// <summary>Flows GRO holds at once during a batch; the oldest is flushed when a new one needs room.</summary>
    public int GroMaxFlows { get; set; } = 64;

    /// <summary>Name used in metric tags.</summary>
    public string Name { get; set; } = "channel";
}
