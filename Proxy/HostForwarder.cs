// The forwarder: installs itself on a stack's TCP forwarder hook, UDP catch-all and ICMP echo hook, and relays every
// flow a packet source carries to real host sockets (as slirp4netns, pasta and Tailscale's userspace networking
// do), under the address policy and the limits of ProxyOptions. TCP dials first: the sandbox's SYN is answered only
// once the host's connect() has succeeded, and a failure is answered as the host saw it.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Tcp;

namespace NetStack.Proxy;

/// <summary>
/// Relays a stack's TCP, UDP, ICMP echo and DNS to host sockets. Create it over a stack whose NICs face the sandbox;
/// it makes them promiscuous and spoofing (to take and answer every address) and installs its hooks; dispose it to
/// remove them and close every relayed flow.
/// </summary>
public sealed class HostForwarder : IAsyncDisposable
{
    private readonly NetworkStack _stack;
    private readonly AddressPolicy _policy;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<TcpRelay, Task> _relays = new();
    private readonly UdpNat _udp;
    private readonly IcmpEchoRelay _echo;
    private readonly List<PortForwarder> _portForwards = [];
    private readonly ITimer _sweep;
    private readonly ILogger _logger;
    private readonly FaultLog _faultLog;
    private readonly TaskCompletionSource _handlersDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _handlers; // SYN handlers running (a dial may complete after DisposeAsync began)
    private int _disposed;

    /// <summary>Starts forwarding for <paramref name="stack"/> with <paramref name="options"/>.</summary>
    public HostForwarder(NetworkStack stack, ProxyOptions? options = null, ILoggerFactory? loggerFactory = null)
        : this(stack, options, loggerFactory, HostSockets.Kernel)
    {
    }

    /// <summary>As the public constructor, with the host sockets opened by <paramref name="sockets"/> (the fuzz target's in-memory peers).</summary>
    internal HostForwarder(NetworkStack stack, ProxyOptions? options, ILoggerFactory? loggerFactory, HostSockets sockets)
    {
        ArgumentNullException.ThrowIfNull(stack);
        Sockets = sockets;
        Metrics = new ProxyMetrics(stack);
        options ??= new ProxyOptions();
        options.Validate();
        _stack = stack;
        Options = options;
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger("NetStack.Proxy");
        _faultLog = new FaultLog(_logger, TimeProvider.System, "the forwarder (its sweep timer or a relay task)");
        Resolvers = options.Resolvers ?? ResolvConf.Read();
        _policy = new AddressPolicy(options, Resolvers);
        SandboxConnection = options.KeepAlive is { } idle
            ? stack.Tcp.Options.Connection with { KeepAlive = true, KeepAliveIdle = idle, KeepAliveInterval = options.KeepAliveInterval, KeepAliveProbes = options.KeepAliveProbes }
            : null;
        _udp = new UdpNat(this);
        _echo = new IcmpEchoRelay(this);
        foreach (Nic nic in stack.Nics)
        {
            nic.Promiscuous = true; // take flows to any address
            nic.Spoofing = true;    // and answer from it
        }
        // Pending requests are about the dials in flight (a SYN past MaxPendingDials is dropped at once), so the hook's
        // own bound is only a backstop.
        stack.Tcp.Forwarder = new TcpForwarder(OnSynAsync, new TcpForwarderOptions
        {
            MaxPending = options.MaxPendingDials * 4,
            DecisionTimeout = options.DialTimeout + TimeSpan.FromSeconds(5), // the dial's own deadline comes first
        });
        stack.Udp.Forwarder = _udp.OnDatagram;
        stack.Icmp.EchoForwarder = _echo.OnEchoRequest;
        TimeSpan period = TimeSpan.FromSeconds(Math.Clamp(Math.Min(options.DnsIdleTimeout.TotalSeconds, options.UdpIdleTimeout.TotalSeconds) / 4, 0.05, 5));
        _sweep = TimeProvider.System.CreateTimer(static s => ((HostForwarder)s!).Sweep(), this, period, period);
        foreach (ProxyPortForward forward in options.PortForwards)
        {
            _portForwards.Add(PortForwarder.Start(this, forward));
        }
    }

    /// <summary>The options in force.</summary>
    public ProxyOptions Options { get; }

    /// <summary>The counters.</summary>
    public ProxyMetrics Metrics { get; }

    /// <summary>The resolvers DNS queries go to.</summary>
    public IReadOnlyList<IPEndPoint> Resolvers { get; }

    /// <summary>The host end points the port forwards listen on (port 0 in the options becomes the bound port here).</summary>
    public IReadOnlyList<IPEndPoint> PortForwardEndPoints => _portForwards.Select(p => p.LocalEndPoint).ToArray();

    /// <summary>True where unprivileged ICMP sockets work (net.ipv4.ping_group_range includes us); known after the first echo request.</summary>
    public bool? EchoAvailable => _echo.Available;

    internal NetworkStack Stack => _stack;

    /// <summary>The relays running now.</summary>
    internal IEnumerable<TcpRelay> Relays => _relays.Keys;

    /// <summary>The options of the sandbox's relayed connections: the stack's, with keep-alive when <see cref="ProxyOptions.KeepAlive"/> asks; null: the stack's own.</summary>
    internal TcpConnectionOptions? SandboxConnection { get; }

    /// <summary>Where host sockets come from.</summary>
    internal HostSockets Sockets { get; }

    internal AddressPolicy Policy => _policy;

    internal ILogger Logger => _logger;

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>A SYN to any address: policy, limits, a bounded dial, then accept — or answer as the host saw it.</summary>
    private async ValueTask OnSynAsync(TcpForwardRequest request, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _handlers);
        try
        {
            if (_stopping.IsCancellationRequested)
            {
                request.Refuse();
                return;
            }
            await HandleSynAsync(request, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (Interlocked.Decrement(ref _handlers) == 0 && _stopping.IsCancellationRequested)
            {
                _handlersDone.TrySetResult();
            }
        }
    }

    private async ValueTask HandleSynAsync(TcpForwardRequest request, CancellationToken cancellationToken)
    {
        IPEndPoint destination = request.LocalEndPoint;
        ProxyDecision decision = _policy.Decide(NetAddress.FromIPAddress(destination.Address), destination.Port);
        if (!decision.Allowed)
        {
            Metrics.Refusals.Increment(decision.Refusal);
            Refuse(request, decision.Refusal == ProxyRefusal.Unreachable ? IcmpErrorKind.NetUnreachable : IcmpErrorKind.AdministrativelyProhibited);
            return;
        }
        if (Interlocked.Increment(ref Metrics.ConnectionsGauge) > Options.MaxConnections)
        {
            Interlocked.Decrement(ref Metrics.ConnectionsGauge);
            Metrics.Events.Increment(ProxyEvent.ConnectionLimit);
            request.Refuse();
            return;
        }
        if (Interlocked.Increment(ref Metrics.DialsGauge) > Options.MaxPendingDials)
        {
            // As Linux drops a SYN to a listener whose queue is full: no answer, the peer retransmits, and by then a
            // dial may have ended. Queueing it instead would hold the request (and a timer) per excess SYN.
            Interlocked.Decrement(ref Metrics.DialsGauge);
            Interlocked.Decrement(ref Metrics.ConnectionsGauge);
            Metrics.Refusals.Increment(ProxyRefusal.DialLimit);
            request.Drop();
            return;
        }
        bool relaying = false;
        try
        {
            Socket? socket = await DialAsync(request, decision.Target!, cancellationToken).ConfigureAwait(false);
            if (socket is null)
            {
                return;
            }
            TcpConnection? connection;
            try
            {
                connection = request.Accept(SandboxConnection, HostMss(socket));
            }
            catch (SocketException)
            {
                connection = null; // the stack holds too many connections: the request was refused
            }
            if (connection is null)
            {
                socket.Dispose();
                return;
            }
            relaying = true;
            Relay(connection, socket, countOpen: false);
        }
        finally
        {
            if (!relaying)
            {
                Interlocked.Decrement(ref Metrics.ConnectionsGauge);
            }
        }
    }

    /// <summary>
    /// Dials <paramref name="target"/> holding a dial slot (taken by the caller, given back here); null (and the
    /// request answered) when it fails.
    /// </summary>
    private async Task<Socket?> DialAsync(TcpForwardRequest request, IPEndPoint target, CancellationToken cancellationToken)
    {
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _stopping.Token);
            deadline.CancelAfter(Options.DialTimeout);
            return await Sockets.ConnectTcpAsync(target, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            Metrics.Events.Increment(ProxyEvent.DialTimedOut);
            Refuse(request, IcmpErrorKind.HostUnreachable);
        }
        catch (SocketException e)
        {
            if (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                Metrics.Events.Increment(ProxyEvent.DialRefused);
                request.Refuse(); // RFC 9293 §3.10.7.1: as the closed port it is
            }
            else
            {
                Metrics.Events.Increment(ProxyEvent.DialUnreachable);
                Refuse(request, e.SocketErrorCode switch
                {
                    SocketError.NetworkUnreachable or SocketError.NetworkDown or SocketError.AddressNotAvailable => IcmpErrorKind.NetUnreachable,
                    SocketError.AccessDenied => IcmpErrorKind.AdministrativelyProhibited,
                    _ => IcmpErrorKind.HostUnreachable,
                });
            }
        }
        finally
        {
            Interlocked.Decrement(ref Metrics.DialsGauge);
        }
        return null;
    }

    /// <summary>ICMP destination unreachable of <paramref name="kind"/>, or RST where <see cref="ProxyOptions.RefuseWithReset"/>.</summary>
    private void Refuse(TcpForwardRequest request, IcmpErrorKind kind)
    {
        if (Options.RefuseWithReset)
        {
            request.Refuse();
        }
        else
        {
            request.Refuse(kind);
        }
    }

    /// <summary>The host socket's MSS (TCP_MAXSEG), to clamp the sandbox's to; 0 when unknown.</summary>
    private static int HostMss(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return 0;
        }
        Span<byte> value = stackalloc byte[4];
        try
        {
            return socket.GetRawSocketOption(6 /* IPPROTO_TCP */, 2 /* TCP_MAXSEG */, value) == 4 ? BitConverter.ToInt32(value) : 0;
        }
        catch (SocketException)
        {
            return 0;
        }
    }

    /// <summary>Keep-alive on a host socket (SO_KEEPALIVE with the options' idle time, interval and count); a socket that refuses keeps going without.</summary>
    private void KeepAlive(Socket socket, TimeSpan idle)
    {
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, (int)Math.Ceiling(idle.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, (int)Math.Ceiling(Options.KeepAliveInterval.TotalSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, Options.KeepAliveProbes);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or PlatformNotSupportedException)
        {
            _logger.LogDebug("Keep-alive not set on a host socket: {Error}", e.Message);
        }
    }

    /// <summary>Relays <paramref name="connection"/> ↔ <paramref name="socket"/> once the handshake completes; tracked until it ends.</summary>
    internal void Relay(TcpConnection connection, Socket socket, bool countOpen)
    {
        if (countOpen)
        {
            Interlocked.Increment(ref Metrics.ConnectionsGauge);
        }
        if (Options.KeepAlive is { } idle)
        {
            KeepAlive(socket, idle);
        }
        var relay = new TcpRelay(connection, socket, Metrics, Options.RelayChunkSize);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _relays[relay] = started.Task;
        if (_stopping.IsCancellationRequested)
        {
            relay.Reset(ProxyEvent.Stopped); // began as the forwarder stopped: DisposeAsync may have passed it by
        }
        _ = RunRelayAsync(relay, connection, socket, started);
    }

    private async Task RunRelayAsync(TcpRelay relay, TcpConnection connection, Socket socket, TaskCompletionSource done)
    {
        try
        {
            try
            {
                await connection.ConnectedAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException)
            {
                socket.Dispose(); // the handshake never completed: nothing to relay
                connection.Abort();
                return;
            }
            Metrics.Events.Increment(ProxyEvent.TcpOpened);
            await relay.RunAsync().ConfigureAwait(false);
            Metrics.Events.Increment(ProxyEvent.TcpClosed);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            ReportFault(e);
            relay.Reset(ProxyEvent.Fault); // neither side is left half-relayed
        }
        finally
        {
            _relays.TryRemove(relay, out _);
            Interlocked.Decrement(ref Metrics.ConnectionsGauge);
            done.TrySetResult();
        }
    }

    /// <summary>
    /// The sweep timer: idle relays reset, idle UDP flows closed. A timer callback must not throw (it would end the
    /// process): each part has its own exception boundary, so a fault in one costs that part this tick only.
    /// </summary>
    private void Sweep()
    {
        Guard(static f => f.ExpireIdleRelays(), this);
        Guard(static f => f._udp.Expire(), this);
        foreach (PortForwarder forward in _portForwards)
        {
            Guard(static p => p.Expire(), forward);
        }
    }

    private void ExpireIdleRelays()
    {
        if (Options.TcpIdleTimeout != Timeout.InfiniteTimeSpan)
        {
            long cutoff = Environment.TickCount64 - (long)Options.TcpIdleTimeout.TotalMilliseconds;
            foreach (TcpRelay relay in _relays.Keys)
            {
                if (relay.LastActivity < cutoff)
                {
                    relay.Reset(ProxyEvent.TcpIdleTimeout);
                }
            }
        }
    }

    /// <summary>Runs <paramref name="work"/> inside an exception boundary (docs/ARCHITECTURE.md §6).</summary>
    private void Guard<T>(Action<T> work, T state)
    {
        try
        {
            work(state);
        }
        catch (Exception e) when (FaultLog.Catches(e))
        {
            ReportFault(e);
        }
    }

    /// <summary>Counts a fault caught at one of the forwarder's boundaries and logs it at most once an interval.</summary>
    internal void ReportFault(Exception e)
    {
        Metrics.Events.Increment(ProxyEvent.Fault);
        _faultLog.Report(e);
    }

    /// <summary>Removes the hooks, stops the port forwards, resets every relayed connection and closes every flow.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stack.Tcp.Forwarder = null;
        _stack.Udp.Forwarder = null;
        _stack.Icmp.EchoForwarder = null;
        await _sweep.DisposeAsync().ConfigureAwait(false);
        _stopping.Cancel();
        if (Volatile.Read(ref _handlers) == 0)
        {
            _handlersDone.TrySetResult();
        }
        foreach (PortForwarder forward in _portForwards)
        {
            await forward.DisposeAsync().ConfigureAwait(false);
        }
        await _handlersDone.Task.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false); // dials end at once: their token is cancelled
        foreach (TcpRelay relay in _relays.Keys)
        {
            relay.Reset(ProxyEvent.Stopped);
        }
        await Task.WhenAll(_relays.Values).WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        await _udp.DisposeAsync().ConfigureAwait(false);
        _echo.Dispose();
        _stopping.Dispose();
    }
}
