using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Buffers;
using NetStack.Network.Fragmentation;
using NetStack.Tcp;

namespace NetStack.Network;

/// <summary>Configuration of a <see cref="NetworkStack"/>. Every limit is explicit (ARCHITECTURE.md §6).</summary>
public sealed record NetworkStackOptions
{
    /// <summary>The clock for every timer (a manual clock makes simulations deterministic).</summary>
    public TimeProvider TimeProvider { get; init; } = TimeProvider.System;

    /// <summary>Where the stack rents packet buffers for what it sends.</summary>
    public PacketBufferPool Pool { get; init; } = PacketBufferPool.Shared;

    /// <summary>
    /// Names the stack in every measurement it makes (the <c>stack</c> tag of its instruments) and in its log
    /// messages. Default: <c>stack-1</c>, <c>stack-2</c>, … in the order stacks are made in the process. Two stacks
    /// given the same name report one merged series.
    /// </summary>
    public string? Name { get; init; }

    /// <summary>
    /// Where the stack logs (categories NetStack.Network, NetStack.Tcp, …): TCP state changes and connection errors
    /// at debug level, drops with their reasons at trace level, limits reached at warning level at most once a
    /// minute. Disabled levels cost no allocation. Default (and null): <see cref="NullLoggerFactory"/>.
    /// </summary>
    public ILoggerFactory? LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>TTL of packets the stack originates (RFC 1122 §3.2.1.7; Linux uses 64).</summary>
    public byte DefaultTimeToLive { get; init; } = 64;

    /// <summary>Hop limit of IPv6 packets the stack originates.</summary>
    public byte DefaultHopLimit { get; init; } = 64;

    /// <summary>Fragment reassembly limits for both IP versions (memory, datagrams, timeouts).</summary>
    public ReassemblyOptions Reassembly { get; init; } = new();

    /// <summary>
    /// ICMP messages the stack may send per second in all, errors and echo replies (one token bucket; RFC 1812
    /// §4.3.2.8, RFC 4443 §2.4(f)). Linux's <c>net.ipv4.icmp_msgs_per_sec</c>, default 1000. Fragmentation
    /// needed and Packet Too Big are exempt, as in Linux ("don't limit PMTU discovery"). Linux also exempts echo
    /// replies unless <c>icmp_ratemask</c> names them; here they always count, so a flood of echo requests with
    /// forged sources reflects at most this many replies.
    /// </summary>
    public int IcmpMsgsPerSecond { get; init; } = 1000;

    /// <summary>Burst of ICMP messages allowed above <see cref="IcmpMsgsPerSecond"/> (Linux's <c>net.ipv4.icmp_msgs_burst</c>, default 50).</summary>
    public int IcmpMsgsBurst { get; init; } = 50;

    /// <summary>
    /// Per destination, the time that earns one more ICMP message of a type in <see cref="IcmpRateMask"/>, with a
    /// burst of six (Linux's <c>net.ipv4.icmp_ratelimit</c>, default 1000 ms, and its XRLIM_BURST_FACTOR). Zero
    /// turns the per-destination limit off. Destinations are tracked in a table of
    /// <see cref="IcmpPeerTableSize"/> entries; links with <see cref="LinkCapabilities.Loopback"/> are not limited.
    /// </summary>
    public TimeSpan IcmpRateLimit { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Which ICMPv4 types the per-destination limit applies to, one bit per type (Linux's
    /// <c>net.ipv4.icmp_ratemask</c>, default 0x1818: destination unreachable, source quench, time exceeded,
    /// parameter problem; fragmentation needed is always exempt). ICMPv6 messages count as their ICMPv4
    /// counterparts (destination unreachable as 3, time exceeded as 11, parameter problem as 12, echo reply as 0;
    /// Packet Too Big never), which matches Linux's <c>icmpv6 ratemask</c> default of 0-1,3-127.
    /// </summary>
    public uint IcmpRateMask { get; init; } = 0x1818;

    /// <summary>
    /// Addresses the per-destination ICMP output budget and the per-source ICMP input limit each track at most
    /// (least recently used forgotten first, in O(1)). Default 4096.
    /// </summary>
    public int IcmpPeerTableSize { get; init; } = 4096;

    /// <summary>
    /// ICMP error messages accepted per second from one source address (a token bucket per source, burst
    /// <see cref="IcmpErrorInputBurst"/>); the rest are dropped before their quote is read, so a flood of forged
    /// errors costs one table lookup each. Linux has no such limit; default 100.
    /// </summary>
    public int IcmpErrorInputPerSecond { get; init; } = 100;

    /// <summary>Burst of ICMP errors accepted from one source above <see cref="IcmpErrorInputPerSecond"/>. Default 50.</summary>
    public int IcmpErrorInputBurst { get; init; } = 50;

    /// <summary>
    /// The lowest path MTU an ICMPv4 "fragmentation needed" can set: lower values are raised to it (Linux's
    /// <c>net.ipv4.route.min_pmtu</c>, default 552). For IPv6 the floor is the minimum link MTU, 1280, and a
    /// Packet Too Big below it is discarded (RFC 8201 §4).
    /// </summary>
    public int Ipv4MinPathMtu { get; init; } = 552;

    /// <summary>How often the stack's housekeeping timer runs (reassembly expiry, path-MTU ageing).</summary>
    public TimeSpan HousekeepingInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lowest ephemeral port (RFC 6335 §6: 49152–65535).</summary>
    public int EphemeralPortMin { get; init; } = 49152;

    /// <summary>Highest ephemeral port.</summary>
    public int EphemeralPortMax { get; init; } = 65535;

    /// <summary>Datagrams a UDP endpoint queues before it drops (and counts) new ones.</summary>
    public int UdpReceiveQueueCapacity { get; init; } = 1024;

    /// <summary>
    /// Memory a UDP endpoint's queued datagrams may pin, charged by what each packet pins (its truesize, not its
    /// payload: a small datagram in a 64 KiB chunk costs 64 KiB); a datagram arriving while the queue holds more
    /// is dropped and counted (Linux's SO_RCVBUF check in __udp_enqueue_schedule_skb; Linux's rmem_default is
    /// 208 KiB, larger here so that <see cref="UdpReceiveQueueCapacity"/> MTU-sized datagrams fit).
    /// </summary>
    public int UdpReceiveBufferBytes { get; init; } = 4 << 20;

    /// <summary>Path-MTU entries remembered (learned from ICMP); the oldest is forgotten past this.</summary>
    public int PathMtuCacheSize { get; init; } = 4096;

    /// <summary>How long a learned path MTU is trusted before it is forgotten (RFC 1191 §6.3 suggests 10 minutes).</summary>
    public TimeSpan PathMtuTimeout { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>TCP's settings: timers, limits, SYN cookies, and the defaults of every connection.</summary>
    public TcpProtocolOptions Tcp { get; init; } = new();

    /// <summary>
    /// Seeds the stack's unpredictable-but-not-secret choices (IPv4 identification keys and counters, IPv6
    /// fragment IDs, ping IDs, UDP ephemeral ports); random when null. Fix it only for simulations that must
    /// replay packet for packet.
    /// </summary>
    public int? RandomSeed { get; init; }
}
