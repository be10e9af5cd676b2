// Layer: diagnostics. One stack's telemetry: its name (the "stack" tag on every measurement it makes, so two
// stacks in one process give two series), its loggers, and the instruments dashboards read beyond the per-reason
// counters — connections by state, UDP endpoints, bytes and packets each way, TCP RTT, handshake time and
// connection lifetime. Names and units follow the OpenTelemetry semantic conventions where one exists
// (system.network.*: network.io.direction, network.connection.state; units By, s, {connection}).
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Diagnostics;

/// <summary>
/// The telemetry of one <see cref="NetworkStack"/> (<see cref="NetworkStack.Telemetry"/>). The per-packet hooks
/// (<see cref="Received"/>, <see cref="Sent"/>, <see cref="TcpRtt"/>) allocate nothing; the rest run once per
/// connection or state change. Observable instruments read the stack when a listener collects.
/// </summary>
internal sealed class StackTelemetry
{
    /// <summary>The tag that names the stack on every measurement.</summary>
    internal const string StackTag = "stack";

    /// <summary>OpenTelemetry's <c>network.io.direction</c>.</summary>
    internal const string DirectionTag = "network.io.direction";

    /// <summary>OpenTelemetry's <c>network.connection.state</c>.</summary>
    internal const string StateTag = "network.connection.state";

    /// <summary>OpenTelemetry's <c>error.type</c>, on connections that ended with an error.</summary>
    internal const string ErrorTag = "error.type";

    private static int s_lastId;
    private static readonly LiveInstances<StackTelemetry> s_live = new();
    private static readonly Histogram<double> s_rtt;
    private static readonly Histogram<double> s_handshake;
    private static readonly Histogram<double> s_lifetime;

    // network.connection.state values (OpenTelemetry), indexed by TcpState; CLOSED has no series.
    private static readonly string[] s_stateNames =
        ["close", "syn_sent", "syn_received", "established", "fin_wait_1", "fin_wait_2", "close_wait", "closing", "last_ack", "time_wait"];

    private static readonly double[] s_rttBuckets = [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private static readonly double[] s_lifetimeBuckets = [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600, 14400, 86400];

    private readonly NetworkStack _stack;
    private readonly KeyValuePair<string, object?> _tag;
    private readonly long[] _tcpStates = new long[s_stateNames.Length];
    private readonly Dictionary<SocketError, KeyValuePair<string, object?>> _errorTags = [];
    private PaddedCounter _bytesReceived; // written per packet by the receiving thread
    private PaddedCounter _bytesSent;     // and by the sending threads: a cache line each

    static StackTelemetry()
    {
        StackMeters.Network.CreateObservableCounter("netstack.network.io", () => s_live.Observe<long>(static (t, m) => t.ObserveBytes(m)),
            unit: "By", description: "Bytes of IP packets the links handed to the stack and the stack handed to the links");
        StackMeters.Network.CreateObservableCounter("netstack.network.packets", () => s_live.Observe<long>(static (t, m) => t.ObservePackets(m)),
            unit: "{packet}", description: "IP packets the links handed to the stack and the stack handed to the links (fragments included)");
        StackMeters.Tcp.CreateObservableUpDownCounter("netstack.tcp.connections", () => s_live.Observe<long>(static (t, m) => t.ObserveConnections(m)),
            unit: "{connection}", description: "TCP connections by state (listeners as listen)");
        StackMeters.Tcp.CreateObservableCounter("netstack.tcp.segments", () => s_live.Observe<long>(static (t, m) => t.ObserveSegments(m)),
            unit: "{segment}", description: "TCP segments received (a GRO-coalesced segment once) and sent (a GSO super-segment as the wire segments it stands for)");
        StackMeters.Udp.CreateObservableUpDownCounter("netstack.udp.endpoints", () => s_live.Observe<long>(static (t, m) => t.ObserveUdp(m)),
            unit: "{endpoint}", description: "UDP endpoints bound");
        s_rtt = StackMeters.Tcp.CreateHistogram("netstack.tcp.rtt", "s", "TCP round-trip time samples (RFC 6298 §2)",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_rttBuckets });
        s_handshake = StackMeters.Tcp.CreateHistogram("netstack.tcp.handshake.duration", "s", "TCP handshake time: from the connection's creation (SYN sent or received) to ESTABLISHED",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_rttBuckets });
        s_lifetime = StackMeters.Tcp.CreateHistogram("netstack.tcp.connection.duration", "s", "TCP connection lifetime: from its creation to CLOSED (error.type set when it failed)",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = s_lifetimeBuckets });
    }

    /// <summary>Creates the telemetry of <paramref name="stack"/> as its options ask (name, logger factory).</summary>
    internal StackTelemetry(NetworkStack stack, NetworkStackOptions options)
    {
        _stack = stack;
        Name = options.Name ?? $"stack-{Interlocked.Increment(ref s_lastId)}";
        _tag = new(StackTag, Name);
        Tags = [_tag];
        LoggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        TcpLogger = LoggerFactory.CreateLogger("NetStack.Tcp");
        s_live.Add(this);
    }

    /// <summary>The stack's name (<see cref="NetworkStackOptions.Name"/>, or <c>stack-N</c> in creation order).</summary>
    internal string Name { get; }

    /// <summary>The tags every instrument of the stack carries.</summary>
    internal KeyValuePair<string, object?>[] Tags { get; }

    /// <summary>Where the stack's loggers come from.</summary>
    internal ILoggerFactory LoggerFactory { get; }

    /// <summary>TCP's logger (category NetStack.Tcp).</summary>
    internal ILogger TcpLogger { get; }

    /// <summary>
    /// Per-reason counters tagged with the stack's name, exported as <paramref name="instrument"/> in <paramref name="unit"/>, and logged through
    /// <paramref name="logger"/>: each count at trace level when <paramref name="drops"/>, each reason in
    /// <paramref name="limits"/> at warning level at most once per interval.
    /// </summary>
    internal ReasonCounters<T> Counters<T>(Meter meter, string instrument, string unit, string description, ILogger logger, string layer, bool drops, params ReadOnlySpan<T> limits)
        where T : struct, Enum
    {
        var counters = new ReasonCounters<T>(meter, instrument, description, Tags, unit);
        if (logger is not NullLogger && (drops || !limits.IsEmpty))
        {
            Span<int> indexes = stackalloc int[limits.Length];
            for (int i = 0; i < limits.Length; i++)
            {
                indexes[i] = ReasonCounters<T>.IndexOf(limits[i]);
            }
            counters.LogTo(new ReasonLog(logger, _stack.Clock, Name, layer, ReasonCounters<T>.Names, drops, indexes));
        }
        return counters;
    }

    /// <summary>A link handed the stack a packet of <paramref name="bytes"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Received(int bytes) => Interlocked.Add(ref _bytesReceived.Value, bytes);

    /// <summary>The stack handed a link a packet of <paramref name="bytes"/>.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void Sent(int bytes) => Interlocked.Add(ref _bytesSent.Value, bytes);

    /// <summary>An RTT sample of a TCP connection (RFC 6298 §2); negative samples (a clock step) are ignored.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    internal void TcpRtt(TimeSpan rtt)
    {
        if (s_rtt.Enabled && rtt >= TimeSpan.Zero)
        {
            s_rtt.Record(rtt.TotalSeconds, _tag);
        }
    }

    /// <summary>
    /// A TCP connection moved from <paramref name="from"/> to <paramref name="to"/> (the caller holds its lock):
    /// the state gauges follow, the handshake time is recorded on reaching ESTABLISHED, and the change is logged
    /// at debug level.
    /// </summary>
    internal void TcpStateChanged(in TcpFourTuple tuple, TimeSpan age, TcpState from, TcpState to)
    {
        if (from == to)
        {
            return;
        }
        if (from != TcpState.Closed)
        {
            Interlocked.Decrement(ref _tcpStates[(int)from]);
        }
        if (to != TcpState.Closed)
        {
            Interlocked.Increment(ref _tcpStates[(int)to]);
        }
        if (to == TcpState.Established && from is TcpState.SynSent or TcpState.SynReceived && s_handshake.Enabled)
        {
            s_handshake.Record(age.TotalSeconds, _tag);
        }
        TcpLogger.TcpStateChanged(Name, tuple, from, to);
    }

    /// <summary>
    /// A TCP connection in <paramref name="from"/> ended with <paramref name="error"/> (Success for an orderly end)
    /// after <paramref name="age"/>: its lifetime is recorded, a failure is logged at debug level.
    /// </summary>
    internal void TcpTerminated(in TcpFourTuple tuple, TimeSpan age, TcpState from, SocketError error)
    {
        if (from == TcpState.Closed)
        {
            return; // already ended
        }
        TcpStateChanged(tuple, age, from, TcpState.Closed);
        if (error != SocketError.Success)
        {
            TcpLogger.TcpConnectionFailed(Name, tuple, from, error);
        }
        if (s_lifetime.Enabled)
        {
            if (error == SocketError.Success)
            {
                s_lifetime.Record(age.TotalSeconds, _tag);
            }
            else
            {
                s_lifetime.Record(age.TotalSeconds, _tag, ErrorTagFor(error));
            }
        }
    }

    /// <summary>TCP connections in <paramref name="state"/> (CLOSED: always 0).</summary>
    internal long TcpConnections(TcpState state) => state == TcpState.Closed ? 0 : Volatile.Read(ref _tcpStates[(int)state]);

    private KeyValuePair<string, object?> ErrorTagFor(SocketError error)
    {
        lock (_errorTags)
        {
            if (!_errorTags.TryGetValue(error, out var tag))
            {
                tag = new(ErrorTag, error.ToString());
                _errorTags[error] = tag;
            }
            return tag;
        }
    }

    private void ObserveBytes(List<Measurement<long>> into)
    {
        into.Add(new(Volatile.Read(ref _bytesReceived.Value), _tag, new(DirectionTag, "receive")));
        into.Add(new(Volatile.Read(ref _bytesSent.Value), _tag, new(DirectionTag, "transmit")));
    }

    private void ObservePackets(List<Measurement<long>> into)
    {
        if (_stack.Events is not { } events)
        {
            return; // the stack is still being made
        }
        into.Add(new(events[IpEvent.PacketsReceived], _tag, new(DirectionTag, "receive")));
        into.Add(new(events[IpEvent.PacketsSent] + events[IpEvent.FragmentsSent], _tag, new(DirectionTag, "transmit")));
    }

    private void ObserveConnections(List<Measurement<long>> into)
    {
        for (int i = 1; i < s_stateNames.Length; i++)
        {
            into.Add(new(Volatile.Read(ref _tcpStates[i]), _tag, new(StateTag, s_stateNames[i])));
        }
        if (_stack.Tcp is { } tcp)
        {
            into.Add(new(tcp.ListenerCount, _tag, new(StateTag, "listen")));
        }
    }

    private void ObserveSegments(List<Measurement<long>> into)
    {
        if (_stack.Tcp is { } tcp)
        {
            into.Add(new(tcp.Events[TcpEvent.SegmentsReceived], _tag, new(DirectionTag, "receive")));
            into.Add(new(tcp.Events[TcpEvent.SegmentsSent], _tag, new(DirectionTag, "transmit")));
        }
    }

    private void ObserveUdp(List<Measurement<long>> into)
    {
        if (_stack.Udp is { } udp)
        {
            into.Add(new(udp.BoundCount, _tag));
        }
    }

    /// <summary>A counter alone on its cache line, so that two threads' counters never share one.</summary>
    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Explicit, Size = 128)]
    private struct PaddedCounter
    {
        [System.Runtime.InteropServices.FieldOffset(64)]
        public long Value;
    }
}
