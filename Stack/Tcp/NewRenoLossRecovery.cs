// Layer: transport (TCP), loss recovery without SACK: NewReno (RFC 6582). The third duplicate ACK resends the
// first unacknowledged segment and begins fast recovery; each partial ACK resends the next hole; recovery ends
// when the ACK reaches the recovery point ("recover"). No RACK-TLP: it needs SACK (RFC 8985 §2).
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// NewReno loss recovery (RFC 6582) for peers without SACK. Invariants: as <see cref="LossRecovery"/>; SACK
/// blocks are never read (a peer may send them unnegotiated); at most one segment is marked lost per partial ACK.
/// </summary>
internal sealed class NewRenoLossRecovery(SackScoreboard scoreboard, CongestionController congestion, TcpConnectionCounters counters, SequenceNumber iss)
    : LossRecovery(scoreboard, congestion, counters, iss)
{
    public override bool UsesSack => false;

    public override bool OnSackBlocks(in TcpSackList blocks, SequenceNumber ack, SequenceNumber sndUna, SequenceNumber sndNxt, ref DeliveryInfo info) => false;

    /// <summary>RFC 6582 §3.2 step 5: a partial ACK in fast recovery resends the first unacknowledged segment.</summary>
    protected override void OnPartialAck()
    {
        if (State == RecoveryState.Recovery && Scoreboard.Count > 0)
        {
            Scoreboard.MarkLost(0);
        }
    }

    /// <summary>Without SACK only duplicate ACKs find losses.</summary>
    public override void DetectLosses(in DeliveryInfo info, SequenceNumber sndUna, SequenceNumber sndNxt, int mss, TimeSpan now)
    {
    }
}
