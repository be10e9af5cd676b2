// Layer: transport (TCP), congestion control. CUBIC (RFC 9438): window growth as a cubic function of the time
// since the last congestion event, with a Reno-friendly region (§4.3), multiplicative decrease by β = 0.7
// (§4.6), fast convergence (§4.7) and the timeout rule (§4.8); slow start is HyStart++ (RFC 9406).
namespace NetStack.Tcp.Congestion;

/// <summary>CUBIC congestion control of one connection. The window is kept in bytes; the cubic runs in segments and seconds.</summary>
internal sealed class CubicCongestionControl(int mss) : CongestionController(mss)
{
    private const double C = 0.4;          // RFC 9438 §5.1
    private const double Beta = 0.7;       // β_cubic, RFC 9438 §4.6
    private const double AlphaCubic = 3 * (1 - Beta) / (1 + Beta); // RFC 9438 §4.3

    private readonly HyStartPlusPlus _hyStart = new();
    private double _wMax;                 // segments: the window at the last congestion event
    private double _k;                    // seconds until W_cubic reaches _wMax
    private TimeSpan _epochStart = Never; // start of the current congestion-avoidance epoch
    private double _wEst;                 // segments: the Reno-friendly estimate

    private static readonly TimeSpan Never = TimeSpan.MinValue;

    public override TcpCongestionControl Algorithm => TcpCongestionControl.Cubic;

    /// <summary>HyStart++ state, for tests and statistics.</summary>
    internal HyStartPlusPlus HyStart => _hyStart;

    /// <summary>W_max in segments (tests).</summary>
    internal double WMax => _wMax;

    public override void OnAck(long delivered, TimeSpan now, TimeSpan? rtt, TimeSpan smoothedRtt, bool cwndLimited, in RoundInfo round)
    {
        if (!cwndLimited || delivered <= 0)
        {
            return; // RFC 9438 §5.8 / RFC 7661: an application-limited flight does not grow the window
        }
        if (InSlowStart)
        {
            switch (_hyStart.OnAck(round, rtt))
            {
                case HyStartDecision.ExitSlowStart:
                    SlowStartThreshold = CongestionWindow;
                    break;
                case HyStartDecision.Conservative:
                    long before = CongestionWindow;
                    SlowStart(delivered / HyStartPlusPlus.CssGrowthDivisor);
                    delivered -= (CongestionWindow - before) * HyStartPlusPlus.CssGrowthDivisor;
                    break;
                default:
                    delivered = SlowStart(delivered);
                    break;
            }
            if (InSlowStart || delivered <= 0)
            {
                return;
            }
        }
        CongestionAvoidance(delivered, now, smoothedRtt > TimeSpan.Zero ? smoothedRtt : rtt ?? TimeSpan.Zero);
    }

    private void CongestionAvoidance(long delivered, TimeSpan now, TimeSpan rtt)
    {
        double mss = Mss;
        double cwnd = CongestionWindow / mss;
        if (_epochStart == Never)
        {
            // RFC 9438 §4.2: a new epoch starts at the first ACK of congestion avoidance.
            _epochStart = now;
            if (cwnd < _wMax)
            {
                _k = Math.Cbrt((_wMax - cwnd) / C);
            }
            else
            {
                _k = 0;
                _wMax = cwnd;
            }
            _wEst = cwnd;
        }
        double t = (now - _epochStart).TotalSeconds;
        double segmentsAcked = delivered / mss;

        // RFC 9438 §4.3: the Reno-friendly estimate, with α_cubic until it reaches W_max, then 1.
        _wEst += (_wEst >= _wMax ? 1 : AlphaCubic) * segmentsAcked / cwnd;

        double wCubic = WCubic(t);
        double next;
        if (wCubic < _wEst)
        {
            next = Math.Max(cwnd, _wEst); // Reno-friendly region
        }
        else
        {
            // RFC 9438 §4.4–§4.5: aim at W_cubic(t + RTT), between cwnd and 1.5·cwnd.
            double target = Math.Clamp(WCubic(t + rtt.TotalSeconds), cwnd, 1.5 * cwnd);
            next = cwnd + ((target - cwnd) / cwnd * segmentsAcked);
        }
        CongestionWindow = Math.Max(CongestionWindow, (long)(next * mss));
    }

    private double WCubic(double t)
    {
        double x = t - _k;
        return (C * x * x * x) + _wMax;
    }

    public override void OnCongestionEvent(long flight, TimeSpan now)
    {
        Reduce();
        CongestionWindow = SlowStartThreshold;
    }

    public override void OnRetransmissionTimeout(long flight, TimeSpan now)
    {
        // RFC 9438 §4.8: ssthresh as for any congestion event; cwnd collapses to the loss window like Reno.
        Reduce();
        CongestionWindow = Mss;
    }

    private void Reduce()
    {
        _hyStart.OnCongestion();
        double cwnd = (double)CongestionWindow / Mss;
        _wMax = cwnd < _wMax ? cwnd * (1 + Beta) / 2 : cwnd; // fast convergence (RFC 9438 §4.7)
        SlowStartThreshold = Math.Max((long)(CongestionWindow * Beta), 2L * Mss); // RFC 9438 §4.6 (cwnd · β_cubic)
        _epochStart = Never;
    }
}
