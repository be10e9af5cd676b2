// Layer: transport (TCP). Protocol-wide and per-connection settings; every limit explicit (ARCHITECTURE.md §6).
using NetStack.Tcp.Congestion;
namespace NetStack.Tcp;

/// <summary>Per-connection TCP settings. A listener hands its settings to every connection it accepts.</summary>
public sealed record TcpConnectionOptions
{
    /// <summary>Send buffer: bytes the application may queue (unsent plus unacknowledged); with auto-tuning, where it starts.</summary>
    public int SendBufferSize { get; init; } = 256 * 1024;

    /// <summary>Receive buffer: bytes held for the application, which bound the advertised window; with auto-tuning, where it starts.</summary>
    public int ReceiveBufferSize { get; init; } = 256 * 1024;

    /// <summary>
    /// Grow the buffers with the connection's needs (Linux's tcp_moderate_rcvbuf and send-buffer expansion): the
    /// send buffer to twice the congestion window, the receive buffer to twice what the application reads per
    /// round trip (dynamic right-sizing), each up to its maximum. Off: the buffers keep their set sizes.
    /// </summary>
    public bool BufferAutoTuning { get; init; } = true;

    /// <summary>Largest send buffer auto-tuning grows to (Linux: tcp_wmem max, 4 MiB).</summary>
    public int MaxSendBufferSize { get; init; } = 4 * 1024 * 1024;

    /// <summary>Largest receive buffer auto-tuning grows to (Linux: tcp_rmem max, 6 MiB); the window scale is chosen for it.</summary>
    public int MaxReceiveBufferSize { get; init; } = 6 * 1024 * 1024;

    /// <summary>Disable Nagle's algorithm (RFC 9293 §3.7.4): send small segments at once.</summary>
    public bool NoDelay { get; init; }

    /// <summary>Send keepalive probes on an idle connection (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6).</summary>
    public bool KeepAlive { get; init; }

    /// <summary>Idle time before the first keepalive probe (RFC 1122: at least two hours by default).</summary>
    public TimeSpan KeepAliveIdle { get; init; } = TimeSpan.FromHours(2);

    /// <summary>Interval between keepalive probes.</summary>
    public TimeSpan KeepAliveInterval { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>Unanswered keepalive probes before the connection is dropped.</summary>
    public int KeepAliveProbes { get; init; } = 9;

    /// <summary>Offer window scaling (RFC 7323 §2).</summary>
    public bool WindowScaling { get; init; } = true;

    /// <summary>Offer timestamps (RFC 7323 §3).</summary>
    public bool Timestamps { get; init; } = true;

    /// <summary>Offer SACK (RFC 2018).</summary>
    public bool Sack { get; init; } = true;

    /// <summary>Time a connect may take before it fails with TimedOut.</summary>
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(75);

    /// <summary>
    /// Longest time sent data may stay unacknowledged, or queued data unsent behind a zero window, before the
    /// connection is dropped with TimedOut (RFC 5482; Linux's TCP_USER_TIMEOUT socket option, whose default 0
    /// means off: the retransmission and probe limits decide). Zero: off.
    /// </summary>
    public TimeSpan UserTimeout { get; init; }

    /// <summary>The congestion controller (CUBIC by default, as in Linux).</summary>
    public TcpCongestionControl CongestionControl { get; init; } = TcpCongestionControl.Cubic;

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(SendBufferSize, 1024, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(ReceiveBufferSize, 1024, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ReceiveBufferSize, 1 << 30, nameof(ReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(SendBufferSize, 1 << 30, nameof(SendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(KeepAliveProbes, 1, nameof(KeepAliveProbes));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxReceiveBufferSize, 1 << 30, nameof(MaxReceiveBufferSize));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(MaxSendBufferSize, 1 << 30, nameof(MaxSendBufferSize));
        ArgumentOutOfRangeException.ThrowIfLessThan(UserTimeout, TimeSpan.Zero, nameof(UserTimeout));
    }
}

/// <summary>Settings of the TCP protocol on one stack.</summary>
public sealed record TcpProtocolOptions
{
    /// <summary>Defaults for connections made by connect and by listeners.</summary>
    public TcpConnectionOptions Connection { get; init; } = new();

    /// <summary>Lower bound of the retransmission timeout (RFC 6298 §2.4 says 1 s; Linux uses 200 ms).</summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Upper bound of the retransmission timeout (RFC 6298 §2.5: at least 60 s).</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>RTO before any RTT sample (RFC 6298 §2.1).</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Retransmissions of one segment, or unanswered zero-window probes, before the connection fails (RFC 1122
    /// §4.2.3.5 R2; Linux's tcp_retries2, default 15, which bounds the persist timer too).
    /// </summary>
    public int MaxRetransmissions { get; init; } = 15;

    /// <summary>
    /// Retransmissions or zero-window probes (answered or not) before a connection the application has closed
    /// (an orphan: FIN-WAIT-1, CLOSING, LAST-ACK) is dropped (Linux's tcp_orphan_retries, whose default 0 means 8).
    /// </summary>
    public int OrphanRetries { get; init; } = 8;

    /// <summary>
    /// Orphans held at most: a connection closed by the application beyond this is reset at once (Linux's
    /// tcp_max_orphans, which Linux sizes from memory; a quarter of <see cref="MaxConnections"/> here).
    /// </summary>
    public int MaxOrphans { get; init; } = 16384;

    /// <summary>Retransmissions of a SYN before connect fails.</summary>
    public int MaxSynRetransmissions { get; init; } = 6;

    /// <summary>Delayed ACK timeout (RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: at most 500 ms; we keep it under 200 ms).</summary>
    public TimeSpan DelayedAckTimeout { get; init; } = TimeSpan.FromMilliseconds(40);

    /// <summary>Maximum segment lifetime; TIME-WAIT lasts twice this (RFC 9293 §3.4.2).</summary>
    public TimeSpan MaximumSegmentLifetime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How long an orphaned connection waits in FIN-WAIT-2 for the peer's FIN (Linux tcp_fin_timeout).</summary>
    public TimeSpan FinWait2Timeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest interval between zero-window probes.</summary>
    public TimeSpan MaxPersistInterval { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Challenge ACKs the protocol sends per second on average (RFC 5961 §7; Linux's <c>tcp_challenge_ack_limit</c>):
    /// each second's budget is drawn at random between half of it and one and a half times it.
    /// </summary>
    public int ChallengeAcksPerSecond { get; init; } = 1000;

    /// <summary>
    /// Least time between two replies of one connection to invalid segments without data — challenge ACKs and the
    /// ACKs that answer out-of-window, PAWS-failing or unacceptable-ACK segments (Linux's <c>tcp_invalid_ratelimit</c>,
    /// 500 ms). Zero: no limit.
    /// </summary>
    public TimeSpan InvalidSegmentReplyInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// RSTs sent to one remote address per second for segments that reach no connection (a burst of as many, then
    /// this rate); the BSDs bound these with <c>icmplim</c> (200), Linux does not. Zero: no limit.
    /// </summary>
    public int ResetsPerSecondPerAddress { get; init; } = 200;

    /// <summary>
    /// Connections (all states, TIME-WAIT included) the protocol holds at most. When it is full, the oldest
    /// TIME-WAIT connection is recycled before a new connection is refused.
    /// </summary>
    public int MaxConnections { get; init; } = 65536;

    /// <summary>
    /// Connections in TIME-WAIT held at most (Linux's <c>tcp_max_tw_buckets</c>); beyond it a closing connection
    /// keeps no TIME-WAIT. Null: half of <see cref="MaxConnections"/> (Linux's default is half its connection hash table).
    /// </summary>
    public int? MaxTimeWait { get; init; }

    /// <summary>
    /// Passive connections (from listeners and the forwarder) one remote address holds at most. Linux has no such
    /// sysctl (netfilter's <c>connlimit</c> does this job there); here it keeps one source from filling the table.
    /// </summary>
    public int MaxConnectionsPerRemoteAddress { get; init; } = 4096;

    /// <summary>
    /// Once the table is 7/8 full, a remote address that holds this many passive connections gets no more: the last
    /// eighth is kept for addresses with few connections, so new clients are served while many sources hold thousands.
    /// </summary>
    public int CrowdedConnectionsPerRemoteAddress { get; init; } = 16;

    /// <summary>Connections one listener holds at most, accepted or not (by default only the table bounds it).</summary>
    public int MaxConnectionsPerListener { get; init; } = int.MaxValue;

    /// <summary>Out-of-order segments held per connection (their bytes are bounded by the window).</summary>
    public int MaxOutOfOrderSegments { get; init; } = 256;

    /// <summary>When listeners answer with SYN cookies (RFC 4987 §3.6) instead of keeping half-open state.</summary>
    public TcpSynCookieMode SynCookies { get; init; } = TcpSynCookieMode.WhenBacklogFull;

    /// <summary>Key of the ISN hash (RFC 6528 §3) and of SYN cookies; random when null. Fix it only for reproducible tests.</summary>
    public byte[]? IsnSecret { get; init; }

    /// <summary>Seed of the ephemeral-port choice and the timestamp offset; random when null.</summary>
    public int? RandomSeed { get; init; }

    /// <summary>
    /// The stack-wide TCP memory budget (Linux's <c>tcp_mem</c>): what all connections' queues may hold before
    /// buffer auto-tuning stops and send buffers shrink. Null: <see cref="TcpMemoryLimits.Default"/>, derived from
    /// the memory available as Linux derives tcp_mem.
    /// </summary>
    public TcpMemoryLimits? Memory { get; init; }

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        Connection.Validate();
        Memory?.Validate();
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(MinRto, TimeSpan.Zero, nameof(MinRto));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRto, MinRto, nameof(MaxRto));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxRetransmissions, 1, nameof(MaxRetransmissions));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(DelayedAckTimeout, TimeSpan.FromMilliseconds(500), nameof(DelayedAckTimeout));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxOutOfOrderSegments, 1, nameof(MaxOutOfOrderSegments));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnections, 1, nameof(MaxConnections));
        ArgumentOutOfRangeException.ThrowIfNegative(ChallengeAcksPerSecond, nameof(ChallengeAcksPerSecond));
        ArgumentOutOfRangeException.ThrowIfLessThan(InvalidSegmentReplyInterval, TimeSpan.Zero, nameof(InvalidSegmentReplyInterval));
        ArgumentOutOfRangeException.ThrowIfNegative(ResetsPerSecondPerAddress, nameof(ResetsPerSecondPerAddress));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxTimeWait ?? 0, nameof(MaxTimeWait));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerRemoteAddress, 1, nameof(MaxConnectionsPerRemoteAddress));
        ArgumentOutOfRangeException.ThrowIfLessThan(CrowdedConnectionsPerRemoteAddress, 1, nameof(CrowdedConnectionsPerRemoteAddress));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxConnectionsPerListener, 1, nameof(MaxConnectionsPerListener));
        ArgumentOutOfRangeException.ThrowIfLessThan(OrphanRetries, 1, nameof(OrphanRetries));
        ArgumentOutOfRangeException.ThrowIfNegative(MaxOrphans, nameof(MaxOrphans));
    }

    internal int EffectiveMaxTimeWait => MaxTimeWait ?? MaxConnections / 2;
}
