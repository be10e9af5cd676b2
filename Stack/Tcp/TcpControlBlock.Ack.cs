// Layer: transport (TCP). RFC 9293 §3.10.7.4 fifth, the ACK field: completing the handshake in SYN-RECEIVED,
// ACK acceptability (RFC 5961 §5.2), SND.UNA moving (the scoreboard, the RTT sample, loss recovery, the
// congestion controller), duplicate ACKs (RFC 5681 §2), the send window update, and what our FIN's ACK does to
// the state.
using System.Net.Sockets;
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>RFC 9293 §3.10.7.4 fifth. Returns false when the segment ends here (or the connection did).</summary>
    private bool ProcessAck(ref TcpSegment seg, in SegmentInWindow text)
    {
        ref TcpRepr h = ref seg.Header;
        SequenceNumber ack = h.AcknowledgmentNumber;
        if (!seg.Has(TcpFlags.Ack))
        {
            Protocol.Drops.Increment(TcpDropReason.NoAck);
            return false;
        }
        if (_state == TcpState.SynReceived && !CompleteHandshake(h))
        {
            return false;
        }
        if (!_sender.IsAcceptableAck(ack)) // RFC 5961 §5.2
        {
            Protocol.Drops.Increment(TcpDropReason.UnacceptableAck);
            if (InvalidReplyAllowed(seg))
            {
                SendAck();
            }
            return false;
        }
        NoteReceived();
        _timestamps.UpdateRecent(h, h.SequenceNumber, _receiver.LastAckSent, Protocol.Now);
        if (!ProcessAcknowledgment(h, text))
        {
            return false; // the connection ended (LAST-ACK)
        }
        if (_sender.TryUpdateWindow(h.SequenceNumber, ack, h.WindowSize) && _sender.Window > 0 && _persisting)
        {
            // The zero window opened: only probe bytes were outstanding, and the peer did not take them; they
            // count as unsent again and go out with the data that follows them.
            StopPersist();
            _scoreboard.Clear();
            _sender.RewindToUna();
            _rtxDeadline = Never;
        }
        return true;
    }

    /// <summary>In SYN-RECEIVED an ACK of our SYN completes the handshake (RFC 9293 §3.10.7.4 fifth); any other ACK is answered with a RST.</summary>
    private bool CompleteHandshake(in TcpRepr h)
    {
        SequenceNumber ack = h.AcknowledgmentNumber;
        if (!ack.InRangeExclusiveInclusive(_sender.Una, _sender.Nxt))
        {
            Protocol.Drops.Increment(TcpDropReason.UnacceptableAck);
            EmitBareReset(ack);
            return false;
        }
        _sender.TakeWindow(h.SequenceNumber, ack, h.WindowSize);
        SetState(TcpState.Established);
        return true;
    }

    /// <summary>
    /// What the ACK says about the flight: its SACK blocks, then a new cumulative ACK or a duplicate, then loss
    /// detection, then (outside fast recovery) window growth. Returns false when the connection ended.
    /// </summary>
    private bool ProcessAcknowledgment(in TcpRepr h, in SegmentInWindow text)
    {
        SequenceNumber ack = h.AcknowledgmentNumber;
        DeliveryInfo delivery = _scoreboard.BeginDelivery();
        bool duplicateSack = h.SackBlocks.Count > 0 && CanSendData(_state) && _recovery.OnSackBlocks(h.SackBlocks, ack, _sender.Una, _sender.Nxt, ref delivery);
        if (ack > _sender.Una)
        {
            if (!OnNewAck(h, ack, ref delivery, duplicateSack))
            {
                return false;
            }
        }
        else if (ack == _sender.Una && text.Length == 0 && !text.Fin && !_persisting && _sender.Outstanding != 0 && _sender.ScaledWindow(h.WindowSize) == _sender.Window)
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
        return true;
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
        if (_sender.Outstanding == 0)
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
        return !finAcked || OnFinAcked();
    }

    /// <summary>Our FIN was acknowledged (RFC 9293 §3.10.7.4 fifth). Returns false when the connection ended (LAST-ACK).</summary>
    private bool OnFinAcked()
    {
        switch (_state)
        {
            case TcpState.FinWait1:
                SetState(TcpState.FinWait2);
                if (_appClosed)
                {
                    _closeDeadline = Protocol.Now + Protocol.Options.FinWait2Timeout;
                }
                return true;
            case TcpState.Closing:
                EnterTimeWait();
                return true;
            case TcpState.LastAck:
                Terminate(SocketError.Success);
                return false;
            default:
                return true;
        }
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
        else if (!_timestamps.TryEchoSample(h, Protocol.Now, out sample) && _rtt.TryCompleteTiming(h.AcknowledgmentNumber, Protocol.Now, out TimeSpan timed))
        {
            sample = timed;
        }
        if (sample is TimeSpan rtt)
        {
            _rtt.Sample(rtt); // a negative sample (a clock step) is ignored
            Protocol.Stack.Telemetry.TcpRtt(rtt);
        }
    }
}
