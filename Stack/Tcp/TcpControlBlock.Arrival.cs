// Layer: transport (TCP). Segment arrival as RFC 9293 writes it: §3.10.7.3 for SYN-SENT, and the steps of
// §3.10.7.4 for the synchronized states, one method each, hardened by RFC 7323 (PAWS), RFC 5961 (RST, SYN and ACK
// checks with challenge ACKs) and RFC 2883 (reporting duplicates). The fifth step (the ACK field) is in
// TcpControlBlock.Ack.cs. Also the ICMP errors that concern a connection (RFC 1122 §4.2.3.9, RFC 8201).
using System.Net.Sockets;
using NetStack.Buffers;
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

/// <summary>What of an arriving segment is still to be processed, as the first step trims it to the window.</summary>
internal struct SegmentInWindow
{
    /// <summary>The first sequence number still to process (past a SYN already taken).</summary>
    public SequenceNumber Seq;
    /// <summary>Where the remaining text starts in the packet.</summary>
    public int Offset;
    /// <summary>Bytes of text remaining.</summary>
    public int Length;
    /// <summary>The SYN is still to process.</summary>
    public bool Syn;
    /// <summary>The FIN is still to process (trimmed with text beyond the window).</summary>
    public bool Fin;
    /// <summary>The segment carried a new SYN (the fourth step answers it).</summary>
    public bool HadSyn;

    public SegmentInWindow(in TcpSegment seg)
    {
        Seq = seg.Header.SequenceNumber;
        Offset = seg.PayloadOffset;
        Length = seg.PayloadLength;
        Syn = seg.Has(TcpFlags.Syn);
        Fin = seg.Has(TcpFlags.Fin);
    }
}

internal sealed partial class TcpControlBlock
{
    private TimeSpan _lastInvalidReply;     // when this connection last answered an invalid segment without data
    private bool _invalidReplied;

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

    /// <summary>RFC 9293 §3.10.7.3: a segment in SYN-SENT — the ACK, RST, and SYN checks, then the handshake.</summary>
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

    /// <summary>RFC 9293 §3.10.7.4, for SYN-RECEIVED through TIME-WAIT: its steps in order; each may end the segment.</summary>
    private void OnSegmentSynchronized(ref TcpSegment seg)
    {
        var text = new SegmentInWindow(seg);
        if (!OnPeerSynAgain(ref seg, ref text)
            || !CheckSequenceNumber(ref seg, ref text) // first
            || !CheckReset(ref seg))                   // second (third, security and precedence, is obsolete)
        {
            return;
        }
        if (!CheckSyn(seg, text)                       // fourth
            || !ProcessAck(ref seg, text)              // fifth (TcpControlBlock.Ack.cs)
            || !ProcessText(ref seg, text))            // seventh; sixth: URG is not supported, urgent data arrives inline (RFC 6093 §4)
        {
            return;
        }
        ProcessFin(text);                              // eighth
    }

    /// <summary>
    /// In SYN-RECEIVED, the peer's SYN again (RFC 9293 §3.5): without an ACK our SYN-ACK was lost, so it goes
    /// again; with one (simultaneous open, figure 8) the SYN is old and its ACK new — what follows processes it
    /// as an ACK, and the peer's SYN-ACK is ACKed.
    /// </summary>
    private bool OnPeerSynAgain(ref TcpSegment seg, ref SegmentInWindow text)
    {
        if (_state != TcpState.SynReceived || !text.Syn || text.Seq != _receiver.Irs || seg.Has(TcpFlags.Rst))
        {
            return true;
        }
        if (!seg.Has(TcpFlags.Ack))
        {
            SendSyn(ack: true);
            return false;
        }
        text.Syn = false;
        text.Seq += 1;
        _receiver.RequestAck();
        return true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 first: PAWS (RFC 7323 §5.3 R1), then the acceptability table; an unacceptable segment
    /// is answered with an ACK (not a RST), an old duplicate reported by D-SACK (RFC 2883 §4.1.1), and a FIN
    /// retransmitted into TIME-WAIT restarts it. What is acceptable is trimmed to the window.
    /// </summary>
    private bool CheckSequenceNumber(ref TcpSegment seg, ref SegmentInWindow text)
    {
        bool rst = seg.Has(TcpFlags.Rst);
        if (!rst && _timestamps.FailsPaws(seg.Header, Protocol.Now, Protocol.Events))
        {
            Protocol.Drops.Increment(TcpDropReason.Paws);
            if (InvalidReplyAllowed(seg))
            {
                SendAck();
            }
            return false;
        }
        if (!_receiver.IsAcceptable(text.Seq, text.Length + (text.Syn ? 1 : 0) + (text.Fin ? 1 : 0)))
        {
            if (text.Length > 0 && text.Seq + text.Length <= _receiver.Nxt)
            {
                _receiver.NoteDuplicate(text.Seq, text.Seq + text.Length);
            }
            Protocol.Drops.Increment(TcpDropReason.OutOfWindow);
            if (!rst)
            {
                if (_state == TcpState.TimeWait && text.Fin)
                {
                    EnterTimeWait(); // a retransmitted FIN restarts 2·MSL
                }
                if (text.Syn)
                {
                    SendChallengeAck(seg); // RFC 5961 §4.2: a SYN, in the window or not (Linux's syn_challenge)
                }
                else if (InvalidReplyAllowed(seg))
                {
                    SendAck();
                }
            }
            return false;
        }
        TrimToWindow(ref text);
        return true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 first, trimming: what lies before RCV.NXT (reported as a duplicate, RFC 2883 §4.1.1)
    /// and what lies beyond the window, FIN included — the ACK then tells the sender where the window is (this
    /// answers a zero-window probe).
    /// </summary>
    private void TrimToWindow(ref SegmentInWindow text)
    {
        SequenceNumber windowEnd = _receiver.Nxt + _receiver.Window;
        text.HadSyn = text.Syn;
        int front = _receiver.Nxt - text.Seq;
        if (front > 0)
        {
            if (text.Syn)
            {
                text.Syn = false;
                front--;
                text.Seq += 1;
            }
            int cut = Math.Min(front, text.Length);
            if (cut > 0)
            {
                _receiver.NoteDuplicate(text.Seq, text.Seq + cut);
                _receiver.RequestAck();
            }
            text.Offset += cut;
            text.Length -= cut;
            text.Seq += cut;
            if (front > cut)
            {
                text.Fin = false; // the FIN is old too
            }
        }
        if (text.Seq + text.Length > windowEnd)
        {
            text.Length = Math.Max(0, windowEnd - text.Seq);
            text.Fin = false;
            _receiver.RequestAck();
        }
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 second, as RFC 5961 §3.2 hardens it: a RST resets the connection only when its
    /// sequence number is exactly RCV.NXT; elsewhere in the window it draws a challenge ACK.
    /// </summary>
    private bool CheckReset(ref TcpSegment seg)
    {
        if (!seg.Has(TcpFlags.Rst))
        {
            return true;
        }
        if (seg.Header.SequenceNumber != _receiver.Nxt.Value)
        {
            Protocol.Drops.Increment(TcpDropReason.RstChallenged);
            SendChallengeAck(seg);
            return false;
        }
        Protocol.Events.Increment(TcpEvent.ResetsReceived);
        Terminate(_state switch
        {
            TcpState.SynReceived when Listener is not null => SocketError.ConnectionReset, // back to LISTEN: the listener forgets it
            TcpState.SynReceived => SocketError.ConnectionRefused,
            TcpState.Closing or TcpState.LastAck or TcpState.TimeWait => SocketError.Success,
            _ => SocketError.ConnectionReset,
        });
        return false;
    }

    /// <summary>RFC 9293 §3.10.7.4 fourth, as RFC 5961 §4.2 hardens it: a SYN in a synchronized state draws a challenge ACK, whatever its sequence number.</summary>
    private bool CheckSyn(in TcpSegment seg, in SegmentInWindow text)
    {
        if (!text.HadSyn)
        {
            return true;
        }
        Protocol.Drops.Increment(TcpDropReason.SynChallenged);
        SendChallengeAck(seg);
        return false;
    }

    /// <summary>
    /// Whether this connection may answer an invalid segment now (Linux's tcp_oow_rate_limited): a segment with
    /// data or a FIN and no SYN always may (it is no part of an ACK loop, and its ACK may carry a D-SACK); others at
    /// most once per <see cref="TcpProtocolOptions.InvalidSegmentReplyInterval"/>, so that two stacks that disagree
    /// about a connection cannot ping-pong ACKs and a forged flood draws a bounded reply.
    /// </summary>
    private bool InvalidReplyAllowed(in TcpSegment seg)
    {
        if ((seg.PayloadLength > 0 || seg.Has(TcpFlags.Fin)) && !seg.Has(TcpFlags.Syn))
        {
            return true;
        }
        TimeSpan interval = Protocol.Options.InvalidSegmentReplyInterval;
        TimeSpan now = Protocol.Now;
        if (_invalidReplied && now - _lastInvalidReply < interval)
        {
            Protocol.Events.Increment(TcpEvent.InvalidRepliesSuppressed);
            return false;
        }
        _invalidReplied = true;
        _lastInvalidReply = now;
        return true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.4 seventh: text in ESTABLISHED, FIN-WAIT-1 and FIN-WAIT-2 goes to the receiver (other
    /// states ignore it). Text for an application that closed is answered with RST (RFC 9293 §3.10.4 allows it;
    /// RFC 2525 §2.17): nobody will read it.
    /// </summary>
    private bool ProcessText(ref TcpSegment seg, in SegmentInWindow text)
    {
        if (text.Length == 0 || _state is not (TcpState.Established or TcpState.FinWait1 or TcpState.FinWait2))
        {
            return true;
        }
        if (_appClosed)
        {
            Protocol.Drops.Increment(TcpDropReason.DataAfterClose);
            SendReset();
            Terminate(SocketError.ConnectionReset);
            return false;
        }
        int delivered = _receiver.Accept(text.Seq, seg.Packet, text.Offset, text.Length, Protocol.Now, out bool delayedAckArmed);
        if (delayedAckArmed)
        {
            ArmTimer();
        }
        if (delivered > 0)
        {
            SignalReadable();
        }
        return true;
    }

    /// <summary>RFC 9293 §3.10.7.4 eighth: the FIN, taken once everything before it has arrived; the state follows.</summary>
    private void ProcessFin(in SegmentInWindow text)
    {
        if (text.Fin)
        {
            _receiver.NoteFin(text.Seq + text.Length);
        }
        if (!_receiver.FinReady)
        {
            return;
        }
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

    /// <summary>
    /// Whether <paramref name="seq"/>, quoted by an ICMP error, lies in SND.UNA..SND.NXT (RFC 5927 §4.1; both ends
    /// included, as Linux's <c>between(seq, snd_una, snd_nxt)</c>): only then can the error be about what we sent.
    /// </summary>
    internal bool IsInFlight(SequenceNumber seq)
    {
        lock (Gate)
        {
            return _state != TcpState.Closed && seq >= _sender.Una && seq <= _sender.Nxt;
        }
    }

    /// <summary>A hard ICMP error quoting our SYN (RFC 1122 §4.2.3.9): in SYN-SENT the connect fails as refused; later it is ignored (RFC 5461 §4.1).</summary>
    internal void OnHardIcmpError()
    {
        lock (Gate)
        {
            if (_state == TcpState.SynSent)
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
            int mss = Math.Max(MssForMtu(Route) - (_timestamps.Enabled ? 12 : 0), TcpSender.MinimumSendMss);
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
}
