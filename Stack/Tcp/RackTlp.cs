// Layer: transport (TCP), loss recovery. RACK-TLP (RFC 8985): time-based loss detection — a segment is lost
// once a segment sent after it has been delivered and a reordering window has passed since (§6) — and the Tail
// Loss Probe, which draws an ACK (and so RACK's verdict) when the tail of a flight is lost (§7). Used by the
// SACK-based loss recovery; it needs SACK (§2).
namespace NetStack.Tcp;

/// <summary>
/// The RACK-TLP state of one connection. Invariants (checked by RackTlpTests): RACK's reference segment
/// (RACK.xmit_ts, RACK.end_seq) only moves to a later transmission; a segment is marked lost only when it was
/// sent before that reference and has been outstanding its RTT plus the reordering window; the reordering window
/// is zero until reordering is seen, then min_RTT/4 times the D-SACK multiplier (at most 16), never above SRTT;
/// at most one probe is outstanding, and none is armed while recovery runs.
/// </summary>
internal sealed class RackTlp(SackScoreboard scoreboard, RttEstimator rtt)
{
    private static readonly TimeSpan Never = TimeSpan.MaxValue;

    /// <summary>RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a probe of a single segment waits for.</summary>
    private static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// What a probe timeout adds to 2·SRTT when more than one segment is in flight (Linux's TCP_TIMEOUT_MIN, two
    /// jiffies at HZ=1000): room for the peer's ACK processing and our timer's lateness; a coarser floor would be
    /// hundreds of RTTs of silence after each lost ACK on a sub-millisecond path.
    /// </summary>
    private static readonly TimeSpan ProbeTimeoutSlack = TimeSpan.FromMilliseconds(2);

    // RACK (RFC 8985 §6.1): the most recently sent segment known delivered.
    private long _order;
    private long _sentAt;
    private SequenceNumber _end;
    private TimeSpan _rtt;
    private bool _reorderingSeen;
    private int _reorderWindowMultiplier = 1;

    // TLP (RFC 8985 §7).
    private bool _probeOutstanding;
    private bool _probeRetransmitted;
    private SequenceNumber _probeHighSeq;

    /// <summary>When the reordering window of a segment not yet deemed lost runs out (RFC 8985 §6.3), or never.</summary>
    public TimeSpan ReorderDeadline { get; private set; } = Never;

    /// <summary>When the tail loss probe fires (RFC 8985 §7.2), or never.</summary>
    public TimeSpan ProbeDeadline { get; private set; } = Never;

    /// <summary>A D-SACK arrived: the network reorders or duplicates, widen the reordering window (RFC 8985 §6.2 step 4).</summary>
    public void OnDuplicateSack() => _reorderWindowMultiplier = Math.Min(_reorderWindowMultiplier + 1, 16);

    /// <summary>
    /// RACK loss detection (RFC 8985 §6.2) after the scoreboard changed (<paramref name="info"/> says how), or
    /// with an empty <paramref name="info"/> when the reordering timer fired. <paramref name="recovering"/>: loss
    /// recovery is not open. Returns true when it marked a segment lost.
    /// </summary>
    public bool DetectLosses(in DeliveryInfo info, TimeSpan now, bool recovering, int mss)
    {
        if (scoreboard.Count == 0)
        {
            return false;
        }
        if (info.NewestOrder != 0)
        {
            // Step 2: the most recently sent segment delivered, unless a retransmission was ACKed too fast to be its own.
            TimeSpan sampled = now - TimeSpan.FromTicks(info.NewestSentAt);
            bool ambiguous = info.NewestWasRetransmitted && sampled < rtt.MinRtt;
            if (!ambiguous && (info.NewestOrder > _order || (info.NewestOrder == _order && info.NewestEnd > _end)))
            {
                _order = info.NewestOrder;
                _sentAt = info.NewestSentAt;
                _end = info.NewestEnd;
                _rtt = sampled;
            }
        }
        if (info.Reordered)
        {
            _reorderingSeen = true; // step 3
        }
        if (_order == 0)
        {
            return false;
        }
        return MarkLostBeforeReference(now, ReorderWindow(recovering, mss));
    }

    /// <summary>The reordering timer fired (RFC 8985 §6.3): detect again with time moved on. True when it marked a segment lost.</summary>
    public bool OnReorderTimeout(TimeSpan now, bool recovering, int mss)
    {
        ReorderDeadline = Never;
        return DetectLosses(default, now, recovering, mss);
    }

    /// <summary>
    /// Step 5: each segment sent before RACK's reference is lost once outstanding its RTT plus the reordering
    /// window; the oldest one not yet lost sets the reordering timer (§6.3).
    /// </summary>
    private bool MarkLostBeforeReference(TimeSpan now, TimeSpan reorderWindow)
    {
        bool lost = scoreboard.MarkLostSentBefore(_order, _end, (now - _rtt - reorderWindow).Ticks, out long oldestWaiting);
        ReorderDeadline = oldestWaiting == long.MaxValue ? Never : TimeSpan.FromTicks(oldestWaiting) + _rtt + reorderWindow;
        return lost;
    }

    /// <summary>RFC 8985 §6.2 step 4: zero until reordering is seen (when recovery began or DupThresh segments are SACKed), else min_RTT/4 scaled by D-SACKs, at most SRTT.</summary>
    private TimeSpan ReorderWindow(bool recovering, int mss)
    {
        if (!_reorderingSeen && (recovering || scoreboard.SackedBytes >= LossRecovery.DupThresh * (long)mss))
        {
            return TimeSpan.Zero;
        }
        if (rtt.MinRtt == TimeSpan.MaxValue)
        {
            return TimeSpan.Zero;
        }
        TimeSpan window = rtt.MinRtt / 4 * _reorderWindowMultiplier;
        TimeSpan srtt = rtt.SmoothedRtt;
        return srtt > TimeSpan.Zero && window > srtt ? srtt : window;
    }

    /// <summary>
    /// Arms the Tail Loss Probe (RFC 8985 §7.2) when <paramref name="allowed"/> (data in flight, nothing being
    /// recovered, no zero-window probing) and no probe is outstanding: PTO = 2·SRTT, plus the worst-case delayed
    /// ACK when one segment is in flight, else a small slack (as Linux's tcp_schedule_loss_probe); never later
    /// than <paramref name="rtoDeadline"/> — the probe then goes in the RTO's place. Otherwise disarms it.
    /// </summary>
    public void ArmProbe(bool allowed, TimeSpan now, long flight, int mss, TimeSpan rtoDeadline)
    {
        if (!allowed || _probeOutstanding || !rtt.HasSample)
        {
            ProbeDeadline = Never;
            return;
        }
        TimeSpan pto = 2 * rtt.SmoothedRtt + (flight <= mss ? WorstCaseDelayedAck : ProbeTimeoutSlack);
        TimeSpan deadline = now + pto;
        ProbeDeadline = rtoDeadline != Never && deadline > rtoDeadline ? rtoDeadline : deadline;
    }

    /// <summary>The probe went out (RFC 8985 §7.3): new data, or (<paramref name="retransmitted"/>) the last segment again.</summary>
    public void OnProbeSent(bool retransmitted, SequenceNumber sndNxt)
    {
        _probeRetransmitted = retransmitted;
        _probeOutstanding = true;
        _probeHighSeq = sndNxt;
    }

    /// <summary>
    /// RFC 8985 §7.4: an ACK at or past the probe's SND.NXT ends the episode. Returns true when the probe was a
    /// retransmission and the ACK carried no D-SACK for it: the probe repaired a tail loss.
    /// </summary>
    public bool OnAck(SequenceNumber ack, bool duplicateSack)
    {
        if (!_probeOutstanding || ack < _probeHighSeq)
        {
            return false;
        }
        _probeOutstanding = false;
        return _probeRetransmitted && !duplicateSack;
    }

    /// <summary>Disarms the probe (recovery began; everything was ACKed; the connection ended).</summary>
    public void CancelProbe() => ProbeDeadline = Never;

    /// <summary>A retransmission timeout ends any probe episode (RFC 8985 §7.3: the RTO takes over).</summary>
    public void OnRetransmissionTimeout()
    {
        _probeOutstanding = false;
        ProbeDeadline = Never;
    }

    /// <summary>Disarms both timers.</summary>
    public void Stop()
    {
        ProbeDeadline = Never;
        ReorderDeadline = Never;
    }
}
