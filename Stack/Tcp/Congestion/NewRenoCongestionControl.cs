// Layer: transport (TCP), congestion control. NewReno: slow start and congestion avoidance (RFC 5681 §3.1),
// halving on loss (RFC 5681 eq. 4, RFC 6675 §5 step 4), loss window after a timeout. The fast-recovery
// mechanics (what to resend, how much may be in flight) live in the connection's loss recovery.
namespace NetStack.Tcp.Congestion;

/// <summary>NewReno congestion control of one connection, in bytes.</summary>
internal sealed class NewRenoCongestionControl(int mss) : CongestionController(mss)
{
    private long _avoidanceBytes;

    public override TcpCongestionControl Algorithm => TcpCongestionControl.NewReno;

    public override void OnAck(long delivered, TimeSpan now, TimeSpan? rtt, TimeSpan smoothedRtt, bool cwndLimited, in RoundInfo round)
    {
        if (!cwndLimited || delivered <= 0)
        {
            return;
        }
        if (InSlowStart)
        {
            delivered = SlowStart(delivered);
        }
        // Congestion avoidance by byte counting (RFC 5681 §3.1, RFC 3465 §2.1): one SMSS per window ACKed.
        _avoidanceBytes += delivered;
        while (_avoidanceBytes >= CongestionWindow && CongestionWindow > 0)
        {
            _avoidanceBytes -= CongestionWindow;
            CongestionWindow += Mss;
        }
    }

    public override void OnCongestionEvent(long flight, TimeSpan now)
    {
        SlowStartThreshold = Math.Max(flight / 2, 2L * Mss); // RFC 5681 eq. 4
        CongestionWindow = SlowStartThreshold;               // RFC 6675 §5 step 4.2
        _avoidanceBytes = 0;
    }

    public override void OnRetransmissionTimeout(long flight, TimeSpan now)
    {
        SlowStartThreshold = Math.Max(flight / 2, 2L * Mss);
        CongestionWindow = Mss; // the loss window (RFC 5681 §3.1)
        _avoidanceBytes = 0;
    }
}
