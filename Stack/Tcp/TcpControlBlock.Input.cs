// Layer: transport (TCP). Segment arrival (RFC 9293 §3.10.7.3 SYN-SENT, §3.10.7.4 other states), hardened by
// RFC 5961 (RST and SYN challenge ACKs, ACK acceptability) and RFC 7323 (PAWS, TS.Recent).
using System.Net.Sockets;
using NetStack.Buffers;
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>One inbound segment: the parsed header and where its payload lies in the (borrowed) packet.</summary>
internal struct TcpSegment
{
    public TcpRepr Header;
    public PacketBuffer Packet;
    public int PayloadOffset;
    public int PayloadLength;

    public readonly bool Has(TcpFlags flag) => (Header.Flags & flag) != 0;
}

internal sealed partial class TcpControlBlock
{
    private bool _ignoreNextTimestampRtt;

    /// <summary>Processes one segment for this connection; the packet is borrowed.</summary>
    internal void OnSegment(ref TcpSegment seg)
    {
        lock (Gate)
        {
            if (_state == TcpState.Closed)
            {
                return;
            }
            _counters.SegmentIn();
            _sender.Link.Resume(); // what we sent got somewhere: the link's queue moved
            if (_state == TcpState.SynSent)
            {
                OnSegmentSynSent(ref seg);
            }
            else
            {
                OnSegmentSynchronized(ref seg);
            }
            if (_state != TcpState.Closed)
            {
                Output();
                if (_receiver.AckNow)
                {
                    SendAck();
                }
                ArmTimer();
            }
        }
        Flush();
    }

    /// <summary>RFC 9293 §3.10.7.3.</summary>
    private void OnSegmentSynSent(ref TcpSegment seg)
    {
        ref TcpRepr h = ref seg.Header;
        SequenceNumber ack = h.AcknowledgmentNumber;
        bool hasAck = seg.Has(TcpFlags.Ack);
        if (hasAck && (ack <= _sender.Iss || ack > _sender.Nxt))
        {
            Protocol.Drops.Increment(TcpDropReason.SynSentIgnored);
            if (!seg.Has(TcpFlags.Rst))
            {
                EmitBareReset(ack); // <SEQ=SEG.ACK><CTL=RST>
            }
            return;
        }
        if (seg.Has(TcpFlags.Rst))
        {
            if (hasAck)
            {
                Protocol.Events.Increment(TcpEvent.ResetsReceived);
                Terminate(SocketError.ConnectionRefused);
            }
            else
            {
                Protocol.Drops.Increment(TcpDropReason.SynSentIgnored);
            }
            return;
        }
        if (!seg.Has(TcpFlags.Syn))
        {
            Protocol.Drops.Increment(TcpDropReason.SynSentIgnored);
            return;
        }
        _receiver.OnSyn(h.SequenceNumber);
        ApplyPeerSynOptions(h);
        _sender.TakeSynWindow(h.WindowSize, h.SequenceNumber, ack); // never scaled in a SYN (RFC 7323 §2.2)
        if (hasAck)
        {
            SampleRtt(h, 0);
            _sender.AcknowledgeSyn(ack);
            StopRetransmit();
            SetState(TcpState.Established);
            _receiver.OpenAfterSynSent();
        }
        else
        {
            SetState(TcpState.SynReceived); // simultaneous open (RFC 9293 §3.5, figure 8)
            SendSyn(ack: true);
        }
    }

    /// <summary>RFC 9293 §3.10.7.4, for SYN-RECEIVED through TIME-WAIT.</summary>
    private void OnSegmentSynchronized(ref TcpSegment seg)
    {
        ref TcpRepr h = ref seg.Header;
        SequenceNumber segSeq = h.SequenceNumber;
        SequenceNumber ack = h.AcknowledgmentNumber;
        bool syn = seg.Has(TcpFlags.Syn), fin = seg.Has(TcpFlags.Fin), rst = seg.Has(TcpFlags.Rst), hasAck = seg.Has(TcpFlags.Ack);
        SequenceNumber seq = segSeq;
        int offset = seg.PayloadOffset;
        int payload = seg.PayloadLength;

        if (_state == TcpState.SynReceived && syn && segSeq == _receiver.Irs && !rst)
        {
            if (!hasAck)
            {
                SendSyn(ack: true); // the peer's SYN again: our SYN-ACK was lost
                return;
            }
            syn = false; // simultaneous open: the SYN is old, its ACK is new; ACK the SYN-ACK
            seq += 1;
            _receiver.RequestAck();
        }

        // RFC 7323 §5.3 R1 (PAWS): a timestamp older than TS.Recent marks an old duplicate.
        if (_timestamps && !rst && h.Timestamps is TcpTimestamps ts && unchecked((int)(ts.Value - _tsRecent)) < 0)
        {
            Protocol.Drops.Increment(TcpDropReason.Paws);
            SendAck();
            return;
        }

        // First: sequence number acceptability (RFC 9293 §3.10.7.4 table).
        int segLen = payload + (syn ? 1 : 0) + (fin ? 1 : 0);
        SequenceNumber windowEnd = _receiver.Nxt + _receiver.Window;
        if (!_receiver.IsAcceptable(seq, segLen))
        {
            if (payload > 0 && seq + payload <= _receiver.Nxt)
            {
                _receiver.NoteDuplicate(seq, seq + payload); // an old duplicate (RFC 2883 §4.1.1)
            }
            Protocol.Drops.Increment(TcpDropReason.OutOfWindow);
            if (!rst)
            {
                if (_state == TcpState.TimeWait && fin)
                {
                    EnterTimeWait(); // a retransmitted FIN restarts 2·MSL
                }
                SendAck();
            }
            return;
        }
        bool hadSyn = syn;
        int front = _receiver.Nxt - seq;
        if (front > 0)
        {
            if (syn)
            {
                syn = false;
                front--;
                seq += 1;
            }
            int cut = Math.Min(front, payload);
            if (cut > 0)
            {
                _receiver.NoteDuplicate(seq, seq + cut); // partly old (RFC 2883 §4.1.1)
                _receiver.RequestAck();
            }
            offset += cut;
            payload -= cut;
            seq += cut;
            if (front > cut)
            {
                fin = false; // the FIN is old too
            }
        }
        if (seq + payload > windowEnd)
        {
            payload = Math.Max(0, windowEnd - seq);
            fin = false; // RFC 9293 §3.10.7.4: trim what lies beyond the window, FIN included
            _receiver.RequestAck(); // and tell the sender where the window is (this answers a zero-window probe)
        }

        // Second: RST (RFC 5961 §3.2: reset only on an exact match; in the window → challenge ACK).
        if (rst)
        {
            if (segSeq != _receiver.Nxt)
            {
                Protocol.Drops.Increment(TcpDropReason.RstChallenged);
                SendChallengeAck();
                return;
            }
            Protocol.Events.Increment(TcpEvent.ResetsReceived);
            Terminate(_state switch
            {
                TcpState.SynReceived when Listener is not null => SocketError.ConnectionReset, // back to LISTEN: the listener forgets it
                TcpState.SynReceived => SocketError.ConnectionRefused,
                TcpState.Closing or TcpState.LastAck or TcpState.TimeWait => SocketError.Success,
                _ => SocketError.ConnectionReset,
            });
            return;
        }

        // Fourth: SYN in a synchronized state (RFC 5961 §4.2): challenge ACK, whatever its sequence number.
        if (hadSyn)
        {
            Protocol.Drops.Increment(TcpDropReason.SynChallenged);
            SendChallengeAck();
            return;
        }

        // Fifth: the ACK field.
        if (!hasAck)
        {
            Protocol.Drops.Increment(TcpDropReason.NoAck);
            return;
        }
        if (_state == TcpState.SynReceived)
        {
            if (!ack.InRangeExclusiveInclusive(_sender.Una, _sender.Nxt))
            {
                Protocol.Drops.Increment(TcpDropReason.UnacceptableAck);
                EmitBareReset(ack);
                return;
            }
            _sender.TakeWindow(segSeq, ack, h.WindowSize);
            SetState(TcpState.Established);
        }
        if (!_sender.IsAcceptableAck(ack)) // RFC 5961 §5.2
        {
            Protocol.Drops.Increment(TcpDropReason.UnacceptableAck);
            SendAck();
            return;
        }
        NoteReceived();
        UpdateTsRecent(h, segSeq);
        DeliveryInfo delivery = _scoreboard.BeginDelivery();
        bool duplicateSack = h.SackBlocks.Count > 0 && CanSendData(_state) && _recovery.OnSackBlocks(h.SackBlocks, ack, _sender.Una, _sender.Nxt, ref delivery);
        if (ack > _sender.Una)
        {
            if (!OnNewAck(h, ack, ref delivery, duplicateSack))
            {
                return; // the connection ended (LAST-ACK)
            }
        }
        else if (ack == _sender.Una && payload == 0 && !fin && !_persisting && _sender.Nxt != _sender.Una && _sender.ScaledWindow(h.WindowSize) == _sender.Window)
        {
            _recovery.OnDuplicateAck(ack, h.SackBlocks.Count > 0, _sender.Una, _sender.Nxt, _sender.Mss, Protocol.Now); // RFC 5681 §2
        }
        if (CanSendData(_state))
        {
            _recovery.DetectLosses(delivery, _sender.Una, _sender.Nxt, _sender.Mss, Protocol.Now);
            if (delivery.NewlyDelivered > 0 && _recovery.State != RecoveryState.Recovery)
            {
                // Slow start and congestion avoidance (RFC 5681 §3.1), also while resending after an RTO, after
                // loss detection: the ACK that reveals a loss does not grow the window first.
                TimeSpan? rtt = delivery.RttSampleSentAt != 0 ? Protocol.Now - TimeSpan.FromTicks(delivery.RttSampleSentAt) : null;
                _cc.OnAck(delivery.NewlyDelivered, Protocol.Now, rtt, _rtt.SmoothedRtt, _sender.CwndLimited, new RoundInfo(ack, _sender.Nxt));
                TuneSendBuffer();
            }
        }
        // Window update (RFC 9293 §3.10.7.4 fifth): only from a newer segment.
        if (_sender.TryUpdateWindow(segSeq, ack, h.WindowSize))
        {
            if (_sender.Window > 0 && _persisting)
            {
                // Only probe bytes are outstanding while persisting, and the peer did not take them: they count as
                // unsent again and go out with the data that follows them.
                StopPersist();
                _scoreboard.Clear();
                _sender.RewindToUna();
                _rtxDeadline = Never;
            }
        }

        // Seventh: segment text.
        if (payload > 0)
        {
            if (_state is TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2)
            {
                if (_appClosed)
                {
                    // Nobody will read it: reset (RFC 9293 §3.10.4 allows it; RFC 2525 §2.17).
                    Protocol.Drops.Increment(TcpDropReason.DataAfterClose);
                    SendReset();
                    Terminate(SocketError.ConnectionReset);
                    return;
                }
                int delivered = _receiver.Accept(seq, seg.Packet, offset, payload, Protocol.Now, out bool delayedAckArmed);
                if (delayedAckArmed)
                {
                    ArmTimer();
                }
                if (delivered > 0)
                {
                    SignalReadable();
                }
            }
        }

        // Eighth: FIN, processed when everything before it has arrived.
        if (fin)
        {
            _receiver.NoteFin(seq + payload);
        }
        if (_receiver.FinReady)
        {
            ProcessFin();
        }
    }

    /// <summary>
    /// A SYN for this connection's 4-tuple (RFC 6191 §2, RFC 1122 §4.2.2.13). In TIME-WAIT a SYN that is provably
    /// new — a newer timestamp, or without timestamps a higher sequence number — ends this incarnation so that
    /// the SYN can open the next one: returns true, the caller hands the SYN to the listener. A SYN that is not
    /// provably new is dropped silently (TIME-WAIT goes on) and counted; returns false with
    /// <paramref name="dropped"/> set. Any other state: false, the segment is processed as usual.
    /// </summary>
    internal bool TryReopenFromTimeWait(in TcpRepr syn, out bool dropped, out SequenceNumber sendEnd)
    {
        dropped = false;
        lock (Gate)
        {
            sendEnd = _sender.Nxt;
            if (_state != TcpState.TimeWait)
            {
                return false;
            }
            bool newHasTimestamps = Options.Timestamps && syn.Timestamps.HasValue;
            SequenceNumber seq = syn.SequenceNumber;
            bool honor;
            if (newHasTimestamps && _timestamps)
            {
                int delta = unchecked((int)(syn.Timestamps!.Value.Value - _tsRecent));
                honor = delta > 0 || (delta == 0 && seq > _receiver.Nxt);
            }
            else
            {
                honor = _timestamps || seq > _receiver.Nxt; // old incarnation had timestamps: its duplicates are PAWS-safe
            }
            if (!honor)
            {
                dropped = true;
                Protocol.Drops.Increment(TcpDropReason.TimeWaitSynIgnored);
                return false;
            }
            Terminate(SocketError.Success);
        }
        Flush();
        return true;
    }

    /// <summary>A hard ICMP error about our SYN (RFC 1122 §4.2.3.9): the connect fails as refused.</summary>
    internal void OnHardIcmpError(uint quotedSequence)
    {
        lock (Gate)
        {
            if (_state == TcpState.SynSent && quotedSequence == _sender.Iss.Value)
            {
                Terminate(SocketError.ConnectionRefused);
            }
        }
        Flush();
    }

    /// <summary>
    /// The path to the peer carries at most <paramref name="mtu"/> bytes (ICMP Packet Too Big / Fragmentation
    /// Needed, or our own stack refusing a segment): shrink the segment size and resend what is in flight at
    /// the new size at once (RFC 8201 §5.2–§5.4, RFC 1191 §6.3). Never grows the segment size.
    /// </summary>
    internal void OnPathMtuDecreased(int mtu)
    {
        lock (Gate)
        {
            int floor = Tuple.RemoteAddress.IsV4 ? 68 : 1280; // RFC 791, RFC 8200 §5
            mtu = Math.Max(mtu, floor);
            if (mtu >= Route.Mtu)
            {
                return;
            }
            Route = Route with { Mtu = mtu };
            int mss = Math.Max(MssForMtu(Route) - (_timestamps ? 12 : 0), TcpSender.MinimumSendMss);
            if (mss < _sender.Mss)
            {
                _sender.SetMss(mss);
                _cc.SetMss(mss);
                Protocol.Events.Increment(TcpEvent.PathMtuDecreased);
                if (CanSendData(_state) && _sender.Nxt > _sender.Una)
                {
                    _scoreboard.MarkAllLost(); // the too-big segments never left: send them again, smaller (no congestion signal)
                    Output();
                }
            }
        }
        Flush();
    }

    /// <summary>An ACK that advances SND.UNA. Returns false when the connection ended.</summary>
    private bool OnNewAck(in TcpRepr h, SequenceNumber ack, ref DeliveryInfo delivery, bool duplicateSack)
    {
        SequenceNumber dataEnd = DataEnd;
        bool finWasSent = FinSent;
        int acked = ack - _sender.Una;
        _scoreboard.AckUpTo(ack, ref delivery);
        SampleRtt(h, delivery.RttSampleSentAt);
        int dataAcked = _sender.Acknowledge(ack, dataEnd);
        bool finAcked = finWasSent && ack == dataEnd + 1;
        _retries = 0;
        _recovery.OnCumulativeAck(ack, acked, duplicateSack, ref delivery, Protocol.Now);
        if (_sender.Una == _sender.Nxt)
        {
            _rtxDeadline = _persisting ? _rtxDeadline : Never;
            _recovery.StopTimers();
        }
        else if (!_persisting)
        {
            ArmRetransmit(); // RFC 6298 §5.3
            ArmLossProbe();
        }
        if (dataAcked > 0)
        {
            SignalWritable();
        }
        if (finAcked)
        {
            switch (_state)
            {
                case TcpState.FinWait1:
                    SetState(TcpState.FinWait2);
                    if (_appClosed)
                    {
                        _closeDeadline = Protocol.Now + Protocol.Options.FinWait2Timeout;
                    }
                    break;
                case TcpState.Closing:
                    EnterTimeWait();
                    break;
                case TcpState.LastAck:
                    Terminate(SocketError.Success);
                    return false;
            }
        }
        return true;
    }

    private void ProcessFin()
    {
        _receiver.TakeFin();
        switch (_state)
        {
            case TcpState.SynReceived:
            case TcpState.Established:
                SetState(TcpState.CloseWait);
                break;
            case TcpState.FinWait1:
                if (FinSent && _sender.Una == _sender.Nxt)
                {
                    EnterTimeWait();
                }
                else
                {
                    SetState(TcpState.Closing);
                }
                break;
            case TcpState.FinWait2:
                EnterTimeWait();
                break;
        }
        SignalReadable();
    }

    private void EnterTimeWait()
    {
        SetState(TcpState.TimeWait);
        _rtxDeadline = Never;
        _persisting = false;
        _keepaliveDeadline = Never;
        _receiver.ClearOutOfOrder();
        _closeDeadline = Protocol.Now + (2 * Protocol.Options.MaximumSegmentLifetime);
    }

    /// <summary>
    /// One RTT sample per ACK of new data (RFC 6298 §2): from the newest segment it delivered that was never
    /// retransmitted (Karn, §3; our own send times, finer than the millisecond timestamps), else from the
    /// timestamp echo (RFC 7323 §4.1, unambiguous even for retransmissions), else from the timed SYN.
    /// </summary>
    private void SampleRtt(in TcpRepr h, long sentAt)
    {
        TimeSpan? sample = null;
        if (sentAt != 0)
        {
            sample = Protocol.Now - TimeSpan.FromTicks(sentAt);
        }
        else if (_ignoreNextTimestampRtt)
        {
            _ignoreNextTimestampRtt = false;
        }
        else if (_timestamps && h.Timestamps is TcpTimestamps ts && ts.Echo != 0)
        {
            int ms = unchecked((int)(TimestampNow - ts.Echo));
            if (ms >= 0)
            {
                sample = TimeSpan.FromMilliseconds(ms);
            }
        }
        else if (_rttTiming && new SequenceNumber(h.AcknowledgmentNumber) > _rttSequence)
        {
            _rttTiming = false;
            sample = Protocol.Now - _rttStart;
        }
        if (sample is TimeSpan rtt && rtt >= TimeSpan.Zero)
        {
            _rtt.Sample(rtt);
        }
    }
}
