// Layer: transport (TCP), loss recovery. What the ACKs say about the flight, and what to resend: SACK
// scoreboard updates with D-SACK detection (RFC 2018, RFC 2883), RACK time-based loss detection and the Tail
// Loss Probe (RFC 8985), fast recovery bounded by the pipe (RFC 6675 §5), NewReno duplicate-ACK recovery for
// peers without SACK (RFC 6582), and the loss state after a retransmission timeout. Congestion control
// (how big the window is) is the CongestionController's; this decides what is lost and when recovery ends.
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

internal sealed partial class TcpControlBlock
{
    private const int DupThresh = 3; // RFC 5681 §3.2, RFC 6675 §2

    /// <summary>RFC 8985 §7.2 WCDelAckT: the worst-case delayed-ACK time a probe of a single segment waits for.</summary>
    private static readonly TimeSpan WorstCaseDelayedAck = TimeSpan.FromMilliseconds(200);

    /// <summary>
    /// What a probe timeout adds to 2·SRTT when more than one segment is in flight (Linux's TCP_TIMEOUT_MIN, two
    /// jiffies at HZ=1000): room for the peer's ACK processing and our timer's lateness. It was a 10 ms floor (older
    /// Linux): on a sub-millisecond path that is ~200 RTTs of silence after each lost ACK of a flight.
    /// </summary>
    private static readonly TimeSpan ProbeTimeoutSlack = TimeSpan.FromMilliseconds(2);

    private readonly SackScoreboard _sent = new();
    private readonly CongestionController _cc;
    private RecoveryState _recovery;
    private SequenceNumber _recoveryPoint;  // RFC 6675 RecoveryPoint / RFC 6582 "recover"
    private int _dupAcks;
    private long _renoSacked;               // without SACK: the bytes the duplicate ACKs say have left the network
    private bool _cwndLimited;              // the last send opportunity stopped at the congestion window

    // RACK (RFC 8985 §6.1).
    private long _rackOrder;
    private long _rackSentAt;
    private SequenceNumber _rackEnd;
    private TimeSpan _rackRtt;
    private bool _reorderingSeen;
    private int _reoWndMult = 1;
    private TimeSpan _rackDeadline = Never;

    // TLP (RFC 8985 §7).
    private TimeSpan _probeDeadline = Never;
    private bool _tlpOutstanding;
    private bool _tlpRetransmitted;
    private SequenceNumber _tlpHighSeq;

    private static readonly TimeSpan MinLinkRetry = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan MaxLinkRetry = TimeSpan.FromMilliseconds(64);
    private bool _linkBlocked;              // the link's queue was full: send nothing until it has drained
    private TimeSpan _linkRetryDeadline = Never;
    private TimeSpan _linkRetryInterval;
    private long _dsacks;
    private long _lossProbes;
    private long _recoveries;

    /// <summary>Records in the scoreboard (tests: a hostile peer must not be able to multiply them).</summary>
    internal int ScoreboardRecords
    {
        get
        {
            lock (Gate)
            {
                return _sent.Count;
            }
        }
    }

    /// <summary>Bytes in flight as RFC 6675 §4 counts them: sent, not SACKed, not deemed lost (or retransmitted since).</summary>
    private long Pipe
    {
        get
        {
            long outstanding = _sndMax - _sndUna;
            long pipe = outstanding - _sent.SackedBytes - _sent.LostBytes - _renoSacked;
            return pipe > 0 ? pipe : 0;
        }
    }

    private static CongestionController CreateCongestionController(TcpCongestionControl algorithm, int mss) => algorithm switch
    {
        TcpCongestionControl.NewReno => new NewRenoCongestionControl(mss),
        _ => new CubicCongestionControl(mss),
    };

    /// <summary>
    /// Takes the SACK blocks of an acceptable ACK into the scoreboard (RFC 2018 §4): a first block below the
    /// cumulative ACK or inside the second block is a D-SACK (RFC 2883 §4) — counted, and it tells RACK the
    /// network reorders or duplicates; blocks outside the flight are ignored.
    /// </summary>
    private void ProcessSackBlocks(in TcpRepr h, SequenceNumber ack, ref DeliveryInfo info)
    {
        if (_sent.ApplySackBlocks(h.SackBlocks, ack, _sndUna, _sndMax, ref info))
        {
            _dsacks++;
            Protocol.Events.Increment(TcpEvent.DuplicateSacks);
            _reoWndMult = Math.Min(_reoWndMult + 1, 16); // RFC 8985 §6.2 step 4: widen the reordering window
        }
    }

    /// <summary>
    /// A duplicate ACK (RFC 5681 §2). With SACK blocks the scoreboard says more than the count, and RACK decides;
    /// without them (no SACK, or a peer that sends none) it is the signal of loss: NewReno (RFC 6582 §3.2).
    /// </summary>
    private void OnDuplicateAck(SequenceNumber ack, bool carriedSack)
    {
        _dupAcks++;
        if (_sack && carriedSack)
        {
            return;
        }
        // Each duplicate ACK stands for a segment that left the network (Linux's tcp_add_reno_sack).
        _renoSacked = Math.Min(_renoSacked + _effectiveMss, Math.Max(_sndMax - _sndUna - _effectiveMss, 0));
        if (_dupAcks == DupThresh && _recovery == RecoveryState.Open && ack > _recoveryPoint && _sent.Count > 0)
        {
            _sent.MarkLost(0); // RFC 5681 §3.2 step 4: retransmit the first unacknowledged segment
            EnterRecovery();
        }
    }

    /// <summary>RACK loss detection (RFC 8985 §6.2) after the scoreboard changed, or when the reordering timer fired.</summary>
    private void DetectLosses(in DeliveryInfo info)
    {
        if (!_sack || _sent.Count == 0)
        {
            return;
        }
        TimeSpan now = Protocol.Now;
        if (info.NewestOrder != 0)
        {
            // Step 2: the most recently sent segment delivered, unless a retransmission was ACKed too fast to be its own.
            TimeSpan rtt = now - TimeSpan.FromTicks(info.NewestSentAt);
            bool ambiguous = info.NewestWasRetransmitted && rtt < _rtt.MinRtt;
            if (!ambiguous && (info.NewestOrder > _rackOrder || (info.NewestOrder == _rackOrder && info.NewestEnd > _rackEnd)))
            {
                _rackOrder = info.NewestOrder;
                _rackSentAt = info.NewestSentAt;
                _rackEnd = info.NewestEnd;
                _rackRtt = rtt;
            }
        }
        if (info.Reordered)
        {
            _reorderingSeen = true; // step 3
        }
        if (_rackOrder == 0)
        {
            return;
        }
        TimeSpan reorderWindow = ReorderWindow();
        TimeSpan wait = TimeSpan.MaxValue;
        bool lost = false;
        for (int i = 0; i < _sent.Count; i++)
        {
            ref SentSegment s = ref _sent[i];
            if (s.Start >= _rackEnd)
            {
                break; // sent after the most recently delivered segment (retransmissions are of older holes)
            }
            if (s.Is(SentFlags.Sacked) || s.Is(SentFlags.Lost) || s.Order > _rackOrder || (s.Order == _rackOrder && s.End >= _rackEnd))
            {
                continue; // not sent before the most recently delivered segment
            }
            // Step 5: lost once it has been outstanding an RTT plus the reordering window longer than RACK's segment.
            TimeSpan remaining = TimeSpan.FromTicks(s.SentAt) + _rackRtt + reorderWindow - now;
            if (remaining <= TimeSpan.Zero)
            {
                _sent.MarkLost(i);
                lost = true;
            }
            else if (remaining < wait)
            {
                wait = remaining;
            }
        }
        _rackDeadline = wait == TimeSpan.MaxValue ? Never : now + wait; // RFC 8985 §6.3 reordering timer
        if (lost && _recovery == RecoveryState.Open)
        {
            EnterRecovery();
        }
    }

    /// <summary>RFC 8985 §6.2 step 4: zero until reordering is seen (when recovery began or DupThresh segments are SACKed), else min_RTT/4 scaled by D-SACKs, at most SRTT.</summary>
    private TimeSpan ReorderWindow()
    {
        if (!_reorderingSeen && (_recovery != RecoveryState.Open || _sent.SackedBytes >= DupThresh * (long)_effectiveMss))
        {
            return TimeSpan.Zero;
        }
        if (_rtt.MinRtt == TimeSpan.MaxValue)
        {
            return TimeSpan.Zero;
        }
        TimeSpan window = _rtt.MinRtt / 4 * _reoWndMult;
        TimeSpan srtt = _rtt.SmoothedRtt;
        return srtt > TimeSpan.Zero && window > srtt ? srtt : window;
    }

    /// <summary>Fast retransmit / fast recovery begins (RFC 6675 §5 step 4, RFC 6582 §3.2 step 2).</summary>
    private void EnterRecovery()
    {
        _recovery = RecoveryState.Recovery;
        _recoveryPoint = _sndMax;
        _recoveries++;
        _fastRetransmits++;
        Protocol.Events.Increment(TcpEvent.FastRetransmits);
        _cc.OnCongestionEvent(_sndMax - _sndUna, Protocol.Now);
        _probeDeadline = Never;
    }

    /// <summary>After SND.UNA moved: recovery ends at its recovery point; a partial ACK in NewReno recovery resends the next hole (RFC 6582 §3.2 step 5).</summary>
    private void OnAckDuringRecovery(SequenceNumber ack)
    {
        if (_recovery == RecoveryState.Open)
        {
            return;
        }
        if (ack >= _recoveryPoint)
        {
            if (_recovery == RecoveryState.Recovery)
            {
                _cc.OnRecoveryEnd();
            }
            _recovery = RecoveryState.Open;
            _renoSacked = 0;
            return;
        }
        if (!_sack && _recovery == RecoveryState.Recovery && _sent.Count > 0)
        {
            _sent.MarkLost(0);
        }
    }

    /// <summary>
    /// The link's queue refused segments in [<paramref name="start"/>, <paramref name="end"/>) (back-pressure, not
    /// congestion on the path): they count as lost without a congestion signal, and nothing more is sent until the
    /// queue has drained — like Linux's TCP Small Queues, a sender never piles more into a full device queue. The
    /// next ACK (proof that the queue moved) or a short retry timer resumes sending; both run on the stack's clock,
    /// so a simulation stays deterministic. The caller holds the lock.
    /// </summary>
    private void OnLinkRefused(SequenceNumber start, SequenceNumber end)
    {
        if (!CanSendData(_state) || _sent.Count == 0)
        {
            return;
        }
        if (start < _sndUna)
        {
            start = _sndUna;
        }
        _sent.MarkLostRange(start, end);
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
        while (_sent.LostBytes > 0)
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
            if (!_sent.TryGetLostRun(maxChunk, out SequenceNumber start, out int run, out bool fin))
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
        _sent.Retransmitted(start, length, Protocol.Now.Ticks, segmentSize);
        _retransmits += Math.Max(1, (data + _effectiveMss - 1) / _effectiveMss);
        _bytesRetransmitted += data;
        if (_rtxDeadline == Never && !_persisting)
        {
            ArmRetransmit();
        }
        return true;
    }

    /// <summary>
    /// Arms the Tail Loss Probe (RFC 8985 §7.2) after new data left and nothing is being recovered: PTO = 2·SRTT
    /// (plus the worst-case delayed ACK when one segment is in flight), never later than the RTO would fire — the
    /// probe then goes in the RTO's place, and the RTO is re-armed after it (as Linux's tcp_schedule_loss_probe).
    /// </summary>
    private void ArmLossProbe()
    {
        if (!_sack || _recovery != RecoveryState.Open || _tlpOutstanding || !_rtt.HasSample || _sndMax == _sndUna || _persisting)
        {
            _probeDeadline = Never;
            return;
        }
        // RFC 8985 §7.2: PTO = 2·SRTT, plus the worst-case delayed ACK when one segment is in flight; otherwise a
        // small slack (as Linux's tcp_schedule_loss_probe).
        TimeSpan pto = 2 * _rtt.SmoothedRtt + (_sndMax - _sndUna <= _effectiveMss ? WorstCaseDelayedAck : ProbeTimeoutSlack);
        TimeSpan deadline = Protocol.Now + pto;
        _probeDeadline = _rtxDeadline != Never && deadline > _rtxDeadline ? _rtxDeadline : deadline;
    }

    /// <summary>
    /// The probe timer fired (RFC 8985 §7.3): send new data if the windows allow, else resend the last segment. The
    /// new-data probe is one send unit: with GSO a super-segment of up to two segments (Linux sends its head skb,
    /// which TSO autosizing makes at least two segments), without GSO one segment. Two full segments draw the
    /// receiver's ACK at once (RFC 5681 §4.2); one waits out its delayed-ACK timer — 40 ms per lost ACK of a
    /// flight that GRO merged into one segment and the receiver answered once (BENCHMARKS.md, loss on both paths).
    /// </summary>
    private void OnLossProbe()
    {
        if (!CanSendData(_state) || _sndMax == _sndUna || _recovery != RecoveryState.Open)
        {
            return;
        }
        _lossProbes++;
        Protocol.Events.Increment(TcpEvent.LossProbes);
        int mss = CurrentMss;
        int available = DataEnd - _sndNxt;
        long receiveRoom = _sndWnd - (_sndNxt - _sndUna);
        if (available > 0 && receiveRoom > 0)
        {
            int probe = Math.Min(2 * mss, MaxSuperSegmentPayload(mss));
            int length = (int)Math.Min(Math.Min(available, probe), receiveRoom);
            SendData(_sndNxt, length, fin: _finQueued && length == available);
            _tlpRetransmitted = false;
        }
        else
        {
            ref SentSegment last = ref _sent[_sent.Count - 1];
            int length = Math.Min(last.Length, mss);
            SequenceNumber start = last.End - length;
            RetransmitRange(start, length, last.Is(SentFlags.Fin));
            _tlpRetransmitted = true;
        }
        _tlpOutstanding = true;
        _tlpHighSeq = _sndMax;
        ArmRetransmit(); // RFC 8985 §7.3: the RTO runs after a probe
    }

    /// <summary>RFC 8985 §7.4: an ACK past the probe ends the episode; a probe retransmission that repaired a loss counts as one.</summary>
    private void OnAckForLossProbe(SequenceNumber ack, long dsacksBefore)
    {
        if (!_tlpOutstanding || ack < _tlpHighSeq)
        {
            return;
        }
        _tlpOutstanding = false;
        if (_tlpRetransmitted && _dsacks == dsacksBefore && _recovery == RecoveryState.Open)
        {
            _cc.OnCongestionEvent(_cc.CongestionWindow, Protocol.Now); // the probe repaired a tail loss
            _cc.OnRecoveryEnd();
        }
    }
}
