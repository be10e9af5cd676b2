// Layer: simulated links. How an InMemoryNetwork is built (its clock mode, seed, addressing, link and wire
// settings) and how each host joins it (addresses, impairments per direction, capture, decorators).
using System.Net;
using NetStack.Buffers;
using NetStack.Link.Capture;
using NetStack.Network;
using NetStack.Simulation;

namespace NetStack.Link.Simulation;

/// <summary>How an <see cref="InMemoryNetwork"/> keeps time and moves packets.</summary>
public enum InMemoryNetworkMode
{
    /// <summary>The system clock; a background task pumps the wire whenever a host sends or a delayed packet falls due.</summary>
    Live,
    /// <summary>
    /// A <see cref="ManualClock"/> that moves only when <see cref="InMemoryNetwork.Driver"/> steps it, and no
    /// background work: the same seed and the same application steps replay byte for byte.
    /// </summary>
    Deterministic,
}

/// <summary>Configuration of an <see cref="InMemoryNetwork"/>: one switched segment that every host's NIC joins.</summary>
public sealed record InMemoryNetworkOptions
{
    /// <summary>Live (system clock, background pump; the default) or deterministic (manual clock, stepped by a driver).</summary>
    public InMemoryNetworkMode Mode { get; init; } = InMemoryNetworkMode.Live;

    /// <summary>
    /// Seeds every impairment stage (each port and direction gets its own seed derived from this one) and, in
    /// deterministic mode, the random choices of the stacks the network creates (unless their options fix them).
    /// </summary>
    public int Seed { get; init; } = 1;

    /// <summary>The clock of deterministic mode (a new one when null); live mode always uses the system clock.</summary>
    public ManualClock? Clock { get; init; }

    /// <summary>The pool of every stack the network creates (and of their packets); <see cref="PacketBufferPool.Shared"/> when null.</summary>
    public PacketBufferPool? Pool { get; init; }

    /// <summary>The IPv4 subnet: host n (from 1, in the order they join) gets its n-th address unless it names one.</summary>
    public IPNetwork Ipv4Subnet { get; init; } = IPNetwork.Parse("10.0.0.0/24");

    /// <summary>The IPv6 subnet: host n gets its n-th address unless it names one.</summary>
    public IPNetwork Ipv6Subnet { get; init; } = IPNetwork.Parse("fd00::/64");

    /// <summary>MTU of every host's link.</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Segmentation offload each host's link offers its stack (host GSO by default: 64 KiB super-segments).</summary>
    public GsoSupport Gso { get; init; } = GsoSupport.Host;

    /// <summary>What the wire does with super-segments: split them when impaired (the default), always, or never.</summary>
    public PipeLinkGso WireGso { get; init; } = PipeLinkGso.Auto;

    /// <summary>TCP GRO on each host's inbound side.</summary>
    public bool Gro { get; init; } = true;

    /// <summary>Flows GRO holds at once per batch.</summary>
    public int GroMaxFlows { get; init; } = 64;

    /// <summary>Each link's outbound queue bound, in packets; a full queue pushes back on the stack.</summary>
    public int OutboundQueueCapacity { get; init; } = 1024;

    /// <summary>Packets the wire reads from a host at once.</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Most batches the wire takes from one host per pump, so a busy host cannot starve the others.</summary>
    public int MaxBatchesPerPump { get; init; } = 16;

    /// <summary>
    /// The options of every stack <see cref="InMemoryNetwork.AddHost"/> creates (a host's own
    /// <see cref="InMemoryHostOptions.Stack"/> wins); their clock and pool are always the network's.
    /// </summary>
    public NetworkStackOptions? Stack { get; init; }

    /// <summary>Name used in metric tags and as the prefix of host names.</summary>
    public string Name { get; init; } = "net";
}

/// <summary>How one host joins an <see cref="InMemoryNetwork"/>.</summary>
public sealed record InMemoryHostOptions
{
    /// <summary>The host's name (its NIC's and link's too); "host1", "host2", … when null.</summary>
    public string? Name { get; init; }

    /// <summary>Its IPv4 address, or the next one of <see cref="InMemoryNetworkOptions.Ipv4Subnet"/> when null.</summary>
    public IPAddress? Ipv4 { get; init; }

    /// <summary>Its IPv6 address, or the next one of <see cref="InMemoryNetworkOptions.Ipv6Subnet"/> when null.</summary>
    public IPAddress? Ipv6 { get; init; }

    /// <summary>The options of the stack <see cref="InMemoryNetwork.AddHost"/> creates (clock and pool are the network's); the network's <see cref="InMemoryNetworkOptions.Stack"/> when null.</summary>
    public NetworkStackOptions? Stack { get; init; }

    /// <summary>The link's MTU, or the network's when null.</summary>
    public int? Mtu { get; init; }

    /// <summary>The segmentation offload the link offers, or the network's when null.</summary>
    public GsoSupport? Gso { get; init; }

    /// <summary>GRO on the host's inbound side, or the network's setting when null.</summary>
    public bool? Gro { get; init; }

    /// <summary>Impairment of what the host sends, before the switch (null: a perfect wire). Changeable later with <see cref="InMemoryHost.SetOutboundImpairment"/>.</summary>
    public ImpairmentOptions? OutboundImpairment { get; init; }

    /// <summary>Impairment of what the host receives, after the switch (null: a perfect wire). Changeable later with <see cref="InMemoryHost.SetInboundImpairment"/>.</summary>
    public ImpairmentOptions? InboundImpairment { get; init; }

    /// <summary>
    /// A pcap file of everything the host sends (as its stack sent it) and receives (as its stack receives it, before
    /// GRO); the network owns the writer. Null: no capture.
    /// </summary>
    public string? PcapPath { get; init; }

    /// <summary>The capture's writer options; its clock is the network's unless set.</summary>
    public PcapWriterOptions? Pcap { get; init; }

    /// <summary>
    /// Decorators closest to the stack on the inbound side (a test tracer): given the sink the host's packets go to
    /// last (its link's GRO), returns the sink to use instead. The network drives and disposes what it returns.
    /// </summary>
    public Func<IPacketSink, IPacketSink>? Inbound { get; init; }

    /// <summary>Decorators closest to the stack on the outbound side: given the sink the host's packets go to first, returns the sink to use instead.</summary>
    public Func<IPacketSink, IPacketSink>? Outbound { get; init; }
}
