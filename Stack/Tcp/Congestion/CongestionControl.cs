// Layer: transport (TCP), congestion control. The contract between a connection's loss recovery and its
// congestion controller (pluggable per connection): the controller owns cwnd and ssthresh; the connection
// reports deliveries, congestion events (loss found by RACK, SACK or duplicate ACKs) and timeouts.
namespace NetStack.Tcp.Congestion;

/// <summary>Which congestion controller a connection uses.</summary>
public enum TcpCongestionControl
{
    /// <summary>CUBIC (RFC 9438) with HyStart++ slow start (RFC 9406): the default, as in Linux.</summary>
    Cubic,
    /// <summary>NewReno (RFC 5681, RFC 6582; RFC 6675 recovery with SACK).</summary>
    NewReno,
}

/// <summary>A congestion controller: cwnd and ssthresh in bytes.</summary>
internal abstract class CongestionController
{
    protected CongestionController(int mss)
    {
        Mss = mss;
        CongestionWindow = InitialWindow(mss);
    }

    /// <summary>Sender maximum segment size (SMSS).</summary>
    protected int Mss { get; private set; }

    public long CongestionWindow { get; protected set; }

    public long SlowStartThreshold { get; protected set; } = int.MaxValue;

    public bool InSlowStart => CongestionWindow < SlowStartThreshold;

    /// <summary>The algorithm's name for statistics.</summary>
    public abstract TcpCongestionControl Algorithm { get; }

    /// <summary>RFC 6928 §2: min(10·MSS, max(2·MSS, 14600)).</summary>
    public static long InitialWindow(int mss) => Math.Min(10L * mss, Math.Max(2L * mss, 14600));

    /// <summary>The handshake fixed the segment size: the initial window is measured in it (RFC 6928).</summary>
    public void Initialize(int mss)
    {
        Mss = mss;
        CongestionWindow = InitialWindow(mss);
    }

    /// <summary>The segment size changed mid-connection (path MTU): windows stay in bytes.</summary>
    public void SetMss(int mss)
    {
        Mss = mss;
        CongestionWindow = Math.Max(CongestionWindow, mss);
    }

    /// <summary>
    /// Bytes newly delivered by an ACK outside recovery. <paramref name="cwndLimited"/>: the flight was limited
    /// by cwnd since the last ACK (RFC 7661: an application-limited sender does not grow its window).
    /// <paramref name="rtt"/> is this ACK's RTT sample, if any; <paramref name="smoothedRtt"/> the connection's SRTT.
    /// </summary>
    public abstract void OnAck(long delivered, TimeSpan now, TimeSpan? rtt, TimeSpan smoothedRtt, bool cwndLimited, in RoundInfo round);

    /// <summary>Loss found (fast retransmit / fast recovery begins) with <paramref name="flight"/> bytes in flight.</summary>
    public abstract void OnCongestionEvent(long flight, TimeSpan now);

    /// <summary>The retransmission timer expired with <paramref name="flight"/> bytes in flight.</summary>
    public abstract void OnRetransmissionTimeout(long flight, TimeSpan now);

    /// <summary>Recovery ended (SND.UNA passed the recovery point): RFC 6675 §5 leaves cwnd at ssthresh.</summary>
    public virtual void OnRecoveryEnd() => CongestionWindow = Math.Max(Math.Min(CongestionWindow, SlowStartThreshold), 2L * Mss);

    /// <summary>Slow start by byte counting (RFC 3465): every byte ACKed opens the window by a byte, never past ssthresh.</summary>
    /// <remarks>
    /// Without RFC 3465's per-ACK limit L: a stretch ACK from a GRO receiver covers dozens of segments and must
    /// open the window by all of them, or slow start crawls (Linux's tcp_slow_start does the same).
    /// </remarks>
    protected long SlowStart(long delivered)
    {
        long room = SlowStartThreshold - CongestionWindow;
        long grow = Math.Min(delivered, Math.Max(room, 0));
        CongestionWindow += grow;
        return delivered - grow; // what is left for congestion avoidance
    }
}

/// <summary>Round-trip rounds for HyStart++: a round ends when the ACK passes the SND.NXT its start recorded.</summary>
internal readonly record struct RoundInfo(SequenceNumber Ack, SequenceNumber SndNxt);
