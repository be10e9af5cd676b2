// Layer: transport (TCP, RFC 9293). The protocol object registered on a NetworkStack: validates segments,
// demultiplexes by 4-tuple then listener, answers segments for no connection with RST (RFC 9293 §3.10.7.1),
// makes ISNs (RFC 6528) and rate-limits challenge ACKs (RFC 5961 §7). It keeps the one connection table and its
// limits (per remote address, per listener, TIME-WAIT: docs/ARCHITECTURE.md §6). Connections live in TcpControlBlock.
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Diagnostics;
using NetStack.Icmp;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// TCP on one <see cref="NetworkStack"/> (<see cref="NetworkStack.Tcp"/>, configured by
/// <see cref="NetworkStackOptions.Tcp"/>); open connections with <see cref="ConnectAsync"/> and <see cref="Listen"/>.
/// </summary>
public sealed class TcpProtocol : ITransportProtocol
{
    private static readonly System.Diagnostics.Metrics.Meter s_meter = StackMeters.Tcp;

    private readonly ConcurrentDictionary<TcpFourTuple, TcpControlBlock> _connections = new();
    private readonly ConcurrentDictionary<(NetAddress Address, ushort Port), TcpConnectionListener> _listeners = new();
    private readonly Lock _bindLock = new();
    private readonly TcpIsnGenerator _isn;
    private readonly Random _random;
    private readonly Lock _randomLock = new();
    private readonly long _epoch;
    private readonly Lock _challengeLock = new();
    private TimeSpan _challengeWindowStart;
    private int _challengeBudget;
    private bool _challengeWindowOpen;
    private readonly AddressRateLimiter? _resetLimiter;
    private readonly LimitLog _resetLimited;
    private readonly ConcurrentDictionary<NetAddress, int> _passivePerRemote = new();
    private readonly ConcurrentQueue<TcpControlBlock> _timeWaitOrder = new();
    private readonly LimitLog _tableLimited;
    private readonly LimitLog _timeWaitLimited;
    private int _connectionCount;
    private int _timeWaitCount;
    private volatile bool _shutDown;

    internal TcpProtocol(NetworkStack stack, TcpProtocolOptions options)
    {
        options.Validate();
        Stack = stack;
        Options = options;
        _epoch = stack.Clock.GetTimestamp();
        _isn = new TcpIsnGenerator(options.IsnSecret, stack.Clock);
        Cookies = new TcpSynCookies(options.IsnSecret, stack.Clock);
        _random = options.RandomSeed is int seed ? new Random(seed) : new Random();
        Drops = stack.Telemetry.Counters(s_meter, "netstack.tcp.drops", "{segment}", "TCP segments dropped", stack.Telemetry.TcpLogger, "TCP", drops: true, TcpDropReason.ListenOverflow, TcpDropReason.OutOfOrderQueueFull);
        Events = stack.Telemetry.Counters(s_meter, "netstack.tcp.events", "{event}", "TCP events", stack.Telemetry.TcpLogger, "TCP", drops: false, TcpEvent.ChallengeAcksSuppressed, TcpEvent.SynCookiesSent);
        _tableLimited = new LimitLog(stack.Logger, stack.Clock, "TCP connection table: a connection refused (table full, or a remote address or listener at its limit)");
        _timeWaitLimited = new LimitLog(stack.Logger, stack.Clock, "TCP TIME-WAIT bucket table overflow (tcp_max_tw_buckets)");
        if (options.ResetsPerSecondPerAddress > 0)
        {
            _resetLimiter = new AddressRateLimiter(stack.Clock, stack.Options.IcmpPeerTableSize,
                TimeSpan.FromSeconds(1.0 / options.ResetsPerSecondPerAddress), options.ResetsPerSecondPerAddress);
        }
        _resetLimited = new LimitLog(stack.Logger, stack.Clock, "TCP resets to closed ports per remote address");
        ScoreboardFull = new LimitLog(stack.Logger, stack.Clock, "SACK scoreboard records per connection (SackScoreboard.MaxRecords)");
        Limits = new TcpResourceLimits(stack.Logger, stack.Clock);
        Memory = new TcpMemoryBudget(options.Memory ?? TcpMemoryLimits.Default);
    }

    /// <summary>The memory all connections' queues hold, against <see cref="TcpProtocolOptions.Memory"/>.</summary>
    public TcpMemoryBudget Memory { get; }

    /// <summary>The stack this protocol runs on.</summary>
    public NetworkStack Stack { get; }

    /// <summary>The options it was made with.</summary>
    public TcpProtocolOptions Options { get; }

    /// <summary>Drops by reason.</summary>
    public ReasonCounters<TcpDropReason> Drops { get; }

    /// <summary>Event counts.</summary>
    public ReasonCounters<TcpEvent> Events { get; }

    /// <summary>Logs, at most once per interval, that a connection's SACK scoreboard reached its bound.</summary>
    internal LimitLog ScoreboardFull { get; }

    /// <summary>Connections held (every state, TIME-WAIT included).</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>Connections in TIME-WAIT (bounded by <see cref="TcpProtocolOptions.MaxTimeWait"/>).</summary>
    public int TimeWaitCount => Volatile.Read(ref _timeWaitCount);

    /// <summary>Listeners bound.</summary>
    public int ListenerCount => _listeners.Count;

    /// <summary>
    /// Sees SYNs that match no connection and no listener (null: those get RST). Set it to proxy connections to
    /// arbitrary addresses from a promiscuous, spoofing NIC.
    /// </summary>
    public TcpForwarder? Forwarder
    {
        get;
        set
        {
            value?.InstalledOn(this); // its counters take this stack's tag
            field = value;
        }
    }

    /// <summary>Overrides the RFC 6528 ISN (tests that start sequence numbers near 2^32).</summary>
    internal Func<uint>? IsnOverride { get; set; }

    internal TcpSynCookies Cookies { get; }

    /// <summary>Orphan count and limit logs shared by the connections.</summary>
    internal TcpResourceLimits Limits { get; }

    internal TimeSpan Now => Stack.Clock.GetElapsedTime(_epoch);

    internal uint TimestampOffset(in TcpFourTuple tuple) => _isn.TimestampOffset(tuple);

    /// <summary>Opens a connection to <paramref name="remote"/> (RFC 9293 §3.10.1); fails with <see cref="SocketException"/>.</summary>
    public async Task<TcpConnection> ConnectAsync(IPEndPoint remote, TcpConnectionOptions? options = null, IPEndPoint? local = null, CancellationToken cancellationToken = default)
    {
        options ??= Options.Connection;
        TcpConnection connection = Connect(remote, options, local);
        using var timeout = new CancellationTokenSource(options.ConnectTimeout, Stack.Clock);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await connection.ConnectedAsync(linked.Token).ConfigureAwait(false);
            return connection;
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            connection.Abort();
            throw new SocketException((int)SocketError.TimedOut);
        }
        catch
        {
            connection.Abort();
            throw;
        }
    }

    /// <summary>
    /// Starts an active open without waiting (for deterministic drivers): the connection is in SYN-SENT; watch
    /// <see cref="TcpConnection.State"/> or await <see cref="TcpConnection.ConnectedAsync"/>.
    /// </summary>
    public TcpConnection Connect(IPEndPoint remote, TcpConnectionOptions? options = null, IPEndPoint? local = null)
    {
        ArgumentNullException.ThrowIfNull(remote);
        options ??= Options.Connection;
        options.Validate();
        var destination = NetAddress.FromIPAddress(remote.Address);
        NetAddress source = local is null || local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? default : NetAddress.FromIPAddress(local.Address);
        SendResult resolved = Stack.TryResolveRoute(destination, source, out RouteInfo route);
        if (resolved != SendResult.Sent)
        {
            throw new SocketException((int)(resolved == SendResult.NoRoute ? SocketError.NetworkUnreachable : SocketError.AddressNotAvailable));
        }
        TcpControlBlock tcb;
        lock (_bindLock)
        {
            ObjectDisposedException.ThrowIf(_shutDown, this);
            ushort port = (ushort)(local?.Port ?? 0);
            TcpFourTuple tuple = port != 0
                ? new TcpFourTuple(route.Source, port, destination, (ushort)remote.Port)
                : PickEphemeral(route.Source, destination, (ushort)remote.Port);
            if (_connections.ContainsKey(tuple))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            if (!HasRoom())
            {
                throw new SocketException((int)SocketError.NoBufferSpaceAvailable);
            }
            tcb = new TcpControlBlock(this, tuple, route, options, NextIsn(tuple), listener: null);
            if (!TryAdd(tcb))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
        }
        var connection = new TcpConnection(tcb);
        tcb.StartActiveOpen();
        return connection;
    }

    /// <summary>Listens on <paramref name="local"/> (any address: <see cref="IPAddress.Any"/>/<see cref="IPAddress.IPv6Any"/>) with a backlog of half-open plus unaccepted connections.</summary>
    public TcpConnectionListener Listen(IPEndPoint local, int backlog = 128, TcpConnectionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        ArgumentOutOfRangeException.ThrowIfZero(local.Port);
        NetAddress address = local.Address.Equals(IPAddress.Any) || local.Address.Equals(IPAddress.IPv6Any) ? default : NetAddress.FromIPAddress(local.Address);
        (options ?? Options.Connection).Validate();
        lock (_bindLock)
        {
            ObjectDisposedException.ThrowIf(_shutDown, this);
            foreach (var key in _listeners.Keys)
            {
                if (key.Port == local.Port && (key.Address.IsNone || address.IsNone || key.Address == address))
                {
                    throw new SocketException((int)SocketError.AddressAlreadyInUse);
                }
            }
            var listener = new TcpConnectionListener(this, address, (ushort)local.Port, backlog, options ?? Options.Connection);
            _listeners[(address, (ushort)local.Port)] = listener;
            return listener;
        }
    }

    internal void RemoveListener(TcpConnectionListener listener) =>
        _listeners.TryRemove(new KeyValuePair<(NetAddress, ushort), TcpConnectionListener>((listener.Address, listener.Port), listener));

    /// <summary>
    /// Ends TCP with its stack (<see cref="NetworkStack.Dispose"/>), as a host going down ends its sockets: listeners
    /// close and every connection is aborted (RFC 9293 §3.10.4 ABORT: RST in a synchronized state, nothing in
    /// TIME-WAIT), so what their queues, send buffers and timers pin goes back to the pool (docs/ARCHITECTURE.md §3)
    /// and an application still holding one reads an error. Afterwards nothing opens: connect and listen throw
    /// <see cref="ObjectDisposedException"/>, passive opens are refused. Idempotent.
    /// </summary>
    internal void Shutdown()
    {
        lock (_bindLock)
        {
            _shutDown = true;
        }
        foreach (TcpConnectionListener listener in _listeners.Values)
        {
            listener.Dispose();
        }
        foreach (TcpControlBlock tcb in _connections.Values)
        {
            tcb.Abort();
        }
    }

    private bool TryAdd(TcpControlBlock tcb)
    {
        if (_shutDown || !_connections.TryAdd(tcb.Tuple, tcb))
        {
            return false;
        }
        Interlocked.Increment(ref _connectionCount);
        return true;
    }

    /// <summary>Takes a connection out of the table and out of its remote address's and listener's counts.</summary>
    internal void Remove(TcpControlBlock tcb)
    {
        if (!_connections.TryRemove(new KeyValuePair<TcpFourTuple, TcpControlBlock>(tcb.Tuple, tcb)))
        {
            return;
        }
        Interlocked.Decrement(ref _connectionCount);
        ReleaseCounts(tcb);
    }

    /// <summary>Gives back <paramref name="tcb"/>'s share of its remote address's and listener's limits, once.</summary>
    private void ReleaseCounts(TcpControlBlock tcb)
    {
        if (Interlocked.Exchange(ref tcb.CountsReleased, 1) != 0)
        {
            return;
        }
        if (tcb.CountedPerRemote)
        {
            ReleaseRemote(tcb.Tuple.RemoteAddress);
        }
        tcb.Parent?.OnChildGone();
    }

    /// <summary>
    /// Whether the table can take one more connection: when it is full, the oldest TIME-WAIT connection is
    /// recycled first (its 2·MSL cut short, as RFC 6191 allows for a SYN that is provably new; here the table's need
    /// outweighs the protection of a late duplicate) and only then is the connection refused.
    /// </summary>
    private bool HasRoom() => ConnectionCount < Options.MaxConnections || TryRecycleTimeWait();

    private bool TryRecycleTimeWait()
    {
        while (_timeWaitOrder.TryDequeue(out TcpControlBlock? oldest))
        {
            if (oldest.TryRecycleTimeWait())
            {
                Events.Increment(TcpEvent.TimeWaitRecycled);
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// A connection enters TIME-WAIT: false when <see cref="TcpProtocolOptions.MaxTimeWait"/> are held already, and
    /// then the connection closes at once instead (Linux's tcp_max_tw_buckets, "TCP: time wait bucket table overflow").
    /// </summary>
    internal bool TryEnterTimeWait(TcpControlBlock tcb)
    {
        if (Interlocked.Increment(ref _timeWaitCount) > Options.EffectiveMaxTimeWait)
        {
            Interlocked.Decrement(ref _timeWaitCount);
            Events.Increment(TcpEvent.TimeWaitOverflow);
            _timeWaitLimited.Hit();
            return false;
        }
        // Entries that left TIME-WAIT are dropped from the head as new ones come: the queue stays near the count.
        while (_timeWaitOrder.TryPeek(out TcpControlBlock? head) && !head.InTimeWait)
        {
            _timeWaitOrder.TryDequeue(out _);
        }
        _timeWaitOrder.Enqueue(tcb);
        // A closed connection no longer counts against its source or listener: TIME-WAIT has its own bound (above)
        // and is recycled first when the table fills, so a client that opens and closes quickly (a connection per
        // request, all from one sandbox address behind the forwarder) is limited by that bound, not by the
        // per-address limit filling with connections that are already over.
        ReleaseCounts(tcb);
        return true;
    }

    /// <summary>A counted TIME-WAIT connection ended (2·MSL passed, reopened, recycled or aborted).</summary>
    internal void LeaveTimeWait() => Interlocked.Decrement(ref _timeWaitCount);

    /// <summary>
    /// Admits one more passive connection from <paramref name="remote"/> (for <paramref name="listener"/>, or the
    /// forwarder when null) or says why not. Linux itself bounds none of these (it leaves them to netfilter's
    /// connlimit and the application); a userspace stack's table is its memory, so one source or one service must
    /// not take it all: a remote address holds at most <see cref="TcpProtocolOptions.MaxConnectionsPerRemoteAddress"/>,
    /// a listener at most <see cref="TcpProtocolOptions.MaxConnectionsPerListener"/>, and once the table is 7/8 full
    /// an address that already holds <see cref="TcpProtocolOptions.CrowdedConnectionsPerRemoteAddress"/> gets no
    /// more, so the last eighth stays for everyone else.
    /// </summary>
    private TcpDropReason? Admit(NetAddress remote, TcpConnectionListener? listener)
    {
        int held = _passivePerRemote.AddOrUpdate(remote, 1, static (_, n) => n + 1);
        TcpDropReason? refused = null;
        if (held > Options.MaxConnectionsPerRemoteAddress
            || (held > Options.CrowdedConnectionsPerRemoteAddress && ConnectionCount >= Options.MaxConnections - (Options.MaxConnections / 8)))
        {
            refused = TcpDropReason.RemoteAddressLimit;
        }
        else if (listener is not null && !listener.TryAddChild(Options.MaxConnectionsPerListener))
        {
            refused = TcpDropReason.ListenerLimit;
        }
        else if (!HasRoom())
        {
            listener?.OnChildGone();
            refused = TcpDropReason.TableFull;
        }
        if (refused is not null)
        {
            ReleaseRemote(remote);
            Drops.Increment(refused.Value);
            _tableLimited.Hit();
        }
        return refused;
    }

    private void ReleaseRemote(NetAddress remote)
    {
        if (_passivePerRemote.AddOrUpdate(remote, 0, static (_, n) => n - 1) <= 0)
        {
            _passivePerRemote.TryRemove(new KeyValuePair<NetAddress, int>(remote, 0));
        }
    }

    /// <summary>
    /// RFC 6056 §3.3.4 (algorithm 4, the double hash, as Linux's <c>__inet_hash_connect</c>): the stack's shared
    /// selector proposes ports for this 3-tuple until one is free of connections and listeners. Ports to one
    /// peer are spread so that a new connection rarely meets an old one's TIME-WAIT, and cannot be guessed off-path.
    /// </summary>
    private TcpFourTuple PickEphemeral(NetAddress local, NetAddress remote, ushort remotePort)
    {
        var state = (Tcp: this, Local: local, Remote: remote, RemotePort: remotePort);
        if (!Stack.EphemeralPorts.TrySelect(local, remote, remotePort, state, static (s, port) => s.Tcp.IsFreeForConnect(s.Local, port, s.Remote, s.RemotePort), out ushort chosen))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }
        return new TcpFourTuple(local, chosen, remote, remotePort);
    }

    private bool IsFreeForConnect(NetAddress local, ushort port, NetAddress remote, ushort remotePort) =>
        !_connections.ContainsKey(new TcpFourTuple(local, port, remote, remotePort)) && !_listeners.ContainsKey((default, port)) && !_listeners.ContainsKey((local, port));

    /// <summary>
    /// Registers a passive-open connection (called by a listener on a SYN or a cookie's ACK); null when there is no
    /// route or the table refuses it (counted by reason here).
    /// </summary>
    internal TcpControlBlock? CreatePassive(TcpConnectionListener listener, in IpPacketInfo info, in TcpRepr syn, SequenceNumber? issFloor, SequenceNumber? cookieIss = null)
    {
        var tuple = new TcpFourTuple(info.Destination, syn.DestinationPort, info.Source, syn.SourcePort);
        if (Stack.TryResolveRoute(info.Source, info.Destination, out RouteInfo route) != SendResult.Sent)
        {
            Drops.Increment(TcpDropReason.ListenOverflow);
            return null;
        }
        if (Admit(info.Source, listener) is not null)
        {
            return null;
        }
        SequenceNumber iss = cookieIss ?? NextIsn(tuple);
        if (cookieIss is null && issFloor is SequenceNumber floor && iss <= floor)
        {
            iss = floor; // RFC 1122 §4.2.2.13: a reopened connection starts above the old one's sequence space
        }
        var tcb = new TcpControlBlock(this, tuple, route, listener.ConnectionOptions, iss, listener) { CountedPerRemote = true, Parent = listener };
        if (!TryAdd(tcb))
        {
            ReleaseRemote(info.Source);
            listener.OnChildGone();
            Drops.Increment(TcpDropReason.ListenOverflow);
            return null;
        }
        Events.Increment(TcpEvent.PassiveOpens);
        return tcb;
    }

    /// <summary>Registers a passive-open connection accepted through the forwarder; null with the reason when it cannot be made.</summary>
    internal TcpControlBlock? CreateForwarded(in TcpFourTuple tuple, TcpConnectionOptions options, out SocketError error)
    {
        if (Stack.TryResolveRoute(tuple.RemoteAddress, tuple.LocalAddress, out RouteInfo route) != SendResult.Sent)
        {
            error = SocketError.AddressNotAvailable;
            return null;
        }
        if (Admit(tuple.RemoteAddress, listener: null) is not null)
        {
            error = SocketError.NoBufferSpaceAvailable;
            return null;
        }
        var tcb = new TcpControlBlock(this, tuple, route, options, NextIsn(tuple), listener: null) { CountedPerRemote = true };
        if (!TryAdd(tcb))
        {
            ReleaseRemote(tuple.RemoteAddress);
            error = SocketError.AddressAlreadyInUse;
            return null;
        }
        Events.Increment(TcpEvent.PassiveOpens);
        error = SocketError.Success;
        return tcb;
    }

    private SequenceNumber NextIsn(in TcpFourTuple tuple) => IsnOverride is { } isn ? new SequenceNumber(isn()) : _isn.Next(tuple);

    /// <summary>
    /// RFC 5961 §7: the protocol-wide budget of challenge ACKs, after each connection's own limit. As Linux's
    /// tcp_send_challenge_ack, each second's budget is drawn at random from [limit/2, limit/2 + limit): a fixed
    /// budget lets an off-path attacker count the challenge ACKs others drew and so learn whether a 4-tuple
    /// exists and where its window is (CVE-2016-5696).
    /// </summary>
    internal bool TryTakeChallengeAck()
    {
        lock (_challengeLock)
        {
            TimeSpan now = Now;
            if (!_challengeWindowOpen || now - _challengeWindowStart >= TimeSpan.FromSeconds(1))
            {
                _challengeWindowOpen = true;
                _challengeWindowStart = now;
                int limit = Options.ChallengeAcksPerSecond;
                lock (_randomLock)
                {
                    _challengeBudget = ((limit + 1) / 2) + _random.Next(limit);
                }
            }
            if (_challengeBudget <= 0)
            {
                return false;
            }
            _challengeBudget--;
            return true;
        }
    }

    internal SendResult SendPacket(in RouteInfo route, PacketBuffer packet)
    {
        // RFC 1191 / RFC 8201: TCP does path MTU discovery, so its segments are never fragmented.
        SendResult result = Stack.Send(route, IpProtocol.Tcp, packet, dontFragment: true);
        if (result == SendResult.QueueFull)
        {
            Events.Increment(TcpEvent.LinkQueueFull); // the connection resends it when the link has room
        }
        return result;
    }

    void ITransportProtocol.Deliver(in IpPacketInfo info, PacketBuffer packet)
    {
        Span<byte> headerCopy = stackalloc byte[TcpHeader.MaxLength];
        ReadOnlySpan<byte> head = packet.Head;
        if (info.TransportLength < TcpHeader.MinLength || info.TransportOffset + info.TransportLength > packet.Length)
        {
            Drops.Increment(TcpDropReason.Malformed);
            return;
        }
        // The header normally lies in the head; copy it out when a link split it.
        ReadOnlySpan<byte> available = head.Length - info.TransportOffset >= TcpHeader.MaxLength || head.Length - info.TransportOffset >= info.TransportLength
            ? head[info.TransportOffset..]
            : CopyHeader(packet, info, headerCopy);
        if (!TcpHeader.TryCreate(available[..Math.Min(available.Length, info.TransportLength)], out TcpHeader header, out _))
        {
            Drops.Increment(TcpDropReason.Malformed);
            return;
        }
        if (info.Source.IsMulticast || info.Destination.IsMulticast || info.Source.IsLimitedBroadcast || info.Destination.IsLimitedBroadcast || info.Nic.IsBroadcast(info.Destination))
        {
            Drops.Increment(TcpDropReason.BadAddress); // RFC 9293 §3.9.2.2 (RFC 1122 §4.2.3.10)
            return;
        }
        if (!packet.RxChecksumValidated
            && TransportChecksum.Verify(packet, info.Version, IpProtocol.Tcp, info.TransportOffset, info.TransportLength) != TransportChecksumStatus.Good)
        {
            Drops.Increment(TcpDropReason.BadChecksum);
            return;
        }
        if (!TcpRepr.TryParse(header, out TcpRepr repr, out _))
        {
            Drops.Increment(TcpDropReason.BadOption); // malformed options drop the segment
            return;
        }
        Events.Increment(TcpEvent.SegmentsReceived);
        var segment = new TcpSegment
        {
            Header = repr,
            Packet = packet,
            PayloadOffset = info.TransportOffset + header.HeaderLength,
            PayloadLength = info.TransportLength - header.HeaderLength,
        };
        var tuple = new TcpFourTuple(info.Destination, repr.DestinationPort, info.Source, repr.SourcePort);
        SequenceNumber? issFloor = null;
        if (_connections.TryGetValue(tuple, out TcpControlBlock? tcb))
        {
            bool dropped = false;
            SequenceNumber oldEnd = default;
            if ((repr.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) != TcpFlags.Syn || !tcb.TryReopenFromTimeWait(repr, out dropped, out oldEnd))
            {
                if (!dropped)
                {
                    tcb.OnSegment(ref segment);
                }
                return;
            }
            Events.Increment(TcpEvent.TimeWaitReused); // the old incarnation is gone: the SYN opens a new one below
            issFloor = oldEnd + 65536; // as Linux does (tcp_timewait_state_process)
        }
        if (_listeners.TryGetValue((info.Destination, repr.DestinationPort), out TcpConnectionListener? listener)
            || _listeners.TryGetValue((default, repr.DestinationPort), out listener))
        {
            listener.OnSegment(info, ref segment, issFloor);
            return;
        }
        if (Forwarder is { } forwarder && (repr.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn)
        {
            forwarder.OnSyn(this, info, repr);
            return;
        }
        Drops.Increment(TcpDropReason.NoConnection);
        SendResetFor(info, segment);
    }

    private static ReadOnlySpan<byte> CopyHeader(PacketBuffer packet, in IpPacketInfo info, Span<byte> buffer)
    {
        int n = Math.Min(buffer.Length, info.TransportLength);
        packet.CopyTo(info.TransportOffset, buffer[..n]);
        return buffer[..n];
    }

    /// <summary>
    /// RFC 9293 §3.10.7.1: a segment for no connection gets RST: &lt;SEQ=SEG.ACK&gt;&lt;CTL=RST&gt; when it
    /// carried ACK, else &lt;SEQ=0&gt;&lt;ACK=SEG.SEQ+SEG.LEN&gt;&lt;CTL=RST,ACK&gt;. A RST is never answered.
    /// Each remote address gets at most <see cref="TcpProtocolOptions.ResetsPerSecondPerAddress"/> (as the BSDs'
    /// icmplim bounds RSTs to closed ports): a scan or a flood of forged segments draws a bounded reply.
    /// </summary>
    internal void SendResetFor(in IpPacketInfo info, in TcpSegment segment)
    {
        TcpRepr h = segment.Header;
        if ((h.Flags & TcpFlags.Rst) != 0)
        {
            return;
        }
        if (_resetLimiter is { } limiter && (info.Nic.Link.Capabilities & LinkCapabilities.Loopback) == 0 && !limiter.TryTake(info.Source))
        {
            Events.Increment(TcpEvent.ResetsSuppressed);
            _resetLimited.Hit();
            return;
        }
        var reply = new TcpRepr { SourcePort = h.DestinationPort, DestinationPort = h.SourcePort };
        if ((h.Flags & TcpFlags.Ack) != 0)
        {
            reply.SequenceNumber = h.AcknowledgmentNumber;
            reply.Flags = TcpFlags.Rst;
        }
        else
        {
            int segLen = segment.PayloadLength + ((h.Flags & TcpFlags.Syn) != 0 ? 1 : 0) + ((h.Flags & TcpFlags.Fin) != 0 ? 1 : 0);
            reply.AcknowledgmentNumber = unchecked(h.SequenceNumber + (uint)segLen);
            reply.Flags = TcpFlags.Rst | TcpFlags.Ack;
        }
        SendReset(info.Source, info.Destination, reply);
    }

    /// <summary>
    /// Answers a SYN with a SYN-ACK whose ISS is a cookie and keeps nothing (RFC 4987 §3.6). Window scale and
    /// SACK are offered only when the SYN had timestamps, whose TSval carries them back; otherwise the connection
    /// runs without them, as with any peer that does not offer them.
    /// </summary>
    internal void SendSynCookie(in IpPacketInfo info, in TcpRepr syn, TcpConnectionOptions options)
    {
        var tuple = new TcpFourTuple(info.Destination, syn.DestinationPort, info.Source, syn.SourcePort);
        if (Stack.TryResolveRoute(info.Source, info.Destination, out RouteInfo route) != SendResult.Sent)
        {
            return;
        }
        int ourMss = TcpControlBlock.MssForMtu(route);
        int peerMss = syn.MaxSegmentSize is ushort m and > 0 ? m : (info.Source.IsV4 ? 536 : 1220);
        uint cookie = Cookies.Make(tuple, syn.SequenceNumber, Math.Min(peerMss, ourMss));
        var reply = new TcpRepr
        {
            SourcePort = tuple.LocalPort,
            DestinationPort = tuple.RemotePort,
            SequenceNumber = cookie,
            AcknowledgmentNumber = unchecked(syn.SequenceNumber + 1),
            Flags = TcpFlags.Syn | TcpFlags.Ack,
            WindowSize = (ushort)Math.Min(options.ReceiveBufferSize, ushort.MaxValue),
            MaxSegmentSize = (ushort)Math.Min(ourMss, ushort.MaxValue),
        };
        if (options.Timestamps && syn.Timestamps is TcpTimestamps ts)
        {
            byte? peerScale = options.WindowScaling ? syn.EffectiveWindowScale : null;
            bool sack = options.Sack && syn.SackPermitted;
            if (peerScale.HasValue)
            {
                reply.WindowScale = TcpReceiver.OfferedScale(options);
            }
            reply.SackPermitted = sack;
            uint now = unchecked((uint)(long)Now.TotalMilliseconds + TimestampOffset(tuple));
            reply.Timestamps = new TcpTimestamps(TcpSynCookies.EncodeTimestamp(now, peerScale, sack), ts.Value);
        }
        int length = reply.BufferLength;
        PacketBuffer packet = Stack.Pool.Rent(length, route.Nic.MaxHeaderLength);
        Span<byte> bytes = packet.Append(length);
        reply.Emit(bytes);
        TcpHeader.WriteChecksum(bytes, NetworkStack.PseudoHeaderSum(route, IpProtocol.Tcp, bytes.Length));
        Events.Increment(TcpEvent.SynCookiesSent);
        SendPacket(route, packet);
    }

    /// <summary>RST for a SYN nobody takes: &lt;SEQ=0&gt;&lt;ACK=SEG.SEQ+1&gt;&lt;CTL=RST,ACK&gt; (RFC 9293 §3.10.7.1).</summary>
    internal void SendResetForSyn(in TcpFourTuple tuple, in TcpRepr syn)
    {
        var reply = new TcpRepr
        {
            SourcePort = tuple.LocalPort,
            DestinationPort = tuple.RemotePort,
            AcknowledgmentNumber = unchecked(syn.SequenceNumber + 1),
            Flags = TcpFlags.Rst | TcpFlags.Ack,
        };
        SendReset(tuple.RemoteAddress, tuple.LocalAddress, reply);
    }

    private void SendReset(NetAddress destination, NetAddress source, in TcpRepr reply)
    {
        if (Stack.TryResolveRoute(destination, source, out RouteInfo route) != SendResult.Sent)
        {
            return;
        }
        PacketBuffer packet = Stack.Pool.Rent(TcpHeader.MinLength, route.Nic.MaxHeaderLength);
        Span<byte> bytes = packet.Append(TcpHeader.MinLength);
        reply.Emit(bytes);
        TcpHeader.WriteChecksum(bytes, NetworkStack.PseudoHeaderSum(route, IpProtocol.Tcp, bytes.Length));
        Events.Increment(TcpEvent.ResetsSent);
        SendPacket(route, packet);
    }

    void ITransportProtocol.DeliverIcmpError(in IcmpError error)
    {
        // RFC 5927 §4.1 (Linux's tcp_v4_err, tcp_v6_err): act only on a message that quotes a sequence number in
        // SND.UNA..SND.NXT of an existing connection — a blind forgery must guess both the 4-tuple and the window.
        // Hard errors (RFC 1122 §4.2.3.9: port/protocol unreachable) end only a connection in SYN-SENT; soft errors
        // are ignored. A Packet Too Big lowers the path MTU (the cache first, then the connection: RFC 8201 §5.2,
        // RFC 1191 §6.3); ICMP passed its MTU on, raised to the floor, without touching the cache.
        bool hard = error.Kind is IcmpErrorKind.PortUnreachable or IcmpErrorKind.ProtocolUnreachable;
        if (!hard && (error.Kind != IcmpErrorKind.PacketTooBig || error.Mtu <= 0))
        {
            return;
        }
        var tuple = new TcpFourTuple(error.LocalAddress, error.LocalPort, error.RemoteAddress, error.RemotePort);
        if (!_connections.TryGetValue(tuple, out TcpControlBlock? tcb))
        {
            Drops.Increment(TcpDropReason.IcmpNoConnection);
            return;
        }
        if (!error.HasQuotedSequence || !tcb.IsInFlight(new SequenceNumber(error.QuotedSequence)))
        {
            Drops.Increment(TcpDropReason.IcmpOutOfWindow); // Linux's OutOfWindowIcmps
            return;
        }
        if (hard)
        {
            tcb.OnHardIcmpError();
            return;
        }
        // Our own stack refusing an oversized segment (NetworkStack's local Packet Too Big) says nothing new about the path.
        int mtu = Stack.IsLocalAddress(error.Reporter) ? error.Mtu : Stack.PathMtu.Update(error.RemoteAddress, error.Mtu);
        tcb.OnPathMtuDecreased(mtu);
    }
}
