// The forwarder's settings: which addresses of the stack stand for the host (gateway, DNS), the address policy's
// lists, the limits each with a counted refusal, and the timeouts (docs/ARCHITECTURE.md §6: every table bounded).
using System.Net;
using NetStack.Network;

namespace NetStack.Proxy;

/// <summary>An allow or deny rule: destinations in <see cref="Prefix"/>, on <see cref="Port"/> or on any port when null.</summary>
public sealed record ProxyRule(NetPrefix Prefix, int? Port = null)
{
    /// <summary>True when <paramref name="address"/>:<paramref name="port"/> falls under the rule.</summary>
    public bool Matches(NetAddress address, int port) =>
        address.Version == Prefix.Address.Version && Prefix.Contains(address) && (Port is null || Port == port);
}

/// <summary>A host → sandbox port forward: a host listener whose connections (or datagrams) the stack opens into the sandbox.</summary>
/// <param name="Protocol">TCP or UDP.</param>
/// <param name="Host">Where to listen on the host (loopback by default in the CLI; any address when asked).</param>
/// <param name="Sandbox">Where to connect in the sandbox.</param>
public sealed record ProxyPortForward(ProxyProtocol Protocol, IPEndPoint Host, IPEndPoint Sandbox);

/// <summary>A transport a port forward relays.</summary>
public enum ProxyProtocol
{
    /// <summary>TCP.</summary>
    Tcp,
    /// <summary>UDP.</summary>
    Udp,
}

/// <summary>Settings of a <see cref="HostForwarder"/>.</summary>
public sealed record ProxyOptions
{
    /// <summary>The stack's addresses that stand for the host: connections to them reach the host's loopback when <see cref="AllowHostLoopback"/>.</summary>
    public IReadOnlyList<NetAddress> Gateways { get; init; } = [];

    /// <summary>Addresses whose port 53 (UDP and TCP) forwards to the host's resolvers.</summary>
    public IReadOnlyList<NetAddress> DnsAddresses { get; init; } = [];

    /// <summary>The resolvers DNS goes to; null reads the host's /etc/resolv.conf (<see cref="ResolvConf"/>).</summary>
    public IReadOnlyList<IPEndPoint>? Resolvers { get; init; }

    /// <summary>Connections to a gateway reach the host's loopback (off by default, as RootlessKit's --disable-host-loopback).</summary>
    public bool AllowHostLoopback { get; init; }

    /// <summary>Destinations allowed even where the default policy refuses them (loopback, link-local, …).</summary>
    public IReadOnlyList<ProxyRule> Allow { get; init; } = [];

    /// <summary>Destinations refused; a deny rule wins over an allow rule.</summary>
    public IReadOnlyList<ProxyRule> Deny { get; init; } = [];

    /// <summary>Host → sandbox port forwards.</summary>
    public IReadOnlyList<ProxyPortForward> PortForwards { get; init; } = [];

    /// <summary>Relayed TCP connections at once; SYNs past it are refused (RST) and counted.</summary>
    public int MaxConnections { get; init; } = 4096;

    /// <summary>
    /// Host dials in flight at once. A SYN past it is dropped at once, unanswered, and counted
    /// (<see cref="ProxyRefusal.DialLimit"/>), as Linux drops a SYN to a listener whose queue is full: the sandbox
    /// retransmits it (after 1 s, 2 s, … per RFC 6298), and the retransmission gets a slot if a dial has ended.
    /// </summary>
    public int MaxPendingDials { get; init; } = 256;

    /// <summary>How long a host dial may take; past it the sandbox gets host unreachable.</summary>
    public TimeSpan DialTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Keep-alive on relayed TCP connections (null, the default: off). When set, after this long without a segment
    /// each side is probed every <see cref="KeepAliveInterval"/>, up to <see cref="KeepAliveProbes"/> times: the host
    /// peer through the host socket (SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT), the sandbox by the stack
    /// (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6); a side that stops answering is reset, and the relay resets the other.
    /// Probes a side sends are answered by its own end whatever this says (the host kernel, the stack), and they do
    /// not count as activity for <see cref="TcpIdleTimeout"/>: only relayed bytes do.
    /// </summary>
    public TimeSpan? KeepAlive { get; init; }

    /// <summary>Between keep-alive probes (when <see cref="KeepAlive"/> is set).</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>Unanswered keep-alive probes before the side is given up (when <see cref="KeepAlive"/> is set).</summary>
    public int KeepAliveProbes { get; init; } = 9;

    /// <summary>A relayed TCP connection with no byte either way for this long is reset both ways (Infinite: never).</summary>
    public TimeSpan TcpIdleTimeout { get; init; } = TimeSpan.FromHours(2);

    /// <summary>
    /// UDP flows at once: a new NAT flow past it evicts the least recently used one; each UDP port forward holds at
    /// most this many host peers, and a new peer past it is refused (counted as <see cref="ProxyEvent.PortForwardFailed"/>).
    /// </summary>
    public int MaxUdpFlows { get; init; } = 4096;

    /// <summary>
    /// A UDP flow (of the NAT, or of a UDP port forward: one per host peer) with no datagram either way for this long
    /// is closed (Linux's conntrack udp_timeout is 30 s).
    /// </summary>
    public TimeSpan UdpIdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The idle timeout of a DNS flow (a query and its answer).</summary>
    public TimeSpan DnsIdleTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Answer an unreachable destination or a policy refusal with RST instead of ICMP destination unreachable.</summary>
    public bool RefuseWithReset { get; init; }

    /// <summary>Bytes read from a host socket at once, into one pooled chunk that joins the send buffer by reference.</summary>
    public int RelayChunkSize { get; init; } = 64 * 1024;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPendingDials, 1, nameof(MaxPendingDials));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxUdpFlows, 1, nameof(MaxUdpFlows));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DialTimeout, TimeSpan.Zero, nameof(DialTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(UdpIdleTimeout, TimeSpan.Zero, nameof(UdpIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DnsIdleTimeout, TimeSpan.Zero, nameof(DnsIdleTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(RelayChunkSize, 1024, nameof(RelayChunkSize));
        if (KeepAlive is { } keepAlive)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(keepAlive, TimeSpan.FromSeconds(1), nameof(KeepAlive));
            ArgumentOutOfRangeException.ThrowIfLessThan(KeepAliveInterval, TimeSpan.FromSeconds(1), nameof(KeepAliveInterval));
            ArgumentOutOfRangeException.ThrowIfLessThan(KeepAliveProbes, 1, nameof(KeepAliveProbes));
        }
        if (TcpIdleTimeout != Timeout.InfiniteTimeSpan)
        {
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(TcpIdleTimeout, TimeSpan.Zero, nameof(TcpIdleTimeout));
        }
    }
}
