// Layer: transport (TCP). Connection states (RFC 9293 §3.3.2).
namespace NetStack.Tcp;

/// <summary>The states of a TCP connection (RFC 9293 §3.3.2).</summary>
public enum TcpState
{
    /// <summary>No connection.</summary>
    Closed,
    /// <summary>SYN sent, waiting for the matching SYN.</summary>
    SynSent,
    /// <summary>SYN received and answered, waiting for the ACK of our SYN.</summary>
    SynReceived,
    /// <summary>Open: data flows both ways.</summary>
    Established,
    /// <summary>We sent (or queued) FIN; waiting for its ACK or the peer's FIN.</summary>
    FinWait1,
    /// <summary>Our FIN is acknowledged; waiting for the peer's FIN.</summary>
    FinWait2,
    /// <summary>The peer sent FIN; waiting for the local application to close.</summary>
    CloseWait,
    /// <summary>Both sides sent FIN at once; waiting for the ACK of ours.</summary>
    Closing,
    /// <summary>We closed after the peer; waiting for the ACK of our FIN.</summary>
    LastAck,
    /// <summary>Waiting 2·MSL so that the peer received the ACK of its FIN.</summary>
    TimeWait,
}

/// <summary>Why TCP dropped an inbound segment (counted per reason, ARCHITECTURE.md §7).</summary>
public enum TcpDropReason
{
    /// <summary>Shorter than a TCP header, or the data offset is inconsistent.</summary>
    Malformed,
    /// <summary>Checksum wrong.</summary>
    BadChecksum,
    /// <summary>An option was malformed (length overrunning the header, wrong length for its kind).</summary>
    BadOption,
    /// <summary>Source or destination address may not take part in TCP (multicast, broadcast).</summary>
    BadAddress,
    /// <summary>No connection and no listener: answered with RST (RFC 9293 §3.10.7.1).</summary>
    NoConnection,
    /// <summary>A listener's backlog was full.</summary>
    ListenOverflow,
    /// <summary>Segment for a listener that was neither SYN nor answered with RST.</summary>
    ListenerIgnored,
    /// <summary>Not acceptable: outside the receive window (RFC 9293 §3.10.7.4 first).</summary>
    OutOfWindow,
    /// <summary>Timestamp older than TS.Recent (PAWS, RFC 7323 §5).</summary>
    Paws,
    /// <summary>RST whose sequence number was in the window but not exact (RFC 5961 §3.2): challenge ACK sent.</summary>
    RstChallenged,
    /// <summary>SYN in a synchronized state (RFC 5961 §4): challenge ACK sent.</summary>
    SynChallenged,
    /// <summary>ACK of data never sent, or far too old (RFC 5961 §5).</summary>
    UnacceptableAck,
    /// <summary>Segment without ACK in a synchronized state.</summary>
    NoAck,
    /// <summary>Segment in SYN-SENT that carried neither SYN nor RST, or an ACK that did not match.</summary>
    SynSentIgnored,
    /// <summary>Out-of-order queue full (entries or bytes).</summary>
    OutOfOrderQueueFull,
    /// <summary>Data after the application closed its receive side.</summary>
    DataAfterClose,
    /// <summary>A retransmitted SYN for a forwarder request that is still pending.</summary>
    ForwarderPending,
    /// <summary>A SYN in TIME-WAIT that was not provably new (RFC 6191 §2): dropped, TIME-WAIT goes on.</summary>
    TimeWaitSynIgnored,
    /// <summary>An ACK for a listener whose SYN cookie did not check out (forged, or too old): answered with RST.</summary>
    BadSynCookie,
    /// <summary>An ICMP error quoting a TCP 4-tuple with no connection.</summary>
    IcmpNoConnection,
    /// <summary>An ICMP error whose quoted sequence number is outside SND.UNA..SND.NXT (RFC 5927 §4.1; Linux's OutOfWindowIcmps).</summary>
    IcmpOutOfWindow,
    /// <summary>A new connection refused: its remote address holds its share of the table (<see cref="TcpProtocolOptions.MaxConnectionsPerRemoteAddress"/>, <see cref="TcpProtocolOptions.CrowdedConnectionsPerRemoteAddress"/>).</summary>
    RemoteAddressLimit,
    /// <summary>A new connection refused: its listener holds <see cref="TcpProtocolOptions.MaxConnectionsPerListener"/>.</summary>
    ListenerLimit,
    /// <summary>A new connection refused: the table held <see cref="TcpProtocolOptions.MaxConnections"/> and none was in TIME-WAIT.</summary>
    TableFull,
    /// <summary>In-window text dropped: the receive memory was full even after compaction and pruning (Linux: TCPRcvQDrop).</summary>
    ReceiveMemoryFull,
    /// <summary>Out-of-order data dropped to make room in the receive memory (Linux: TCPOFODrop, tcp_prune_ofo_queue); counted per piece.</summary>
    OutOfOrderPruned,
}

/// <summary>Counted TCP events.</summary>
public enum TcpEvent
{
    /// <summary>Segments received (after validation).</summary>
    SegmentsReceived,
    /// <summary>The segment size was lowered by path MTU discovery (RFC 8201, RFC 1191).</summary>
    PathMtuDecreased,
    /// <summary>Segments sent (wire segments: a GSO super-segment counts for each segment it stands for).</summary>
    SegmentsSent,
    /// <summary>Resets sent.</summary>
    ResetsSent,
    /// <summary>Resets accepted.</summary>
    ResetsReceived,
    /// <summary>Challenge ACKs sent (RFC 5961).</summary>
    ChallengeAcks,
    /// <summary>Challenge ACKs suppressed by the rate limit (RFC 5961 §7).</summary>
    ChallengeAcksSuppressed,
    /// <summary>Active opens.</summary>
    ActiveOpens,
    /// <summary>Passive opens (connections accepted from a listener).</summary>
    PassiveOpens,
    /// <summary>Connections that reached ESTABLISHED.</summary>
    Established,
    /// <summary>Retransmission timeouts.</summary>
    RetransmissionTimeouts,
    /// <summary>Fast retransmits (RFC 5681 §3.2).</summary>
    FastRetransmits,
    /// <summary>Connections dropped after too many retransmissions.</summary>
    RetransmissionLimit,
    /// <summary>Zero-window probes sent.</summary>
    WindowProbes,
    /// <summary>Keepalive probes sent.</summary>
    KeepaliveProbes,
    /// <summary>Segments the link refused (its queue was full): resent when it has room, with no congestion signal.</summary>
    LinkQueueFull,
    /// <summary>Send opportunities that stopped because the link's queue had no room (nothing was refused).</summary>
    LinkQueueWaits,
    /// <summary>SYNs handed to the forwarder as requests.</summary>
    ForwardRequests,
    /// <summary>Forwarder requests refused (by the application, a failed handler or the decision timeout).</summary>
    ForwardRefused,
    /// <summary>A SYN reopened a connection in TIME-WAIT (RFC 6191, RFC 1122 §4.2.2.13).</summary>
    TimeWaitReused,
    /// <summary>GSO super-segments handed to the link (each also counted in <see cref="SegmentsSent"/> per wire segment).</summary>
    SuperSegmentsSent,
    /// <summary>Segments received that stood for more than one wire segment (GRO or a peer's GSO).</summary>
    CoalescedSegmentsReceived,
    /// <summary>D-SACK blocks received (RFC 2883): a segment arrived twice at the peer.</summary>
    DuplicateSacks,
    /// <summary>Tail loss probes sent (RFC 8985 §7).</summary>
    LossProbes,
    /// <summary>A receive buffer grew by auto-tuning.</summary>
    ReceiveBufferGrown,
    /// <summary>SYN-ACKs sent with a SYN cookie instead of keeping state (RFC 4987 §3.6).</summary>
    SynCookiesSent,
    /// <summary>Connections made from a valid SYN cookie.</summary>
    SynCookiesAccepted,
    /// <summary>A TIME-WAIT connection ended early because the table was full and a new connection needed its slot.</summary>
    TimeWaitRecycled,
    /// <summary>
    /// A reply to an invalid segment without data (out of window, PAWS, unacceptable ACK, challenge) left unsent:
    /// its connection replied less than <see cref="TcpProtocolOptions.InvalidSegmentReplyInterval"/> ago (Linux's TCPACKSkipped*).
    /// </summary>
    InvalidRepliesSuppressed,
    /// <summary>A RST for a segment that reached no connection left unsent: its remote address used up <see cref="TcpProtocolOptions.ResetsPerSecondPerAddress"/>.</summary>
    ResetsSuppressed,
    /// <summary>A closing connection kept no TIME-WAIT: <see cref="TcpProtocolOptions.MaxTimeWait"/> were held (Linux's TCPTimeWaitOverflow).</summary>
    TimeWaitOverflow,
    /// <summary>
    /// A SACK scoreboard record was not split (or new data joined the tail record) because the connection held
    /// SackScoreboard.MaxRecords records (Linux: TCPWQUEUETOOBIG).
    /// </summary>
    SackScoreboardFull,
    /// <summary>A receive queue was compacted into dense buffers because it pinned too much memory (Linux: TCPRcvCollapsed).</summary>
    ReceiveQueueCollapsed,
    /// <summary>Connections dropped because zero-window probes went unanswered (Linux: tcp_retries2 for the persist timer).</summary>
    PersistLimit,
    /// <summary>Closed connections (orphans) dropped by tcp_orphan_retries or because there were more than tcp_max_orphans.</summary>
    OrphansDropped,
    /// <summary>Connections dropped because data stayed unacknowledged longer than the user timeout (RFC 5482, TCP_USER_TIMEOUT).</summary>
    UserTimeout,
    /// <summary>TS.Recent was invalidated after 24 days without a segment (RFC 7323 §5.5).</summary>
    TimestampRecentExpired,
}
