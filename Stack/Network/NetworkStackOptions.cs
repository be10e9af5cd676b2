using Microsoft.Extensions.Logging;
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

    /// <summary>Receives rare events (reassembly timeouts, ICMP errors, configuration). Never called per packet.</summary>
    public ILoggerFactory? LoggerFactory { get; init; }

    /// <summary>TTL of packets the stack originates (RFC 1122 §3.2.1.7; Linux uses 64).</summary>
    public byte DefaultTimeToLive { get; init; } = 64;

    /// <summary>Hop limit of IPv6 packets the stack originates.</summary>
    public byte DefaultHopLimit { get; init; } = 64;

    /// <summary>Fragment reassembly limits for both IP versions (memory, datagrams, timeouts).</summary>
    public ReassemblyOptions Reassembly { get; init; } = new();

    /// <summary>ICMP errors the stack may send per second (token bucket; RFC 1812 §4.3.2.8, RFC 4443 §2.4(f)).</summary>
    public int IcmpErrorsPerSecond { get; init; } = 100;

    /// <summary>Burst of ICMP errors allowed above the rate.</summary>
    public int IcmpErrorBurst { get; init; } = 50;

    /// <summary>How often the stack's housekeeping timer runs (reassembly expiry, path-MTU ageing).</summary>
    public TimeSpan HousekeepingInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Lowest ephemeral port (RFC 6335 §6: 49152–65535).</summary>
    public int EphemeralPortMin { get; init; } = 49152;

    /// <summary>Highest ephemeral port.</summary>
    public int EphemeralPortMax { get; init; } = 65535;

    /// <summary>Datagrams a UDP endpoint queues before it drops (and counts) new ones.</summary>
    public int UdpReceiveQueueCapacity { get; init; } = 1024;

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
