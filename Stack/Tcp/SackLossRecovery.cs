// Layer: transport (TCP), loss recovery with SACK (RFC 6675): the scoreboard takes each ACK's SACK blocks, RACK
// (RFC 8985 §6) deems segments lost by time and begins recovery, the Tail Loss Probe (§7) draws the ACK that lets
// it; a peer that sends no blocks on its duplicate ACKs is still heard through the duplicate-ACK count.
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// SACK-based loss recovery (RFC 6675) with RACK-TLP (RFC 8985). Invariants: as <see cref="LossRecovery"/>; a
/// D-SACK is counted and widens RACK's reordering window, never marks anything SACKed; a probe that repaired a
/// tail loss is a congestion event of its own (RFC 8985 §7.4), outside recovery only.
/// </summary>
internal sealed class SackLossRecovery(SackScoreboard scoreboard, CongestionController congestion, TcpConnectionCounters counters, RttEstimator rtt, SequenceNumber iss)
    : LossRecovery(scoreboard, congestion, counters, iss)
{
    private readonly RackTlp _rack = new(scoreboard, rtt);

    public override bool UsesSack => true;

    public override TimeSpan ReorderDeadline => _rack.ReorderDeadline;

    public override TimeSpan ProbeDeadline => _rack.ProbeDeadline;

    public override TimeSpan NextDeadline => _rack.ProbeDeadline < _rack.ReorderDeadline ? _rack.ProbeDeadline : _rack.ReorderDeadline;

    public override bool OnSackBlocks(in TcpSackList blocks, SequenceNumber ack, SequenceNumber sndUna, SequenceNumber sndNxt, ref DeliveryInfo info)
    {
        if (!Scoreboard.ApplySackBlocks(blocks, ack, sndUna, sndNxt, ref info))
        {
            return false;
        }
        Counters.DuplicateSack();
        _rack.OnDuplicateSack();
        return true;
    }

    /// <summary>Without SACK a partial ACK resends the next hole; with it the scoreboard and RACK know what is lost.</summary>
    protected override void OnPartialAck()
    {
    }

    public override void DetectLosses(in DeliveryInfo info, SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now)
    {
        if (_rack.DetectLosses(info, now, State != RecoveryState.Open, mss) && State == RecoveryState.Open)
        {
            EnterRecovery(sndUna, sndNxt, now);
        }
    }

    public override void OnReorderTimeout(SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now)
    {
        if (_rack.OnReorderTimeout(now, State != RecoveryState.Open, mss) && State == RecoveryState.Open)
        {
            EnterRecovery(sndUna, sndNxt, now);
        }
    }

    public override void ArmProbe(bool persisting, long flight, int mss, TimeSpan rtoDeadline, TimeSpan now) =>
        _rack.ArmProbe(State == RecoveryState.Open && flight != 0 && !persisting, now, flight, mss, rtoDeadline);

    public override bool BeginProbe()
    {
        if (State != RecoveryState.Open)
        {
            return false;
        }
        Counters.LossProbe();
        return true;
    }

    public override void OnProbeSent(bool retransmitted, SequenceNumber sndNxt) => _rack.OnProbeSent(retransmitted, sndNxt);

    public override void CancelProbe() => _rack.CancelProbe();

    public override void StopTimers() => _rack.Stop();

    protected override void OnProbeAcked(SequenceNumber ack, bool duplicateSack, TimeSpan now)
    {
        if (_rack.OnAck(ack, duplicateSack) && State == RecoveryState.Open)
        {
            Congestion.OnCongestionEvent(Congestion.CongestionWindow, now); // the probe repaired a tail loss
            Congestion.OnRecoveryEnd();
        }
    }

    protected override void OnTimeoutStopsProbes() => _rack.OnRetransmissionTimeout();
}
