// Layer: transport (TCP), application API. The forwarder hook for proxies (gVisor's tcp.Forwarder is the
// model): a SYN that matches no connection and no listener — typically one addressed to an arbitrary host and
// taken in by a promiscuous NIC — becomes a request the application decides on, possibly after an
// asynchronous check such as dialing the real destination: accept (SYN-ACK, a connection) or refuse (RST).
using System.Net;
using System.Net.Sockets;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>Settings of a <see cref="TcpForwarder"/>.</summary>
public sealed record TcpForwarderOptions
{
    /// <summary>
    /// Requests awaiting a decision at once; SYNs past this are dropped and counted (the peer retries). Once 3/4 of
    /// it are pending, a SYN from an address that already has a request pending is dropped early, so that a flood
    /// from a few sources leaves the last quarter to everyone else (as Linux keeps the end of its SYN queue for
    /// proven peers when cookies are off).
    /// </summary>
    public int MaxPending { get; init; } = 1024;

    /// <summary>A request not decided within this time is refused (RST).</summary>
    public TimeSpan DecisionTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Options of the connections accepted through the forwarder, unless <see cref="TcpForwardRequest.Accept(TcpConnectionOptions?)"/> names others.</summary>
    public TcpConnectionOptions? Connection { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxPending, 1, nameof(MaxPending));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(DecisionTimeout, TimeSpan.Zero, nameof(DecisionTimeout));
        Connection?.Validate();
    }
}

/// <summary>What a <see cref="TcpForwarder"/> counts.</summary>
public enum TcpForwarderEvent
{
    /// <summary>Requests handed to the handler.</summary>
    Requests,
    /// <summary>Retransmitted SYNs absorbed while their request was pending.</summary>
    DuplicateSyns,
    /// <summary>SYNs dropped because <see cref="TcpForwarderOptions.MaxPending"/> requests were pending.</summary>
    Overflows,
    /// <summary>SYNs dropped early: the table was 3/4 full and their source had a request pending already.</summary>
    EarlyDrops,
    /// <summary>Handlers that threw (their requests were refused).</summary>
    HandlerFailures,
    /// <summary>Requests the handler dropped unanswered (<see cref="TcpForwardRequest.Drop"/>): the peer retransmits its SYN.</summary>
    HandlerDrops,
    /// <summary>
    /// Exceptions out of a request's decision timeout (a callback registered on the handler's token threw): caught,
    /// counted and logged at most once an interval; the request is refused all the same.
    /// </summary>
    TimerFaults,
}

/// <summary>
/// Sees every incoming SYN that matches no connection and no listener, and hands it to the application as a
/// <see cref="TcpForwardRequest"/>. Install it with <see cref="TcpProtocol.Forwarder"/>. For addresses that are
/// not the stack's own, set <see cref="Nic.Promiscuous"/> (to receive them) and <see cref="Nic.Spoofing"/>
/// (to answer from them) on the NIC.
/// </summary>
/// <remarks>
/// The handler runs on the thread that delivered the SYN, until its first <c>await</c>: it must not block.
/// Retransmitted SYNs of a pending request are absorbed. A handler that returns (or throws) without deciding
/// refuses the request.
/// </remarks>
public sealed class TcpForwarder
{
    private readonly Func<TcpForwardRequest, CancellationToken, ValueTask> _handler;
    private readonly Dictionary<TcpFourTuple, TcpForwardRequest> _pending = [];
    private readonly Dictionary<NetAddress, int> _pendingPerSource = [];
    private readonly Lock _gate = new();
    private FaultLog? _faultLog;
    private int _exported;

    /// <summary>Creates a forwarder that passes each request to <paramref name="handler"/>.</summary>
    /// <param name="handler">Decides each request; its token is cancelled when the decision times out.</param>
    /// <param name="options">Limits; defaults when null.</param>
    public TcpForwarder(Func<TcpForwardRequest, CancellationToken, ValueTask> handler, TcpForwarderOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        Options = options ?? new TcpForwarderOptions();
        Options.Validate();
        _handler = handler;
        Events = new ReasonCounters<TcpForwarderEvent>();
    }

    /// <summary>
    /// Installed as <paramref name="tcp"/>'s <see cref="TcpProtocol.Forwarder"/>: the first time, <see cref="Events"/>
    /// are exported as <c>netstack.tcp.forwarder.events</c> tagged with that stack's name (a forwarder serves one stack).
    /// </summary>
    internal void InstalledOn(TcpProtocol tcp)
    {
        if (Interlocked.Exchange(ref _exported, 1) == 0)
        {
            _faultLog = new FaultLog(tcp.Stack.Logger, tcp.Stack.Clock, "the TCP forwarder (a handler or a decision timeout)");
            Events.Export(StackMeters.Tcp, "netstack.tcp.forwarder.events", "{event}", "TCP forwarder requests and drops", tcp.Stack.Telemetry.Tags);
        }
    }

    /// <summary>The settings.</summary>
    public TcpForwarderOptions Options { get; }

    /// <summary>Requests awaiting a decision.</summary>
    public int Pending
    {
        get
        {
            lock (_gate)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Requests, drops and failures by kind (exported once installed, tagged with the stack's name).</summary>
    public ReasonCounters<TcpForwarderEvent> Events { get; }

    /// <summary>A SYN for no connection and no listener (RFC 9293 §3.10.7.2 with the application as the listener).</summary>
    internal void OnSyn(TcpProtocol tcp, in IpPacketInfo info, in TcpRepr syn)
    {
        var tuple = new TcpFourTuple(info.Destination, syn.DestinationPort, info.Source, syn.SourcePort);
        TcpForwardRequest request;
        lock (_gate)
        {
            if (_pending.TryGetValue(tuple, out TcpForwardRequest? pending))
            {
                pending.OnRetransmittedSyn(syn);
                Events.Increment(TcpForwarderEvent.DuplicateSyns);
                tcp.Drops.Increment(TcpDropReason.ForwarderPending);
                return;
            }
            int fromSource = _pendingPerSource.GetValueOrDefault(tuple.RemoteAddress);
            if (_pending.Count >= Options.MaxPending
                || (fromSource > 0 && _pending.Count >= Options.MaxPending - (Options.MaxPending / 4)))
            {
                Events.Increment(_pending.Count >= Options.MaxPending ? TcpForwarderEvent.Overflows : TcpForwarderEvent.EarlyDrops);
                tcp.Drops.Increment(TcpDropReason.ListenOverflow);
                return;
            }
            request = new TcpForwardRequest(this, tcp, info.Nic, tuple, syn);
            _pending.Add(tuple, request);
            _pendingPerSource[tuple.RemoteAddress] = fromSource + 1;
        }
        Events.Increment(TcpForwarderEvent.Requests);
        tcp.Events.Increment(TcpEvent.ForwardRequests);
        request.Start(Options.DecisionTimeout);
        _ = RunHandler(request);
    }

    private async Task RunHandler(TcpForwardRequest request)
    {
        try
        {
            await _handler(request, request.Cancellation).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // Counted; an undecided request is refused below, a decided one carries on (or is gone already).
            Events.Increment(TcpForwarderEvent.HandlerFailures);
            _faultLog?.Report(e);
        }
        request.Refuse(); // no-op once decided
    }

    /// <summary>The exception boundary of a request's decision timer (docs/ARCHITECTURE.md §6): counted, logged at most once an interval.</summary>
    internal void ReportTimerFault(Exception e)
    {
        Events.Increment(TcpForwarderEvent.TimerFaults);
        _faultLog?.Report(e);
    }

    internal void Forget(TcpForwardRequest request)
    {
        lock (_gate)
        {
            if (_pending.Remove(request.Tuple))
            {
                NetAddress source = request.Tuple.RemoteAddress;
                int left = _pendingPerSource.GetValueOrDefault(source) - 1;
                if (left > 0)
                {
                    _pendingPerSource[source] = left;
                }
                else
                {
                    _pendingPerSource.Remove(source);
                }
            }
        }
    }
}

/// <summary>
/// One connection attempt seen by a <see cref="TcpForwarder"/>: where it came from and where it was going. Decide
/// once with <see cref="Accept(TcpConnectionOptions?)"/> or <see cref="Refuse()"/>; later calls are ignored (Accept returns null).
/// </summary>
public sealed class TcpForwardRequest
{
    private readonly TcpForwarder _forwarder;
    private readonly TcpProtocol _tcp;
    private readonly Lock _synLock = new();
    private TcpRepr _syn;
    private readonly CancellationTokenSource _timeout = new();
    private ITimer? _timer;
    private int _decided;

    internal TcpForwardRequest(TcpForwarder forwarder, TcpProtocol tcp, Nic nic, TcpFourTuple tuple, in TcpRepr syn)
    {
        _forwarder = forwarder;
        _tcp = tcp;
        Nic = nic;
        Tuple = tuple;
        _syn = syn;
    }

    internal TcpFourTuple Tuple { get; }

    internal CancellationToken Cancellation => _timeout.Token;

    /// <summary>The NIC the SYN arrived on.</summary>
    public Nic Nic { get; }

    /// <summary>Where the SYN was going: the address and port the application should reach for the peer.</summary>
    public IPEndPoint LocalEndPoint => new(Tuple.LocalAddress.ToIPAddress(), Tuple.LocalPort);

    /// <summary>Who sent the SYN.</summary>
    public IPEndPoint RemoteEndPoint => new(Tuple.RemoteAddress.ToIPAddress(), Tuple.RemotePort);

    /// <summary>The MSS the peer announced, or null.</summary>
    public int? PeerMaxSegmentSize => Syn.MaxSegmentSize;

    private TcpRepr Syn
    {
        get
        {
            lock (_synLock)
            {
                return _syn;
            }
        }
    }

    /// <summary>True once accepted, refused or timed out.</summary>
    public bool IsDecided => Volatile.Read(ref _decided) != 0;

    /// <summary>The peer sent its SYN again: answer the newest one (its timestamp is the one to echo).</summary>
    internal void OnRetransmittedSyn(in TcpRepr syn)
    {
        lock (_synLock)
        {
            if (!IsDecided && syn.SequenceNumber == _syn.SequenceNumber)
            {
                _syn = syn;
            }
        }
    }

    internal void Start(TimeSpan timeout)
    {
        _timer = _tcp.Stack.Clock.CreateTimer(static s => ((TcpForwardRequest)s!).OnTimeout(), this, timeout, Timeout.InfiniteTimeSpan);
    }

    /// <summary>
    /// Completes the handshake (SYN-ACK) and returns the connection, in SYN-RECEIVED until the peer's ACK arrives
    /// (await <see cref="TcpConnection.ConnectedAsync"/>). Returns null when the request was already decided.
    /// Throws <see cref="SocketException"/> when the stack cannot answer from the SYN's destination address
    /// (a non-local address needs a spoofing NIC) or holds too many connections.
    /// </summary>
    public TcpConnection? Accept(TcpConnectionOptions? options = null) => Accept(options, 0);

    /// <summary>
    /// As <see cref="Accept(TcpConnectionOptions?)"/>, announcing an MSS of at most <paramref name="maxSegmentSize"/>
    /// (0: the route's): a relay clamps the MSS to the path it relays to, as its host socket's TCP_MAXSEG reports it.
    /// </summary>
    public TcpConnection? Accept(TcpConnectionOptions? options, int maxSegmentSize)
    {
        if (!TryDecide())
        {
            return null;
        }
        options ??= _forwarder.Options.Connection ?? _tcp.Options.Connection;
        options.Validate();
        TcpControlBlock tcb = _tcp.CreateForwarded(Tuple, options, out SocketError error)
            ?? throw new SocketException((int)error);
        var connection = new TcpConnection(tcb);
        if (maxSegmentSize > 0)
        {
            tcb.ClampMss(maxSegmentSize);
        }
        tcb.StartPassiveOpen(Syn);
        return connection;
    }

    /// <summary>
    /// Refuses the attempt with an ICMP destination unreachable of <paramref name="kind"/> (host, network or port
    /// unreachable, administratively prohibited: RFC 1122 §4.2.3.9 makes the first two soft errors the peer retries
    /// until its own timeout, the others hard) about the SYN, sent from its destination; any other kind sends RST.
    /// </summary>
    public void Refuse(IcmpErrorKind kind)
    {
        if (kind is not (IcmpErrorKind.HostUnreachable or IcmpErrorKind.NetUnreachable or IcmpErrorKind.PortUnreachable or IcmpErrorKind.AdministrativelyProhibited))
        {
            Refuse();
            return;
        }
        if (TryDecide())
        {
            _tcp.Events.Increment(TcpEvent.ForwardRefused);
            TcpRepr syn = Syn;
            Span<byte> header = stackalloc byte[TcpHeader.MinLength];
            new TcpRepr { SourcePort = Tuple.RemotePort, DestinationPort = Tuple.LocalPort, SequenceNumber = syn.SequenceNumber, Flags = TcpFlags.Syn, WindowSize = syn.WindowSize }.Emit(header);
            IcmpFlowError.Send(_tcp.Stack, Tuple.RemoteAddress, Tuple.LocalAddress, IpProtocol.Tcp, header, kind);
        }
    }

    /// <summary>
    /// Declines the attempt without an answer, as Linux drops a SYN to a listener whose queue is full: the peer
    /// retransmits its SYN (RFC 6298 backoff), and the retransmission becomes a new request. For a handler that is
    /// out of capacity for now (a proxy's dials in flight at their limit).
    /// </summary>
    public void Drop()
    {
        if (TryDecide())
        {
            _forwarder.Events.Increment(TcpForwarderEvent.HandlerDrops);
        }
    }

    /// <summary>Refuses the attempt: the peer gets a RST (RFC 9293 §3.10.7.1), as from a closed port.</summary>
    public void Refuse()
    {
        if (TryDecide())
        {
            _tcp.Events.Increment(TcpEvent.ForwardRefused);
            _tcp.SendResetForSyn(Tuple, Syn);
        }
    }

    /// <summary>
    /// The decision timer: cancels the handler's token and refuses. A timer callback must not throw (it would end the
    /// process), and the token's callbacks are the handler's code: a fault is counted and the request refused anyway,
    /// so it never stays in the pending table.
    /// </summary>
    private void OnTimeout()
    {
        try
        {
            if (!IsDecided)
            {
                try
                {
                    _timeout.Cancel();
                }
                finally
                {
                    Refuse();
                }
            }
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            _forwarder.ReportTimerFault(e);
        }
    }

    private bool TryDecide()
    {
        if (Interlocked.Exchange(ref _decided, 1) != 0)
        {
            return false;
        }
        _timer?.Dispose();
        _forwarder.Forget(this);
        return true;
    }
}
