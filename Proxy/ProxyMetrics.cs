// The forwarder's counters, readable in-process (tests, `netstack run --stats`) and exported through
// System.Diagnostics.Metrics as the meter "NetStack.Proxy": events and refusals by reason, bytes each way, gauges;
// every measurement tagged with the stack the forwarder serves, so two forwarders in one process are two series.
using System.Diagnostics.Metrics;
using System.Text;
using NetStack.Diagnostics;
using NetStack.Network;

namespace NetStack.Proxy;

/// <summary>Something the forwarder counts.</summary>
public enum ProxyEvent
{
    /// <summary>A relayed TCP connection was established both ways.</summary>
    TcpOpened,
    /// <summary>A relayed TCP connection ended (both sides closed or reset) and its buffers were returned.</summary>
    TcpClosed,
    /// <summary>The host refused the dial (ECONNREFUSED): the sandbox got RST.</summary>
    DialRefused,
    /// <summary>The host or network was unreachable: the sandbox got ICMP destination unreachable (or RST).</summary>
    DialUnreachable,
    /// <summary>The dial took longer than <see cref="ProxyOptions.DialTimeout"/>.</summary>
    DialTimedOut,
    /// <summary>A SYN past <see cref="ProxyOptions.MaxConnections"/>: refused with RST.</summary>
    ConnectionLimit,
    /// <summary>The host side reset a relayed connection; the sandbox got RST.</summary>
    HostReset,
    /// <summary>The sandbox reset a relayed connection; the host peer got RST.</summary>
    SandboxReset,
    /// <summary>A relayed connection sat idle past <see cref="ProxyOptions.TcpIdleTimeout"/> and was reset both ways.</summary>
    TcpIdleTimeout,
    /// <summary>A UDP flow (a connected host socket) was created.</summary>
    UdpFlowCreated,
    /// <summary>A UDP flow expired after its idle timeout.</summary>
    UdpFlowExpired,
    /// <summary>A UDP flow was evicted, least recently used, to make room.</summary>
    UdpFlowEvicted,
    /// <summary>The host socket reported ECONNREFUSED: the sandbox got ICMP port unreachable.</summary>
    UdpPortUnreachable,
    /// <summary>A host UDP socket could not be opened or could not send.</summary>
    UdpSendFailed,
    /// <summary>An echo request went out through a host ICMP socket.</summary>
    EchoForwarded,
    /// <summary>An echo reply came back and was relayed.</summary>
    EchoReplied,
    /// <summary>An echo request was dropped: unprivileged ICMP sockets are not allowed here (net.ipv4.ping_group_range).</summary>
    EchoUnavailable,
    /// <summary>A host connection was accepted by a port forward and opened into the sandbox.</summary>
    PortForwardAccepted,
    /// <summary>A port forward's connection into the sandbox failed.</summary>
    PortForwardFailed,
    /// <summary>A relayed connection was reset because the forwarder was disposed.</summary>
    Stopped,
    /// <summary>
    /// An exception out of the forwarder's own timer (the idle and expiry sweep), a relay task or a UDP loop was caught
    /// at its boundary: counted, logged at most once an interval; the timer runs again, a failed relay is reset.
    /// </summary>
    Fault,
}

/// <summary>
/// The counters of one <see cref="HostForwarder"/>. Exported on the meter <c>NetStack.Proxy</c>, each measurement
/// tagged <c>stack</c> with the name of the stack the forwarder serves (<see cref="NetworkStack.Name"/>):
/// <c>netstack.proxy.io</c> (By; <c>network.io.direction</c> transmit = sandbox → host sockets, receive = host
/// sockets → sandbox), <c>netstack.proxy.connections</c> ({connection}), <c>netstack.proxy.dials</c> ({dial}),
/// <c>netstack.proxy.udp.flows</c> ({flow}), <c>netstack.proxy.events</c> ({event}) and
/// <c>netstack.proxy.refusals</c> ({flow}) by <c>reason</c>.
/// </summary>
public sealed class ProxyMetrics
{
    private static readonly Meter s_meter = new("NetStack.Proxy", "1.0");
    private static readonly LiveInstances<ProxyMetrics> s_live = new();
    private static readonly KeyValuePair<string, object?> s_transmit = new(StackTelemetry.DirectionTag, "transmit");
    private static readonly KeyValuePair<string, object?> s_receive = new(StackTelemetry.DirectionTag, "receive");
    private readonly KeyValuePair<string, object?> _stackTag;
    private long _bytesUp;
    private long _bytesDown;
    private int _connections;
    private int _dials;
    private int _udpFlows;

    static ProxyMetrics()
    {
        s_meter.CreateObservableCounter("netstack.proxy.io", () => s_live.Observe<long>(static (m, into) => m.ObserveBytes(into)),
            "By", "Bytes relayed: transmit = sandbox → host sockets, receive = host sockets → sandbox");
        s_meter.CreateObservableUpDownCounter("netstack.proxy.connections", () => s_live.Observe<long>(static (m, into) => into.Add(new(m.OpenConnections, m._stackTag))),
            "{connection}", "Relayed TCP connections open");
        s_meter.CreateObservableUpDownCounter("netstack.proxy.dials", () => s_live.Observe<long>(static (m, into) => into.Add(new(m.DialsInFlight, m._stackTag))),
            "{dial}", "Host dials in flight");
        s_meter.CreateObservableUpDownCounter("netstack.proxy.udp.flows", () => s_live.Observe<long>(static (m, into) => into.Add(new(m.UdpFlows, m._stackTag))),
            "{flow}", "UDP flows in the NAT table");
    }

    internal ProxyMetrics(NetworkStack stack)
    {
        KeyValuePair<string, object?>[] tags = stack.Telemetry.Tags;
        _stackTag = tags[0];
        Events = new ReasonCounters<ProxyEvent>(s_meter, "netstack.proxy.events", "Forwarder events", tags, "{event}");
        Refusals = new ReasonCounters<ProxyRefusal>(s_meter, "netstack.proxy.refusals", "Flows refused by the address policy or a limit, by reason", tags, "{flow}");
        s_live.Add(this);
    }

    /// <summary>Events by kind.</summary>
    public ReasonCounters<ProxyEvent> Events { get; }

    /// <summary>Policy refusals by reason.</summary>
    public ReasonCounters<ProxyRefusal> Refusals { get; }

    /// <summary>Bytes relayed sandbox → host.</summary>
    public long BytesUp => Interlocked.Read(ref _bytesUp);

    /// <summary>Bytes relayed host → sandbox.</summary>
    public long BytesDown => Interlocked.Read(ref _bytesDown);

    /// <summary>Relayed TCP connections open now.</summary>
    public int OpenConnections => Volatile.Read(ref _connections);

    /// <summary>Host dials in flight now.</summary>
    public int DialsInFlight => Volatile.Read(ref _dials);

    /// <summary>UDP flows in the table now.</summary>
    public int UdpFlows => Volatile.Read(ref _udpFlows);

    internal void AddUp(long bytes) => Interlocked.Add(ref _bytesUp, bytes);

    internal void AddDown(long bytes) => Interlocked.Add(ref _bytesDown, bytes);

    internal ref int ConnectionsGauge => ref _connections;

    internal ref int DialsGauge => ref _dials;

    internal ref int UdpFlowsGauge => ref _udpFlows;

    /// <summary>The counters, one item a line, for a command-line summary.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        text.AppendLine($"proxy: {BytesUp} bytes up, {BytesDown} bytes down; {OpenConnections} connections open, {DialsInFlight} dials, {UdpFlows} UDP flows");
        text.AppendLine($"proxy events: {Events}");
        text.Append($"proxy refusals: {Refusals}");
        return text.ToString();
    }

    private void ObserveBytes(List<Measurement<long>> into)
    {
        into.Add(new(BytesUp, _stackTag, s_transmit));
        into.Add(new(BytesDown, _stackTag, s_receive));
    }
}
