// Layer: transport (TCP), repair on the send side: resending what loss recovery marked lost (RFC 6675 §5
// NextSeg), the tail loss probe's segment (RFC 8985 §7.3), and link back-pressure. What is lost and when
// recovery ends is the LossRecovery's; how big the window is, the CongestionController's.
using NetStack.Tcp.Congestion;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private readonly SackScoreboard _scoreboard = new();
    private readonly CongestionController _cc;
    private LossRecovery _recovery;
    private bool _cwndLimited;              // the last send opportunity stopped at the congestion window

    private static readonly TimeSpan MinLinkRetry = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxLinkRetry = TimeSpan.FromMilliseconds(64);
    private bool _linkBlocked;              // the link's queue was full: send nothing until it has drained
    private TimeSpan _linkRetryDeadline = Never;
    private TimeSpan _linkRetryInterval;

    /// <summary>Records in the scoreboard (tests: a hostile peer must not be able to multiply them).</summary>
    internal int ScoreboardRecords
    {
        get
        {
            lock (Gate)
            {
                return _scoreboard.Count;
            }
        }
    }

    /// <summary>Bytes in flight as RFC 6675 §4 counts them.</summary>
    private long Pipe => _recovery.Pipe(_sndMax - _sndUna);

    private static CongestionController CreateCongestionController(TcpCongestionControl algorithm, int mss) => algorithm switch
    {
        TcpCongestionControl.NewReno => new NewRenoCongestionControl(mss),
        _ => new CubicCongestionControl(mss),
    };

    private LossRecovery CreateLossRecovery(bool sack) => sack
        ? new SackLossRecovery(_scoreboard, _cc, _counters, _rtt, _iss)
        : new NewRenoLossRecovery(_scoreboard, _cc, _counters, _iss);

    /// <summary>
    /// The link's queue refused segments in [<paramref name="start"/>, <paramref name="end"/>) (back-pressure, not
    /// congestion on the path): they count as lost without a congestion signal, and nothing more is sent until the
    /// queue has drained — like Linux's TCP Small Queues, a sender never piles more into a full device queue. The
    /// next ACK (proof that the queue moved) or a short retry timer resumes sending; both run on the stack's clock,
    /// so a simulation stays deterministic. The caller holds the lock.
    /// </summary>
    private void OnLinkRefused(SequenceNumber start, SequenceNumber end)
    {
        if (!CanSendData(_state) || _scoreboard.Count == 0)
        {
            return;
        }
        if (start < _sndUna)
        {
            start = _sndUna;
        }
        _scoreboard.MarkLostRange(start, end);
        BlockOnLink(backOff: true);
    }

    /// <summary>Stops sending until the link's queue has drained (an ACK, or the retry timer).</summary>
    private void BlockOnLink(bool backOff)
    {
        _linkRetryInterval = _linkBlocked && backOff ? TimeSpan.FromTicks(Math.Min(_linkRetryInterval.Ticks * 2, MaxLinkRetry.Ticks)) : MinLinkRetry;
        _linkBlocked = true;
        _linkRetryDeadline = Protocol.Now + _linkRetryInterval;
        ArmTimer();
    }

    /// <summary>
    /// Room in the link's queue for one more segment from this send opportunity (TCP Small Queues in spirit:
    /// what the device cannot take yet stays in the send buffer, where it costs nothing). False blocks sending.
    /// </summary>
    private bool TakeLinkRoom(ref int room)
    {
        if (room <= 0)
        {
            Protocol.Events.Increment(TcpEvent.LinkQueueWaits);
            BlockOnLink(backOff: false);
            return false;
        }
        room--;
        return true;
    }

    /// <summary>The link may have room again (an ACK arrived, or the retry timer fired): resume sending.</summary>
    private void OnLinkMayHaveRoom()
    {
        if (_linkBlocked)
        {
            _linkBlocked = false;
            _linkRetryDeadline = Never;
        }
    }

    /// <summary>
    /// Resends what is marked lost, oldest first, while the congestion window has room for it (RFC 6675 §5
    /// NextSeg rule 1 and step 4.3: cwnd − pipe ≥ 1 SMSS). Contiguous lost ranges go out as super-segments where
    /// the link takes GSO. Returns false when the window stopped it.
    /// </summary>
    private bool RetransmitLost(int mss, int maxChunk, ref int linkRoom)
    {
        while (_scoreboard.LostBytes > 0)
        {
            if (!TakeLinkRoom(ref linkRoom))
            {
                return false;
            }
            long room = _cc.CongestionWindow - Pipe;
            if (room < mss)
            {
                return false;
            }
            if (!_scoreboard.TryGetLostRun(maxChunk, out SequenceNumber start, out int run, out bool fin))
            {
                break;
            }
            int limit = (int)Math.Min(Math.Min(room, maxChunk), int.MaxValue);
            int length = Math.Min(run, limit);
            if (length < run && length > mss)
            {
                length -= length % mss;
            }
            bool withFin = fin && length == run;
            if (!RetransmitRange(start, length, withFin))
            {
                return true;
            }
        }
        return true;
    }

    /// <summary>Sends [<paramref name="start"/>, +<paramref name="length"/>) of sequence space again (its FIN too when asked).</summary>
    private bool RetransmitRange(SequenceNumber start, int length, bool fin)
    {
        int data = length - (fin ? 1 : 0);
        int segmentSize = CurrentMss;
        if (!EmitSegment(start, DataFlags(start, data, fin), start - _sndUna, data, segmentSize))
        {
            return false;
        }
        _scoreboard.Retransmitted(start, length, Protocol.Now.Ticks, segmentSize);
        _counters.Retransmitted(data, Math.Max(1, (data + _effectiveMss - 1) / _effectiveMss));
        if (_rtxDeadline == Never && !_persisting)
        {
            ArmRetransmit();
        }
        return true;
    }

    /// <summary>Arms (or disarms) the tail loss probe after data left or was ACKed (RFC 8985 §7.2).</summary>
    private void ArmLossProbe() => _recovery.ArmProbe(_persisting, _sndMax - _sndUna, _effectiveMss, _rtxDeadline, Protocol.Now);

    /// <summary>
    /// The probe timer fired (RFC 8985 §7.3): send new data if the windows allow, else resend the last segment. The
    /// new-data probe is one send unit: with GSO a super-segment of up to two segments (Linux sends its head skb,
    /// which TSO autosizing makes at least two segments), without GSO one segment. Two full segments draw the
    /// receiver's ACK at once (RFC 5681 §4.2); one waits out its delayed-ACK timer — 40 ms per lost ACK of a
    /// flight that GRO merged into one segment and the receiver answered once (BENCHMARKS.md, loss on both paths).
    /// </summary>
    private void OnLossProbe()
    {
        if (!CanSendData(_state) || _sndMax == _sndUna || !_recovery.BeginProbe())
        {
            return;
        }
        int mss = CurrentMss;
        int available = DataEnd - _sndNxt;
        long receiveRoom = _sndWnd - (_sndNxt - _sndUna);
        bool retransmitted;
        if (available > 0 && receiveRoom > 0)
        {
            int probe = Math.Min(2 * mss, MaxSuperSegmentPayload(mss));
            int length = (int)Math.Min(Math.Min(available, probe), receiveRoom);
            SendData(_sndNxt, length, fin: _finQueued && length == available);
            retransmitted = false;
        }
        else
        {
            _scoreboard.TailSegment(mss, out SequenceNumber start, out int length, out bool fin);
            RetransmitRange(start, length, fin);
            retransmitted = true;
        }
        _recovery.OnProbeSent(retransmitted, _sndMax);
        ArmRetransmit(); // RFC 8985 §7.3: the RTO runs after a probe
    }
}
