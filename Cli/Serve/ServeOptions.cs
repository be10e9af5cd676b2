// `netstack serve`: what the command was asked to do (device, addresses, offloads, ports, buffers, capture).
using NetStack.Link.Tun;
using NetStack.Network;

namespace NetStack.Cli.Serve;

/// <summary>What `netstack serve` was asked to do.</summary>
public sealed record ServeOptions
{
    /// <summary>TUN interface name.</summary>
    public required string Tun { get; init; }

    /// <summary>The stack's addresses (IPv4 and/or IPv6, with prefix lengths for the on-link routes).</summary>
    public required IReadOnlyList<NetPrefix> Addresses { get; init; }

    /// <summary>Link MTU (also set on the device).</summary>
    public int Mtu { get; init; } = 1500;

    /// <summary>Virtio header and offloads (auto) or a plain TUN (off).</summary>
    public bool Offload { get; init; } = true;

    /// <summary>What kernel super-packets become.</summary>
    public InboundGsoMode InboundGso { get; init; } = InboundGsoMode.Deliver;

    /// <summary>Take the kernel's NEEDS_CSUM/DATA_VALID as verified (false: complete and verify every checksum read).</summary>
    public bool TrustKernelChecksums { get; init; } = true;

    /// <summary>The reader thread writes what its stack work queued (ACKs) at the end of each batch (false: the writer loop writes all).</summary>
    public bool InlineWrites { get; init; } = true;

    /// <summary>ACK filtering on write (RFC 3449 §5.2.1).</summary>
    public bool AckFilter { get; init; } = true;

    /// <summary>The TUN's outbound queue bound, in packets (each up to 64 KiB); null for the endpoint's default.</summary>
    public int? OutboundQueue { get; init; }

    /// <summary>TCP GRO on write.</summary>
    public bool TcpGroOnWrite { get; init; } = true;

    /// <summary>UDP GRO on write (USO).</summary>
    public bool UdpGroOnWrite { get; init; } = true;

    /// <summary>Capture file (raw IP pcap), or null.</summary>
    public string? Pcap { get; init; }

    /// <summary>Echo port (RFC 862), 0 to disable.</summary>
    public int EchoPort { get; init; } = EchoService.DefaultPort;

    /// <summary>Discard port (RFC 863), 0 to disable.</summary>
    public int DiscardPort { get; init; } = DiscardService.DefaultPort;

    /// <summary>Chargen-style source port (RFC 864), 0 to disable.</summary>
    public int ChargenPort { get; init; } = ChargenService.DefaultPort;

    /// <summary>iperf3 server port, 0 to disable.</summary>
    public int Iperf3Port { get; init; } = Iperf3.Iperf3Server.DefaultPort;

    /// <summary>HTTP port (GET /bytes/N, POST /sha256; Kestrel over the stack), 0 to disable.</summary>
    public int HttpPort { get; init; } = HttpService.DefaultPort;

    /// <summary>
    /// TCP receive buffer (window) a service connection starts with, in bytes (default 128 KiB, Linux's tcp_rmem
    /// default): auto-tuning grows it, up to <see cref="MaxReceiveBuffer"/>, only for a connection whose application
    /// reads, so a peer cannot make a connection that is not read from pin more.
    /// </summary>
    public int ReceiveBuffer { get; init; } = 128 * 1024;

    /// <summary>TCP send buffer of the services' connections, in bytes.</summary>
    public int SendBuffer { get; init; } = 512 * 1024;

    /// <summary>Most the receive buffer may auto-tune to (TCP's default when null).</summary>
    public int? MaxReceiveBuffer { get; init; }

    /// <summary>Most the send buffer may auto-tune to (TCP's default when null).</summary>
    public int? MaxSendBuffer { get; init; }

    /// <summary>
    /// A TCP service connection (echo, discard, chargen, iperf3) that moves no byte either way for this long is
    /// reset (zero: never). HTTP has Kestrel's own timeouts.
    /// </summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Longest time a service connection's sent data may stay unacknowledged, or its queued data unsent behind a
    /// shut window, before the connection is dropped (Linux's TCP_USER_TIMEOUT; zero: off, as Linux's default, and
    /// the retry limits decide).
    /// </summary>
    public TimeSpan UserTimeout { get; init; }

    /// <summary>
    /// Retransmissions or window probes before a connection the service has closed (an orphan) is dropped (Linux's
    /// tcp_orphan_retries); null for TCP's default (8).
    /// </summary>
    public int? OrphanRetries { get; init; }

    /// <summary>Most TCP connections in the stack's table, TIME-WAIT included; null for TCP's default (65,536).</summary>
    public int? MaxConnections { get; init; }

    /// <summary>Print a line of counters every this often (zero: only on exit).</summary>
    public TimeSpan StatsInterval { get; init; }
}
