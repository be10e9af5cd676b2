// Layer: transport (TCP). A snapshot of one connection's state and counters (RFC 9293 §3.10.6 STATUS).
using NetStack.Tcp.Congestion;
namespace NetStack.Tcp;

/// <summary>One connection's state, timers, windows and counters at the moment it was taken.</summary>
public sealed record TcpConnectionStatistics
{
    /// <summary>Connection state.</summary>
    public TcpState State { get; init; }

    /// <summary>Smoothed round-trip time (RFC 6298 SRTT); zero before the first sample.</summary>
    public TimeSpan SmoothedRtt { get; init; }

    /// <summary>RTT variance (RFC 6298 RTTVAR).</summary>
    public TimeSpan RttVariance { get; init; }

    /// <summary>Current retransmission timeout, backoff included.</summary>
    public TimeSpan RetransmissionTimeout { get; init; }

    /// <summary>Congestion window in bytes.</summary>
    public long CongestionWindow { get; init; }

    /// <summary>Slow-start threshold in bytes.</summary>
    public long SlowStartThreshold { get; init; }

    /// <summary>The peer's window (scaled) in bytes.</summary>
    public long SendWindow { get; init; }

    /// <summary>The window we advertise, in bytes.</summary>
    public int ReceiveWindow { get; init; }

    /// <summary>Payload bytes per segment we send.</summary>
    public int MaxSegmentSize { get; init; }

    /// <summary>New payload bytes sent.</summary>
    public long BytesSent { get; init; }

    /// <summary>Payload bytes received in order.</summary>
    public long BytesReceived { get; init; }

    /// <summary>Payload bytes sent again.</summary>
    public long BytesRetransmitted { get; init; }

    /// <summary>Segments sent (retransmissions and pure ACKs included).</summary>
    public long SegmentsSent { get; init; }

    /// <summary>Segments received for this connection.</summary>
    public long SegmentsReceived { get; init; }

    /// <summary>Segments retransmitted.</summary>
    public long Retransmissions { get; init; }

    /// <summary>Retransmission timeouts.</summary>
    public long Timeouts { get; init; }

    /// <summary>Fast retransmits (entries into fast recovery).</summary>
    public long FastRetransmits { get; init; }

    /// <summary>Loss recoveries (fast recovery episodes; RTOs are <see cref="Timeouts"/>).</summary>
    public long Recoveries { get; init; }

    /// <summary>Tail loss probes sent (RFC 8985 §7).</summary>
    public long LossProbes { get; init; }

    /// <summary>D-SACK blocks received (RFC 2883).</summary>
    public long DuplicateSacks { get; init; }

    /// <summary>Bytes SACKed above SND.UNA right now.</summary>
    public long SackedBytes { get; init; }

    /// <summary>Bytes deemed lost and not yet retransmitted right now.</summary>
    public long LostBytes { get; init; }

    /// <summary>Send buffer size now (auto-tuning grows it).</summary>
    public int SendBufferSize { get; init; }

    /// <summary>Receive buffer size now (auto-tuning grows it).</summary>
    public int ReceiveBufferSize { get; init; }

    /// <summary>The congestion controller.</summary>
    public TcpCongestionControl CongestionControl { get; init; }

    /// <summary>Window scaling was negotiated.</summary>
    public bool WindowScaling { get; init; }

    /// <summary>Timestamps were negotiated.</summary>
    public bool Timestamps { get; init; }

    /// <summary>SACK was negotiated.</summary>
    public bool Sack { get; init; }

    /// <summary>Bytes in the send buffer (unsent and unacknowledged).</summary>
    public int SendQueued { get; init; }

    /// <summary>Bytes waiting for the application.</summary>
    public int ReceiveQueued { get; init; }
}
