// Layer: transport (TCP), loss recovery. What the ACKs say about the flight and when recovery ends — one
// interface, chosen once per connection when the handshake settles SACK: SackLossRecovery (RFC 6675 with
// RACK-TLP, RFC 8985) or NewRenoLossRecovery (RFC 6582) for peers without SACK. What is lost is marked in the
// SACK scoreboard; how big the window is stays the CongestionController's; sending is the connection's.
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>Where a connection's loss recovery is.</summary>
internal enum RecoveryState
{
    /// <summary>No loss being repaired.</summary>
    Open,
    /// <summary>Fast recovery: loss found by ACKs; ends when SND.UNA passes the recovery point (RFC 6675 §5).</summary>
    Recovery,
    /// <summary>After a retransmission timeout: everything unSACKed is resent, in slow start (RFC 5681 §3.1, RFC 6675 §5.1).</summary>
    Loss,
}

/// <summary>
/// Loss recovery of one connection. Invariants (checked by LossRecoveryTests): recovery begins only from
/// <see cref="RecoveryState.Open"/>, with the recovery point at SND.NXT, and ends exactly when the cumulative ACK
/// reaches the recovery point (RFC 6675 §5, RFC 6582 §3.2); the congestion controller hears of each episode once
/// (<see cref="CongestionController.OnCongestionEvent"/> on entry, <see cref="CongestionController.OnRecoveryEnd"/>
/// on leaving fast recovery); <see cref="Pipe"/> is never negative. Not thread-safe: the connection's lock guards it.
/// </summary>
internal abstract class LossRecovery
{
    /// <summary>Duplicate ACKs (or SACKed segments) that signal a loss (RFC 5681 §3.2, RFC 6675 §2).</summary>
    public const int DupThresh = 3;

    protected static readonly TimeSpan Never = TimeSpan.MaxValue;

    private int _duplicateAcks;
    private long _duplicateAckBytes; // without SACK: the bytes the duplicate ACKs say have left the network

    protected LossRecovery(SackScoreboard scoreboard, CongestionController congestion, TcpConnectionCounters counters, SequenceNumber iss)
    {
        Scoreboard = scoreboard;
        Congestion = congestion;
        Counters = counters;
        RecoveryPoint = iss;
    }

    protected SackScoreboard Scoreboard { get; }

    protected CongestionController Congestion { get; }

    protected TcpConnectionCounters Counters { get; }

    /// <summary>Where recovery is.</summary>
    public RecoveryState State { get; private set; }

    /// <summary>RFC 6675 RecoveryPoint / RFC 6582 "recover": SND.NXT when the current (or last) recovery began.</summary>
    public SequenceNumber RecoveryPoint { get; private set; }

    /// <summary>Whether this recovery reads SACK blocks (SACK was negotiated).</summary>
    public abstract bool UsesSack { get; }

    /// <summary>When the reordering timer fires (RACK), or never.</summary>
    public virtual TimeSpan ReorderDeadline => Never;

    /// <summary>When the tail loss probe fires (TLP), or never.</summary>
    public virtual TimeSpan ProbeDeadline => Never;

    /// <summary>The earlier of the two.</summary>
    public virtual TimeSpan NextDeadline => Never;

    /// <summary>
    /// Bytes in flight as RFC 6675 §4 counts them, of <paramref name="outstanding"/> = SND.NXT − SND.UNA: not
    /// SACKed, not deemed lost (or retransmitted since), and without SACK not reported gone by duplicate ACKs.
    /// </summary>
    public long Pipe(long outstanding)
    {
        long pipe = outstanding - Scoreboard.SackedBytes - Scoreboard.LostBytes - _duplicateAckBytes;
        return pipe > 0 ? pipe : 0;
    }

    /// <summary>Takes the SACK blocks of an acceptable ACK; returns true when it carried a D-SACK (RFC 2883).</summary>
    public abstract bool OnSackBlocks(in TcpSackList blocks, SequenceNumber ack, SequenceNumber sndUna, SequenceNumber sndNxt, ref DeliveryInfo info);

    /// <summary>
    /// A duplicate ACK (RFC 5681 §2). With SACK and blocks on it, the scoreboard says more than the count and RACK
    /// decides; otherwise each duplicate stands for a segment that left the network (Linux's tcp_add_reno_sack),
    /// and the third begins fast recovery with the first unacknowledged segment (RFC 5681 §3.2, RFC 6582 §3.2).
    /// </summary>
    public void OnDuplicateAck(SequenceNumber ack, bool carriedSack, SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now)
    {
        _duplicateAcks++;
        if (UsesSack && carriedSack)
        {
            return;
        }
        _duplicateAckBytes = Math.Min(_duplicateAckBytes + mss, Math.Max(sndNxt - sndUna - mss, 0));
        if (_duplicateAcks == DupThresh && State == RecoveryState.Open && ack > RecoveryPoint && Scoreboard.Count > 0)
        {
            Scoreboard.MarkLost(0); // RFC 5681 §3.2 step 4: retransmit the first unacknowledged segment
            EnterRecovery(sndUna, sndNxt, now);
        }
    }

    /// <summary>
    /// An ACK moved SND.UNA by <paramref name="acked"/> to <paramref name="ack"/> (the scoreboard already knows).
    /// Recovery ends at its recovery point; the ACK that ends fast recovery delivers nothing to the congestion
    /// controller, which leaves cwnd at ssthresh (RFC 6675 §5). <paramref name="duplicateSack"/>: the ACK carried a D-SACK.
    /// </summary>
    public void OnCumulativeAck(SequenceNumber ack, int acked, bool duplicateSack, ref DeliveryInfo delivery, TimeSpan now)
    {
        _duplicateAcks = 0;
        _duplicateAckBytes = Math.Max(0, _duplicateAckBytes - acked); // the ACK covered segments the duplicates stood for
        if (State != RecoveryState.Open)
        {
            if (ack >= RecoveryPoint)
            {
                if (State == RecoveryState.Recovery)
                {
                    Congestion.OnRecoveryEnd();
                    delivery.NewlyDelivered = 0;
                }
                State = RecoveryState.Open;
                _duplicateAckBytes = 0;
            }
            else
            {
                OnPartialAck();
            }
        }
        OnProbeAcked(ack, duplicateSack, now);
    }

    /// <summary>An ACK below the recovery point during recovery (RFC 6582 §3.2 step 5).</summary>
    protected abstract void OnPartialAck();

    /// <summary>Loss detection after the scoreboard changed (RACK, RFC 8985 §6.2); may begin recovery.</summary>
    public abstract void DetectLosses(in DeliveryInfo info, SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now);

    /// <summary>
    /// The retransmission timer expired (RFC 6298 §5.4–§5.7, RFC 5681 §3.1): the congestion controller collapses
    /// cwnd; everything not SACKed is deemed lost (RFC 6675 §5.1) — after a second timeout in a row SACKs are
    /// forgotten too, the peer may have reneged (RFC 2018 §8).
    /// </summary>
    public void OnRetransmissionTimeout(SequenceNumber sndUna, SequenceNumber sndNxt, int retries, TimeSpan now)
    {
        Congestion.OnRetransmissionTimeout(sndNxt - sndUna, now);
        State = RecoveryState.Loss;
        RecoveryPoint = sndNxt;
        _duplicateAckBytes = 0;
        OnTimeoutStopsProbes();
        if (retries > 1)
        {
            Scoreboard.ClearSacks();
        }
        Scoreboard.MarkAllLost();
    }

    /// <summary>Fast retransmit / fast recovery begins (RFC 6675 §5 step 4, RFC 6582 §3.2 step 2).</summary>
    protected void EnterRecovery(SequenceNumber sndUna, SequenceNumber sndNxt, TimeSpan now)
    {
        State = RecoveryState.Recovery;
        RecoveryPoint = sndNxt;
        Counters.FastRecovery();
        Congestion.OnCongestionEvent(sndNxt - sndUna, now);
        CancelProbe();
    }

    /// <summary>Arms (or disarms) the tail loss probe after data left or was ACKed (RFC 8985 §7.2).</summary>
    public virtual void ArmProbe(bool persisting, long flight, int mss, TimeSpan rtoDeadline, TimeSpan now)
    {
    }

    /// <summary>The probe timer fired: true (and counted) when a probe is to be sent (RFC 8985 §7.3).</summary>
    public virtual bool BeginProbe() => false;

    /// <summary>The probe went out: new data, or (<paramref name="retransmitted"/>) the last segment again.</summary>
    public virtual void OnProbeSent(bool retransmitted, SequenceNumber sndNxt)
    {
    }

    /// <summary>The reordering timer fired (RFC 8985 §6.3).</summary>
    public virtual void OnReorderTimeout(SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now)
    {
    }

    /// <summary>Disarms the tail loss probe.</summary>
    public virtual void CancelProbe()
    {
    }

    /// <summary>Disarms every timer of loss recovery (everything was ACKed, or the connection ended).</summary>
    public virtual void StopTimers()
    {
    }

    /// <summary>An ACK passed SND.UNA: the end of a probe episode (RFC 8985 §7.4).</summary>
    protected virtual void OnProbeAcked(SequenceNumber ack, bool duplicateSack, TimeSpan now)
    {
    }

    /// <summary>A retransmission timeout ends any probe episode.</summary>
    protected virtual void OnTimeoutStopsProbes()
    {
    }
}
