// Layer: transport (TCP). The transmission control block (RFC 9293 §3.3.1): the coordinator of one connection.
// It owns the lock, the state (RFC 9293 §3.3.2) and its transitions, the one clock timer and the outbox, and calls
// into its parts — each a type with its own invariants and tests, none touching another: TcpSender (send sequence
// space, segmentation, link room), TcpReceiver (receive window, ACK policy, out-of-order queue, reader),
// SackScoreboard, LossRecovery (SACK with RACK-TLP, or NewReno), CongestionController, RttEstimator,
// TcpTimestampState, TcpConnectionCounters. The coordinator's other files: Arrival (RFC 9293 §3.10.7 steps), Ack
// (the fifth step), Send (send opportunities, repair, link refusals), Segments (the segment builder), Timers,
// Negotiation (SYN options), App (the user calls). Packets are built under the lock and handed to the link only
// after it is released (Flush).
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// One connection. Every member runs under <see cref="Gate"/> (the parts are not thread-safe); nothing blocks or
/// copies application data under it; segments go to the outbox, and <see cref="Flush"/> hands them to the link
/// in order once the lock is released (ARCHITECTURE.md §5).
/// </summary>
internal sealed partial class TcpControlBlock
{
    internal readonly TcpProtocol Protocol;
    internal readonly Lock Gate = new();
    private readonly TcpWaiter _readWaiter;
    private readonly TcpWaiter _writeWaiter;
    internal TcpConnectionOptions Options; // replaced (never mutated) under the lock by SetNoDelay / SetKeepAlive
    internal readonly TcpFourTuple Tuple;
    internal RouteInfo Route;

    private readonly TcpSender _sender;
    private readonly SackScoreboard _scoreboard;
    private readonly CongestionController _cc;
    private LossRecovery _recovery;
    private readonly TcpReceiver _receiver;
    private readonly RttEstimator _rtt;
    private readonly TcpConnectionCounters _counters;
    private readonly TcpTimestampState _timestamps;
    private List<PacketBuffer> _outbox = [];
    private List<PacketBuffer> _sending = [];
    private bool _flushing;
    private long _memoryPages; // charged to Protocol.Memory

    private TcpState _state;
    private SocketError _error;
    private bool _removed;
    private bool _timeWaitCounted;

    internal TcpControlBlock(TcpProtocol protocol, TcpFourTuple tuple, RouteInfo route, TcpConnectionOptions options, SequenceNumber iss, TcpConnectionListener? listener)
    {
        Protocol = protocol;
        Tuple = tuple;
        Route = protocol.Stack.ForConnection(route, IpProtocol.Tcp, ((ulong)tuple.LocalPort << 16) | tuple.RemotePort); // its own IPv4 ID counter
        Options = options;
        Listener = listener;
        _readWaiter = new TcpWaiter(Gate);
        _writeWaiter = new TcpWaiter(Gate);
        TcpProtocolOptions p = protocol.Options;
        _rtt = new RttEstimator(p.InitialRto, p.MinRto, p.MaxRto);
        _ourMss = MssForMtu(route);
        _sender = new TcpSender(iss, protocol.Stack.Pool, options.SendBufferSize, Math.Min(_ourMss, DefaultPeerMss));
        _cc = CreateCongestionController(options.CongestionControl, _sender.Mss);
        _counters = new TcpConnectionCounters(protocol.Events);
        _scoreboard = new SackScoreboard(protocol.Events, protocol.ScoreboardFull);
        _recovery = CreateLossRecovery(options.Sack);
        _receiver = new TcpReceiver(options.ReceiveBufferSize, p.MaxOutOfOrderSegments, p.DelayedAckTimeout, _counters, protocol.Events, protocol.Drops, protocol.Limits.ReceiveMemory);
        _timestamps = new TcpTimestampState(protocol.TimestampOffset(tuple));
        _timer = protocol.Stack.Clock.CreateTimer(static s => ((TcpControlBlock)s!).OnTimer(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _lastReceived = protocol.Now;
        OpenedAt = _lastReceived;
    }

    /// <summary>When the connection was made (its handshake time and lifetime count from here).</summary>
    internal TimeSpan OpenedAt { get; }

    /// <summary>The listener that made this connection, until it is accepted.</summary>
    internal TcpConnectionListener? Listener { get; set; }

    /// <summary>The listener that made this connection, for as long as it is in the table (its per-listener count).</summary>
    internal TcpConnectionListener? Parent { get; init; }

    /// <summary>A passive open counted against its remote address's limit while it is in the table.</summary>
    internal bool CountedPerRemote { get; init; }

    /// <summary>
    /// 1 once this connection's per-remote-address and per-listener counts were given back (when it entered TIME-WAIT,
    /// or when it left the table), so that they are given back once.
    /// </summary>
    internal int CountsReleased;

    /// <summary>In TIME-WAIT now (read without the lock: a hint for the protocol's TIME-WAIT queue).</summary>
    internal bool InTimeWait => Volatile.Read(ref Unsafe.As<TcpState, int>(ref _state)) == (int)TcpState.TimeWait;

    /// <summary>The application's object, once there is one.</summary>
    internal TcpConnection? Connection { get; set; }

    internal TcpState State
    {
        get
        {
            lock (Gate)
            {
                return _state;
            }
        }
    }

    internal SocketError Error => _error;

    /// <summary>Moves to <paramref name="state"/>; the caller holds the lock.</summary>
    private void SetState(TcpState state)
    {
        if (_state == state)
        {
            return;
        }
        TcpState old = _state;
        _state = state;
        Protocol.Stack.Telemetry.TcpStateChanged(Tuple, Protocol.Now - OpenedAt, old, state);
        if (state == TcpState.Established && old is TcpState.SynSent or TcpState.SynReceived)
        {
            Protocol.Events.Increment(TcpEvent.Established);
            _keepaliveDeadline = Options.KeepAlive ? Protocol.Now + Options.KeepAliveIdle : Never;
            _establishedSignal.TrySetResult(true);
            if (Listener is { } listener)
            {
                Listener = null;
                listener.OnEstablished(this);
            }
        }
        SignalAll();
    }

    /// <summary>Ends the connection with <paramref name="error"/> (Success for an orderly end); the caller holds the lock.</summary>
    private void Terminate(SocketError error)
    {
        if (_timeWaitCounted)
        {
            _timeWaitCounted = false;
            Protocol.LeaveTimeWait();
        }
        if (_error == SocketError.Success)
        {
            _error = error;
        }
        Protocol.Stack.Telemetry.TcpTerminated(Tuple, Protocol.Now - OpenedAt, _state, _error);
        _state = TcpState.Closed;
        EndOrphan();
        _sender.ClearBuffer();
        _scoreboard.Clear();
        if (error != SocketError.Success)
        {
            _receiver.Clear();
        }
        else
        {
            _receiver.ClearOutOfOrder();
        }
        _rtxDeadline = _keepaliveDeadline = _closeDeadline = Never;
        _receiver.CancelDelayedAck();
        _sender.Link.Stop();
        _recovery.StopTimers();
        _timer.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _establishedSignal.TrySetResult(false);
        if (Listener is { } listener)
        {
            Listener = null;
            listener.OnHalfOpenGone(this);
        }
        SignalAll();
        if (!_removed)
        {
            _removed = true;
            Protocol.Remove(this);
        }
        _timer.Dispose();
        if (Connection is null || _appClosed)
        {
            _receiver.Clear(); // nobody will read it
        }
        RechargeMemory();
    }

    /// <summary>Brings this connection's charge on the stack's TCP memory budget to what its queues hold now.</summary>
    private void RechargeMemory() => Protocol.Memory.Recharge(ref _memoryPages, _sender.BufferMemory + _receiver.HeldBytes);

    /// <summary>
    /// A SYN for this connection's 4-tuple (RFC 6191 §2, RFC 1122 §4.2.2.13). In TIME-WAIT a SYN that is provably
    /// new — a newer timestamp, or without timestamps a higher sequence number — ends this incarnation so that
    /// the SYN can open the next one: returns true, the caller hands the SYN to the listener. A SYN that is not
    /// provably new is dropped silently (TIME-WAIT goes on) and counted; returns false with
    /// <paramref name="dropped"/> set. Any other state: false, the segment is processed as usual.
    /// </summary>
    internal bool TryReopenFromTimeWait(in TcpRepr syn, out bool dropped, out SequenceNumber sendEnd)
    {
        dropped = false;
        lock (Gate)
        {
            sendEnd = _sender.Nxt;
            if (_state != TcpState.TimeWait)
            {
                return false;
            }
            bool newHasTimestamps = Options.Timestamps && syn.Timestamps.HasValue;
            SequenceNumber seq = syn.SequenceNumber;
            bool honor;
            if (newHasTimestamps && _timestamps.Enabled)
            {
                int delta = _timestamps.AfterRecent(syn.Timestamps!.Value.Value);
                honor = delta > 0 || (delta == 0 && seq > _receiver.Nxt);
            }
            else
            {
                honor = _timestamps.Enabled || seq > _receiver.Nxt; // old incarnation had timestamps: its duplicates are PAWS-safe
            }
            if (!honor)
            {
                dropped = true;
                Protocol.Drops.Increment(TcpDropReason.TimeWaitSynIgnored);
                return false;
            }
            Terminate(SocketError.Success);
        }
        Flush();
        return true;
    }

    /// <summary>
    /// TIME-WAIT (RFC 9293 §3.10.7.4): 2·MSL, during which the peer's retransmitted FIN is ACKed again. Past
    /// <see cref="TcpProtocolOptions.MaxTimeWait"/> the connection closes on its next timer tick instead, after
    /// the ACK of the FIN has gone out (Linux's tcp_time_wait without a bucket).
    /// </summary>
    private void EnterTimeWait()
    {
        bool first = _state != TcpState.TimeWait;
        SetState(TcpState.TimeWait);
        EndOrphan(); // TIME-WAIT has its own bound (2·MSL)
        _rtxDeadline = Never;
        _persisting = false;
        _keepaliveDeadline = Never;
        _receiver.ClearOutOfOrder();
        if (first)
        {
            _timeWaitCounted = Protocol.TryEnterTimeWait(this);
        }
        _closeDeadline = _timeWaitCounted ? Protocol.Now + (2 * Protocol.Options.MaximumSegmentLifetime) : Protocol.Now;
    }

    /// <summary>Ends this connection if it is still in TIME-WAIT: the table needs its slot. True when it was.</summary>
    internal bool TryRecycleTimeWait()
    {
        lock (Gate)
        {
            if (_state != TcpState.TimeWait)
            {
                return false;
            }
            Terminate(SocketError.Success);
            return true;
        }
    }

    /// <summary>Queues a built packet for the link; sent by <see cref="Flush"/> once the lock is released.</summary>
    private void Enqueue(PacketBuffer packet) => _outbox.Add(packet);

    /// <summary>Hands queued packets to the link, in order, without holding the connection's lock during the I/O.</summary>
    internal void Flush()
    {
        while (true)
        {
            List<PacketBuffer> batch;
            lock (Gate)
            {
                RechargeMemory();
                if (_flushing || _outbox.Count == 0)
                {
                    return;
                }
                _flushing = true;
                batch = _outbox;
                _outbox = _sending;
                _sending = batch;
            }
            bool refused = false;
            SequenceNumber refusedStart = default, refusedEnd = default;
            try
            {
                foreach (PacketBuffer packet in batch)
                {
                    // Read what the segment covers before the link takes it: if the link's queue is full, that
                    // range is handed back to loss recovery (no congestion signal) and resent once there is room.
                    ReadOnlySpan<byte> tcp = packet.Head;
                    var seq = new SequenceNumber(Wire.TcpHeader.GetSequenceNumber(tcp));
                    Wire.TcpFlags flags = Wire.TcpHeader.GetFlags(tcp);
                    int dataLength = packet.Length - Wire.TcpHeader.GetHeaderLength(tcp) + ((flags & Wire.TcpFlags.Fin) != 0 ? 1 : 0); // payload + FIN
                    bool carriesData = dataLength > 0 && (flags & Wire.TcpFlags.Syn) == 0;
                    if (Protocol.SendPacket(Route, packet) == SendResult.QueueFull && carriesData)
                    {
                        if (!refused)
                        {
                            refused = true;
                            refusedStart = seq;
                            refusedEnd = seq + dataLength;
                        }
                        else
                        {
                            refusedStart = SequenceNumber.Min(refusedStart, seq);
                            refusedEnd = SequenceNumber.Max(refusedEnd, seq + dataLength);
                        }
                    }
                }
            }
            finally
            {
                batch.Clear();
                lock (Gate)
                {
                    _flushing = false;
                    if (refused)
                    {
                        OnLinkRefused(refusedStart, refusedEnd);
                    }
                }
            }
        }
    }

    /// <summary>Records in the scoreboard (tests: a hostile peer must not be able to multiply them).</summary>
    internal int ScoreboardRecords
    {
        get
        {
            lock (Gate)
            {
                return _scoreboard.Count;
            }
        }
    }

    private static CongestionController CreateCongestionController(TcpCongestionControl algorithm, int mss) => algorithm switch
    {
        TcpCongestionControl.NewReno => new NewRenoCongestionControl(mss),
        _ => new CubicCongestionControl(mss),
    };

    private LossRecovery CreateLossRecovery(bool sack) => sack
        ? new SackLossRecovery(_scoreboard, _cc, _counters, _rtt, _sender.Iss)
        : new NewRenoLossRecovery(_scoreboard, _cc, _counters, _sender.Iss);

    internal static int MssForMtu(in RouteInfo route) =>
        Math.Max(route.Mtu - (route.Destination.IsV4 ? 20 : 40) - 20, 64); // RFC 9293 §3.7.1, RFC 879

    private int DefaultPeerMss => Tuple.RemoteAddress.IsV4 ? 536 : 1220; // RFC 9293 §3.7.1 (and RFC 8200 minimum MTU)
}
