// Layer: transport (TCP). One clock timer per connection (through the stack's TimeProvider) serving every
// deadline: retransmission (RFC 6298 §5) or persist (RFC 9293 §3.8.6.1), delayed ACK (RFC 9293 §3.8.6.3),
// keepalive (RFC 1122 §4.2.3.6), FIN-WAIT-2 timeout, TIME-WAIT (RFC 9293 §3.10.7.4, 2·MSL) — and the limits
// that make each of them end (docs/ARCHITECTURE.md §6): retransmissions and unanswered probes (tcp_retries2),
// orphans (tcp_orphan_retries, tcp_max_orphans) and the user timeout (RFC 5482, TCP_USER_TIMEOUT).
using System.Net.Sockets;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private static readonly TimeSpan Never = TimeSpan.MaxValue;

    private readonly ITimer _timer;
    private TimeSpan _armedDue = Never;
    private TimeSpan _rtxDeadline = Never;     // retransmission or persist
    private TimeSpan _keepaliveDeadline = Never;
    private TimeSpan _closeDeadline = Never;   // FIN-WAIT-2 timeout or the end of TIME-WAIT
    private int _retries;
    private bool _persisting;
    private TimeSpan _persistInterval;
    private int _probesUnanswered;            // zero-window probes since the peer last sent anything
    private int _probesSent;                  // zero-window probes since the window closed
    private TimeSpan _stalledSince;           // when the data now retransmitted was sent, or the window closed
    private bool _orphan;                     // closed by the application, not yet gone (counted in Limits.Orphans)
    private int _keepaliveProbes;
    private TimeSpan _lastReceived;

    /// <summary>(Re)starts the retransmission timer: RTO from now (RFC 6298 §5.1, §5.3).</summary>
    private void ArmRetransmit()
    {
        _rtxDeadline = Protocol.Now + _rtt.Rto;
        ArmTimer();
    }

    /// <summary>Stops the retransmission timer: nothing is in flight (RFC 6298 §5.2).</summary>
    private void StopRetransmit()
    {
        _rtxDeadline = Never;
        _retries = 0;
    }

    /// <summary>The peer's window is zero with data to send: probe it, first after one RTO (RFC 9293 §3.8.6.1).</summary>
    private void StartPersist()
    {
        if (_persisting)
        {
            return;
        }
        _persisting = true;
        _probesUnanswered = _probesSent = 0;
        _stalledSince = Protocol.Now;
        _persistInterval = _rtt.Rto;
        _rtxDeadline = Protocol.Now + _persistInterval;
        ArmTimer();
    }

    /// <summary>The window opened: no more probes.</summary>
    private void StopPersist()
    {
        if (_persisting)
        {
            _persisting = false;
            _rtxDeadline = Never;
        }
    }

    /// <summary>Sets the clock timer to the earliest deadline; a later deadline is left for the early firing to re-arm (cheap on every ACK).</summary>
    private void ArmTimer()
    {
        TimeSpan due = _rtxDeadline;
        due = _receiver.DelayedAckDeadline < due ? _receiver.DelayedAckDeadline : due;
        due = _keepaliveDeadline < due ? _keepaliveDeadline : due;
        due = _closeDeadline < due ? _closeDeadline : due;
        TimeSpan recovery = _recovery.NextDeadline;
        due = recovery < due ? recovery : due;
        due = _sender.Link.RetryDeadline < due ? _sender.Link.RetryDeadline : due;
        if (due == Never)
        {
            return;
        }
        TimeSpan now = Protocol.Now; // one clock read per arming
        if (due >= _armedDue && _armedDue != Never && _armedDue >= now)
        {
            return;
        }
        _armedDue = due;
        TimeSpan delay = due - now;
        _timer.Change(delay > TimeSpan.Zero ? delay : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    /// <summary>The clock timer's callback: TCP's timer boundary (docs/ARCHITECTURE.md §6, <see cref="OnTimerFault"/>).</summary>
    private void OnTimer()
    {
        try
        {
            RunTimer();
        }
        catch (Exception e) when (Diagnostics.FaultLog.Catches(e))
        {
            OnTimerFault(e);
        }
    }

    private void RunTimer()
    {
        lock (Gate)
        {
            if (_state == TcpState.Closed)
            {
                return;
            }
            _armedDue = Never;
            if (RunDueTimers(Protocol.Now))
            {
                ArmTimer();
            }
        }
        Flush();
    }

    /// <summary>Runs what is due, in a fixed order. Returns false when the connection ended.</summary>
    private bool RunDueTimers(TimeSpan now)
    {
        if (_closeDeadline <= now)
        {
            _closeDeadline = Never;
            if (_state is TcpState.TimeWait or TcpState.FinWait2)
            {
                Terminate(SocketError.Success); // 2·MSL passed, or the FIN-WAIT-2 timeout
                return false;
            }
        }
        if (_recovery.ProbeDeadline <= now)
        {
            _recovery.CancelProbe();
            OnLossProbe(); // before the RTO: a probe due with it goes in its place and re-arms it
        }
        if (_rtxDeadline <= now)
        {
            _rtxDeadline = Never;
            if (_persisting)
            {
                OnPersistTimeout();
            }
            else
            {
                OnRetransmissionTimeout();
            }
            if (_state == TcpState.Closed)
            {
                return false;
            }
        }
        if (_sender.Link.RetryDeadline <= now)
        {
            _sender.Link.Resume();
            Output();
        }
        if (_recovery.ReorderDeadline <= now)
        {
            _recovery.OnReorderTimeout(_sender.Una, _sender.Nxt, _sender.Mss, now); // RFC 8985 §6.3: the reordering window ran out
            Output();
        }
        if (_receiver.DelayedAckDeadline <= now)
        {
            _receiver.CancelDelayedAck();
            SendAck();
        }
        if (_keepaliveDeadline <= now)
        {
            OnKeepalive(now);
        }
        return _state != TcpState.Closed;
    }

    /// <summary>
    /// RFC 6298 §5.4–§5.7 and RFC 5681 §3.1: back off, collapse cwnd to the loss window, deem everything not
    /// SACKed lost (RFC 6675 §5.1) and resend it from SND.UNA as slow start allows.
    /// </summary>
    private void OnRetransmissionTimeout()
    {
        if (_sender.Nxt == _sender.Una)
        {
            if (CanSendData(_state) && DataEnd > _sender.Nxt)
            {
                Output(overrideSws: true); // RFC 9293 §3.8.6.2.1 override timeout
            }
            return;
        }
        _retries++;
        _counters.Timeout();
        if (_retries == 1)
        {
            _stalledSince = Protocol.Now - _rtt.Rto;
        }
        bool synchronizing = _state is TcpState.SynSent or TcpState.SynReceived;
        int limit = synchronizing ? Protocol.Options.MaxSynRetransmissions : _orphan ? Protocol.Options.OrphanRetries : Protocol.Options.MaxRetransmissions;
        if (_retries > limit)
        {
            Protocol.Events.Increment(_orphan ? TcpEvent.OrphansDropped : TcpEvent.RetransmissionLimit);
            Terminate(SocketError.TimedOut); // RFC 1122 §4.2.3.5 R2
            return;
        }
        if (!synchronizing && UserTimeoutPassed())
        {
            return;
        }
        _rtt.Backoff();
        _rtt.CancelTiming();
        switch (_state)
        {
            case TcpState.SynSent:
                SendSyn(ack: false);
                break;
            case TcpState.SynReceived:
                SendSyn(ack: true);
                break;
            default:
                _recovery.OnRetransmissionTimeout(_sender.Una, _sender.Nxt, _retries, Protocol.Now);
                Output();
                break;
        }
        ArmRetransmit();
    }

    /// <summary>
    /// A zero-window probe: one byte beyond the window (RFC 9293 §3.8.6.1), backing off. As Linux's
    /// tcp_probe_timer: a connection gives up after tcp_retries2 probes the peer did not answer (RFC 9293
    /// §3.8.6.1 lets a TCP abort when the peer stops answering), an orphan after tcp_orphan_retries probes
    /// answered or not, any connection once the user timeout has passed since the window closed.
    /// </summary>
    private void OnPersistTimeout()
    {
        if (!CanSendData(_state) || DataEnd == _sender.Una)
        {
            _persisting = false;
            return;
        }
        if (_orphan ? _probesSent >= Protocol.Options.OrphanRetries : _probesUnanswered >= Protocol.Options.MaxRetransmissions)
        {
            Protocol.Events.Increment(_orphan ? TcpEvent.OrphansDropped : TcpEvent.PersistLimit);
            Protocol.Limits.Timeouts.Hit();
            Terminate(SocketError.TimedOut);
            return;
        }
        if (UserTimeoutPassed())
        {
            return;
        }
        _probesUnanswered++;
        _probesSent++;
        Protocol.Events.Increment(TcpEvent.WindowProbes);
        if (_sender.Nxt > _sender.Una)
        {
            RetransmitRange(_sender.Una, 1, fin: false); // the previous probe's byte, not yet accepted
        }
        else
        {
            SendData(1, fin: false);
        }
        _persistInterval = _persistInterval * 2 > Protocol.Options.MaxPersistInterval ? Protocol.Options.MaxPersistInterval : _persistInterval * 2;
        _rtxDeadline = Protocol.Now + _persistInterval;
    }

    /// <summary>RFC 1122 §4.2.3.6: after idle time, a segment with SEG.SEQ = SND.NXT − 1 elicits an ACK.</summary>
    private void OnKeepalive(TimeSpan now)
    {
        if (!Options.KeepAlive || _state is not (TcpState.Established or TcpState.CloseWait))
        {
            _keepaliveDeadline = Never;
            return;
        }
        if (_keepaliveProbes >= Options.KeepAliveProbes)
        {
            Terminate(SocketError.TimedOut);
            return;
        }
        _keepaliveProbes++;
        Protocol.Events.Increment(TcpEvent.KeepaliveProbes);
        EmitSegment(_sender.Nxt - 1, Wire.TcpFlags.Ack, 0, 0);
        _keepaliveDeadline = now + Options.KeepAliveInterval;
    }

    /// <summary>
    /// RFC 5482 (TCP_USER_TIMEOUT): when data has waited for an acknowledgment, or behind a zero window, longer
    /// than the user timeout, the connection ends with TimedOut. True when it did.
    /// </summary>
    private bool UserTimeoutPassed()
    {
        if (Options.UserTimeout <= TimeSpan.Zero || Protocol.Now - _stalledSince < Options.UserTimeout)
        {
            return false;
        }
        Protocol.Events.Increment(TcpEvent.UserTimeout);
        Protocol.Limits.Timeouts.Hit();
        Terminate(SocketError.TimedOut);
        return true;
    }

    /// <summary>
    /// The application closed a connection that still has a FIN or data to deliver: it is an orphan now, bounded
    /// by tcp_orphan_retries; beyond tcp_max_orphans it is reset at once (Linux's tcp_close under
    /// tcp_too_many_orphans).
    /// </summary>
    private void BecomeOrphan()
    {
        if (_orphan || _state is TcpState.Closed or TcpState.TimeWait)
        {
            return;
        }
        _orphan = true;
        if (Protocol.Limits.AddOrphan() > Protocol.Options.MaxOrphans)
        {
            Protocol.Events.Increment(TcpEvent.OrphansDropped);
            Protocol.Limits.Timeouts.Hit();
            SendReset();
            Terminate(SocketError.ConnectionAborted);
        }
    }

    /// <summary>The orphan is gone (closed, or in TIME-WAIT).</summary>
    private void EndOrphan()
    {
        if (_orphan)
        {
            _orphan = false;
            Protocol.Limits.RemoveOrphan();
        }
    }

    /// <summary>A segment arrived: the connection is alive.</summary>
    private void NoteReceived()
    {
        _lastReceived = Protocol.Now;
        _keepaliveProbes = 0;
        _probesUnanswered = 0;
        if (Options.KeepAlive && _state is TcpState.Established or TcpState.CloseWait)
        {
            _keepaliveDeadline = _lastReceived + Options.KeepAliveIdle;
        }
    }
}
