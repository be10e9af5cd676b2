// Layer: transport (TCP), send side of the coordinator: each send opportunity asks the TcpSender for its
// segmentation decision and loss recovery for what to resend, builds the segments and records them in the SACK
// scoreboard; the link's refusals come back here (back-pressure, not congestion); the tail loss probe's segment
// (RFC 8985 §7.3) goes out here.
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>Sequence number just past the application's data (where our FIN goes).</summary>
    private SequenceNumber DataEnd => _sender.DataEnd(synOutstanding: _state is TcpState.SynSent or TcpState.SynReceived);

    private bool FinSent => _sender.FinSent(DataEnd);

    /// <summary>Bytes in flight as RFC 6675 §4 counts them.</summary>
    private long Pipe => _recovery.Pipe(_sender.Outstanding);

    private static bool CanSendData(TcpState state) =>
        state is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck;

    /// <summary>
    /// A send opportunity (RFC 9293 §3.8.6.2.1, RFC 5681 §3.1): first what is marked lost, then new data, within
    /// min(peer window, cwnd − pipe) (RFC 6675 §5). <paramref name="overrideSws"/>: the SWS override timer fired
    /// (RFC 9293 §3.8.6.2.1). The caller holds the lock.
    /// </summary>
    private void Output(bool overrideSws = false)
    {
        if (!CanSendData(_state) || _sender.Link.Blocked)
        {
            return;
        }
        SendOpportunity op = TcpSender.BeginOpportunity(Route.Nic.Link, _outbox.Count, CurrentMss, Tuple.RemoteAddress.IsV4);
        if (!RetransmitLost(ref op))
        {
            _sender.CwndLimited = !_sender.Link.Blocked;
            return; // the window (or the link) is spent on repairs
        }
        SequenceNumber dataEnd = DataEnd;
        while (SendNewSegment(ref op, dataEnd, overrideSws))
        {
        }
        // RFC 7661 in spirit (Linux's is_cwnd_limited): the window grows only while it is what limits the flight.
        _sender.CwndLimited = op.CwndLimited || Pipe >= _cc.CongestionWindow - op.Mss;
        ArmLossProbe();
    }

    /// <summary>
    /// After the congestion window moved: buffer auto-tuning keeps room for two windows of data (Linux's
    /// tcp_sndbuf_expand); under memory pressure the buffer shrinks toward its set size instead (sk_stream_moderate_sndbuf).
    /// </summary>
    private void TuneSendBuffer()
    {
        if (!Options.BufferAutoTuning)
        {
            return;
        }
        TcpMemoryBudget memory = Protocol.Memory;
        if (memory.UnderPressure || memory.AboveHard)
        {
            _sender.ModerateBuffer(Options.SendBufferSize, toFloor: memory.AboveHard);
        }
        else if (_sender.GrowBuffer(_cc.CongestionWindow, Options.MaxSendBufferSize))
        {
            SignalWritable();
        }
    }

    /// <summary>Acts on the sender's next decision; returns true while the opportunity goes on.</summary>
    private bool SendNewSegment(ref SendOpportunity op, SequenceNumber dataEnd, bool overrideSws)
    {
        switch (_sender.NextSegment(ref op, dataEnd, _cc.CongestionWindow - Pipe, Options.NoDelay, overrideSws, out int length, out bool fin))
        {
            case SendStep.Segment:
                if (!TakeLinkRoom(ref op))
                {
                    return false;
                }
                SendData(length, fin);
                return true;
            case SendStep.Fin:
                SendData(0, fin: true);
                return false;
            case SendStep.ZeroWindow:
                StartPersist(); // RFC 9293 §3.8.6.1: probe a zero window
                return false;
            case SendStep.HeldBack:
                if (_sender.Outstanding == 0 && !_persisting && _rtxDeadline == Never)
                {
                    ArmRetransmit(); // window-limited: the override timer (RFC 9293 §3.8.6.2.1) resends later
                }
                return false;
            default:
                return false;
        }
    }

    /// <summary>Room on the link for one more segment; when there is none the sender blocks until it drains (TCP Small Queues in spirit).</summary>
    private bool TakeLinkRoom(ref SendOpportunity op)
    {
        if (_sender.TakeLinkRoom(ref op, Protocol.Now))
        {
            return true;
        }
        Protocol.Events.Increment(TcpEvent.LinkQueueWaits);
        ArmTimer();
        return false;
    }

    /// <summary>
    /// The link's queue refused segments in [<paramref name="start"/>, <paramref name="end"/>) (back-pressure, not
    /// congestion on the path): they are handed back as lost without a congestion signal, and nothing more is sent
    /// until the queue has drained (LinkBackPressure). The caller holds the lock.
    /// </summary>
    private void OnLinkRefused(SequenceNumber start, SequenceNumber end)
    {
        if (!CanSendData(_state) || _scoreboard.Count == 0)
        {
            return;
        }
        _scoreboard.MarkLostRange(SequenceNumber.Max(start, _sender.Una), end);
        _sender.Link.Block(backOff: true, Protocol.Now);
        ArmTimer();
    }

    /// <summary>ACK, PSH on the segment that reaches the end of the queued data (RFC 9293 §3.9.1), FIN when asked.</summary>
    private TcpFlags DataFlags(SequenceNumber seq, int length, bool fin)
    {
        TcpFlags flags = TcpFlags.Ack;
        if (length > 0 && seq + length == DataEnd)
        {
            flags |= TcpFlags.Psh;
        }
        return fin ? flags | TcpFlags.Fin : flags;
    }

    /// <summary>Sends <paramref name="length"/> new bytes at SND.NXT, with FIN when asked, and records them in flight.</summary>
    private void SendData(int length, bool fin)
    {
        SequenceNumber seq = _sender.Nxt;
        int segmentSize = CurrentMss;
        if (!EmitSegment(seq, DataFlags(seq, length, fin), seq - _sender.Una, length, segmentSize))
        {
            return;
        }
        int sequenceLength = length + (fin ? 1 : 0);
        _scoreboard.Append(seq, sequenceLength, Protocol.Now.Ticks, fin, segmentSize);
        _counters.NewData(length);
        _sender.OnSent(sequenceLength);
        if (_rtxDeadline == Never && !_persisting)
        {
            ArmRetransmit();
        }
    }

    /// <summary>
    /// Resends what is marked lost, oldest first, while the congestion window has room for it (RFC 6675 §5
    /// NextSeg rule 1 and step 4.3: cwnd − pipe ≥ 1 SMSS). Contiguous lost ranges go out as super-segments where
    /// the link takes GSO. Returns false when the window (or the link) stopped it.
    /// </summary>
    private bool RetransmitLost(ref SendOpportunity op)
    {
        int mss = op.Mss;
        while (_scoreboard.LostBytes > 0)
        {
            if (!TakeLinkRoom(ref op))
            {
                return false;
            }
            long room = _cc.CongestionWindow - Pipe;
            if (room < mss)
            {
                return false;
            }
            if (!_scoreboard.TryGetLostRun(op.MaxChunk, out SequenceNumber start, out int run, out bool fin))
            {
                break;
            }
            int length = Math.Min(run, (int)Math.Min(Math.Min(room, op.MaxChunk), int.MaxValue));
            if (length < run && length > mss)
            {
                length -= length % mss;
            }
            if (!RetransmitRange(start, length, fin && length == run))
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
        if (!EmitSegment(start, DataFlags(start, data, fin), start - _sender.Una, data, segmentSize))
        {
            return false;
        }
        _scoreboard.Retransmitted(start, length, Protocol.Now.Ticks, segmentSize);
        _counters.Retransmitted(data, Math.Max(1, (data + _sender.Mss - 1) / _sender.Mss));
        if (_rtxDeadline == Never && !_persisting)
        {
            ArmRetransmit();
        }
        return true;
    }

    /// <summary>Arms (or disarms) the tail loss probe after data left or was ACKed (RFC 8985 §7.2).</summary>
    private void ArmLossProbe() => _recovery.ArmProbe(_persisting, _sender.Outstanding, _sender.Mss, _rtxDeadline, Protocol.Now);

    /// <summary>
    /// The probe timer fired (RFC 8985 §7.3): send new data if the windows allow, else resend the last segment. The
    /// new-data probe is one send unit: with GSO a super-segment of up to two segments (Linux sends its head skb,
    /// which TSO autosizing makes at least two segments), without GSO one segment. Two full segments draw the
    /// receiver's ACK at once (RFC 5681 §4.2); one waits out its delayed-ACK timer — 40 ms per lost ACK of a
    /// flight that GRO merged into one segment and the receiver answered once (BENCHMARKS.md, loss on both paths).
    /// </summary>
    private void OnLossProbe()
    {
        if (!CanSendData(_state) || _sender.Outstanding == 0 || !_recovery.BeginProbe())
        {
            return;
        }
        int mss = CurrentMss;
        int maxChunk = TcpSender.MaxSuperSegmentPayload(Route.Nic.Link, mss, Tuple.RemoteAddress.IsV4);
        bool retransmitted = !_sender.TryProbeWithNewData(mss, maxChunk, DataEnd, out int length, out bool fin);
        if (!retransmitted)
        {
            SendData(length, fin);
        }
        else
        {
            _scoreboard.TailSegment(mss, out SequenceNumber start, out length, out fin);
            RetransmitRange(start, length, fin);
        }
        _recovery.OnProbeSent(retransmitted, _sender.Nxt);
        ArmRetransmit(); // RFC 8985 §7.3: the RTO runs after a probe
    }
}
