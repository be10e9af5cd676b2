namespace NetStack.Network;

/// <summary>Why the network layer dropped an inbound or outbound packet. Every drop is counted (ARCHITECTURE.md §6).</summary>
public enum IpDropReason
{
    /// <summary>Not dropped.</summary>
    None = 0,
    /// <summary>The packet's version does not match the protocol it was delivered as.</summary>
    BadVersion,
    /// <summary>IPv4 header malformed (IHL, total length) — RFC 791 §3.1.</summary>
    Ipv4BadHeader,
    /// <summary>IPv4 header checksum wrong (only checked when the link did not validate it).</summary>
    Ipv4BadChecksum,
    /// <summary>IPv4 options malformed (options are otherwise parsed and ignored).</summary>
    Ipv4BadOptions,
    /// <summary>TTL or hop limit of zero on arrival: a router should have discarded it (RFC 1812 §5.3.1).</summary>
    ZeroTtl,
    /// <summary>Source address is multicast, broadcast, unspecified (IPv4) or otherwise invalid (RFC 1122 §3.2.1.3, RFC 4291 §2.7).</summary>
    BadSourceAddress,
    /// <summary>Destination is not an address of the NIC and the NIC is not promiscuous.</summary>
    NotForUs,
    /// <summary>
    /// Martian source: one of our own addresses arriving from a link (a LAND attack; Linux's <c>fib_validate_source</c>
    /// refuses a local source on a non-loopback device).
    /// </summary>
    MartianSourceOwnAddress,
    /// <summary>Martian source: 0.0.0.0/8 other than 0.0.0.0 itself (RFC 1122 §3.2.1.3, RFC 6890; Linux's <c>ipv4_is_zeronet</c>).</summary>
    MartianSourceZeroNetwork,
    /// <summary>Martian source: an IPv4-mapped IPv6 address, ::ffff:0:0/96 (RFC 4291 §2.5.5.2; Linux's <c>ip6_rcv_core</c>).</summary>
    MartianSourceIpv4Mapped,
    /// <summary>
    /// Martian destination accepted by a promiscuous NIC: loopback, unspecified or 0.0.0.0/8, IPv4-mapped, or
    /// multicast to anything but ICMP; never handed to a listener or the forwarder (Linux's <c>ip_route_input_slow</c>).
    /// </summary>
    MartianDestination,
    /// <summary>IPv6 fixed header malformed or payload length past the packet (RFC 8200 §3).</summary>
    Ipv6BadHeader,
    /// <summary>IPv6 extension-header chain malformed or longer than the walker's limit.</summary>
    Ipv6BadExtensionChain,
    /// <summary>An IPv6 option whose type says "discard" when unrecognized (RFC 8200 §4.2).</summary>
    Ipv6UnrecognizedOption,
    /// <summary>An IPv6 routing header with segments left that we cannot process (RFC 8200 §4.4).</summary>
    Ipv6RoutingHeader,
    /// <summary>No handler for the upper-layer protocol (ICMP protocol/parameter problem sent where allowed).</summary>
    UnknownProtocol,
    /// <summary>A fragment was dropped by reassembly (the reassembler counts the precise reason).</summary>
    Fragment,
    /// <summary>
    /// Protocol work on the packet threw (a bug, or input no check foresaw): the packet is dropped, the fault counted in
    /// <see cref="NetworkStack.Faults"/> and logged at most once a minute (docs/ARCHITECTURE.md §6).
    /// </summary>
    ProcessingFault,
    /// <summary>Outbound: no route to the destination.</summary>
    NoRoute,
    /// <summary>Outbound: no usable source address (and spoofing off).</summary>
    NoSourceAddress,
    /// <summary>Outbound: the packet exceeds the MTU and may not be fragmented.</summary>
    MessageTooBig,
    /// <summary>Outbound: the link refused the packet (queue full).</summary>
    LinkQueueFull,
    /// <summary>Outbound: fragmentation failed (too many fragments, MTU too small).</summary>
    FragmentationFailed,
    /// <summary>An inbound packet arrived while its pool held more than <see cref="Buffers.PacketBufferPoolOptions.MaxLiveBytes"/>.</summary>
    PoolLimit,
}

/// <summary>Outcome of sending one IP packet.</summary>
public enum SendResult
{
    /// <summary>Handed to the link.</summary>
    Sent,
    /// <summary>No route to the destination.</summary>
    NoRoute,
    /// <summary>No usable source address.</summary>
    NoSourceAddress,
    /// <summary>Too big for the path and not fragmentable (DF, or IPv6 with fragmentation disabled).</summary>
    MessageTooBig,
    /// <summary>The link's queue was full: back-pressure.</summary>
    QueueFull,
    /// <summary>Fragmentation failed.</summary>
    FragmentationFailed,
}
