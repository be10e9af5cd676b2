// Layer: transport (TCP). A listening endpoint (RFC 9293 §3.10.7.2): answers SYNs with SYN-ACK, holds
// half-open and established-but-unaccepted connections up to its backlog, hands them to AcceptAsync.
using System.Net;
using System.Threading.Channels;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

/// <summary>
/// Accepts TCP connections on a local port, like <c>System.Net.Sockets.TcpListener</c>. The backlog bounds
/// half-open plus unaccepted connections; SYNs past it are dropped and counted
/// (<see cref="TcpDropReason.ListenOverflow"/>). Dispose to stop listening; unaccepted connections are reset.
/// </summary>
public sealed class TcpConnectionListener : IDisposable
{
    private readonly TcpProtocol _tcp;
    private readonly Channel<TcpConnection> _accepted;
    private readonly HashSet<TcpControlBlock> _pending = [];
    private readonly Lock _gate = new();
    private bool _disposed;
    private long _lastCookieTicks = long.MinValue; // TcpProtocol.Now of the last cookie sent
    private int _children;                         // its connections in the protocol's table, accepted or not

    internal TcpConnectionListener(TcpProtocol tcp, NetAddress address, ushort port, int backlog, TcpConnectionOptions options)
    {
        _tcp = tcp;
        Address = address;
        Port = port;
        Backlog = backlog;
        ConnectionOptions = options;
        _accepted = Channel.CreateUnbounded<TcpConnection>(new UnboundedChannelOptions { SingleReader = false, SingleWriter = false });
    }

    internal NetAddress Address { get; }

    internal ushort Port { get; }

    internal TcpConnectionOptions ConnectionOptions { get; }

    /// <summary>Most half-open plus unaccepted connections.</summary>
    public int Backlog { get; }

    /// <summary>The local end point listened on.</summary>
    public IPEndPoint LocalEndPoint => new(Address.IsNone ? IPAddress.IPv6Any : Address.ToIPAddress(), Port);

    /// <summary>Connections established and waiting for <see cref="AcceptAsync"/>.</summary>
    public int Pending => _accepted.Reader.Count;

    /// <summary>Waits for an established connection. Throws <see cref="ObjectDisposedException"/> once the listener is disposed.</summary>
    public async ValueTask<TcpConnection> AcceptAsync(CancellationToken cancellationToken = default)
    {
        while (await _accepted.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (TryAccept(out TcpConnection? connection))
            {
                return connection;
            }
        }
        throw new ObjectDisposedException(nameof(TcpConnectionListener));
    }

    /// <summary>Takes an established connection without waiting (for deterministic drivers).</summary>
    public bool TryAccept([System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out TcpConnection? connection)
    {
        while (_accepted.Reader.TryRead(out connection))
        {
            lock (_gate)
            {
                _pending.Remove(connection.ControlBlock);
            }
            return true;
        }
        connection = null;
        return false;
    }

    /// <summary>Stops listening and resets connections not yet accepted.</summary>
    public void Dispose()
    {
        TcpControlBlock[] pending;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            pending = [.. _pending];
            _pending.Clear();
        }
        _tcp.RemoveListener(this);
        _accepted.Writer.TryComplete();
        while (_accepted.Reader.TryRead(out _))
        {
        }
        foreach (TcpControlBlock tcb in pending)
        {
            tcb.Abort();
        }
    }

    /// <summary>A segment for no connection on this port (RFC 9293 §3.10.7.2).</summary>
    internal void OnSegment(in IpPacketInfo info, ref TcpSegment segment, SequenceNumber? issFloor = null)
    {
        TcpFlags flags = segment.Header.Flags;
        if ((flags & TcpFlags.Rst) != 0)
        {
            _tcp.Drops.Increment(TcpDropReason.ListenerIgnored); // first: ignore RST
            return;
        }
        if ((flags & TcpFlags.Ack) != 0)
        {
            if ((flags & TcpFlags.Syn) == 0 && TryAcceptCookie(info, ref segment))
            {
                return;
            }
            _tcp.Drops.Increment(TcpDropReason.NoConnection); // second: ACK → <SEQ=SEG.ACK><CTL=RST>
            _tcp.SendResetFor(info, segment);
            return;
        }
        if ((flags & TcpFlags.Syn) == 0)
        {
            _tcp.Drops.Increment(TcpDropReason.ListenerIgnored);
            return;
        }
        OnSyn(info, segment.Header, issFloor);
    }

    /// <summary>
    /// RFC 9293 §3.10.7.2 third: a SYN opens a half-open connection (SYN-RECEIVED, answered with SYN-ACK), or
    /// with SYN cookies (RFC 4987 §3.6) is answered with no state kept; past the backlog it is dropped.
    /// </summary>
    private void OnSyn(in IpPacketInfo info, in TcpRepr syn, SequenceNumber? issFloor)
    {
        TcpControlBlock? tcb;
        TcpSynCookieMode cookies = _tcp.Options.SynCookies;
        lock (_gate)
        {
            if (_disposed)
            {
                _tcp.Drops.Increment(TcpDropReason.ListenOverflow);
                return;
            }
            if (cookies == TcpSynCookieMode.Always || (_pending.Count >= Backlog && cookies == TcpSynCookieMode.WhenBacklogFull))
            {
                tcb = null; // answered below, outside the lock, with no state kept
            }
            else if (_pending.Count >= Backlog)
            {
                _tcp.Drops.Increment(TcpDropReason.ListenOverflow);
                return;
            }
            else
            {
                tcb = _tcp.CreatePassive(this, info, syn, issFloor);
                if (tcb is null)
                {
                    return; // counted by reason
                }
                _pending.Add(tcb);
            }
        }
        if (tcb is null)
        {
            Volatile.Write(ref _lastCookieTicks, _tcp.Now.Ticks);
            _tcp.SendSynCookie(info, syn, ConnectionOptions);
            return;
        }
        tcb.StartPassiveOpen(syn); // text in a SYN is not queued
    }

    /// <summary>
    /// An ACK for no connection: the end of a cookie handshake when SEG.ACK − 1 is a cookie we made for this
    /// 4-tuple and SEG.SEQ − 1 (RFC 4987 §3.6). Returns false (the caller resets) when it is not. Only a listener
    /// that sent a cookie within a cookie's lifetime checks at all (Linux's tcp_synq_no_recent_overflow): before,
    /// every bare ACK would be a free guess at a cookie.
    /// </summary>
    private bool TryAcceptCookie(in IpPacketInfo info, ref TcpSegment segment)
    {
        long lastCookie = Volatile.Read(ref _lastCookieTicks);
        if (_tcp.Options.SynCookies == TcpSynCookieMode.Never || (segment.Header.Flags & TcpFlags.Rst) != 0
            || lastCookie == long.MinValue || _tcp.Now.Ticks - lastCookie > TcpSynCookies.ValidFor.Ticks)
        {
            return false;
        }
        TcpRepr ack = segment.Header;
        var tuple = new TcpFourTuple(info.Destination, ack.DestinationPort, info.Source, ack.SourcePort);
        uint iss = unchecked(ack.AcknowledgmentNumber - 1);
        uint peerIsn = unchecked(ack.SequenceNumber - 1);
        if (!_tcp.Cookies.TryCheck(tuple, iss, peerIsn, out int mss))
        {
            _tcp.Drops.Increment(TcpDropReason.BadSynCookie);
            return false;
        }
        TcpRepr syn = CookieSyn(ack, peerIsn, mss);
        TcpControlBlock? tcb;
        lock (_gate)
        {
            if (_disposed || _accepted.Reader.Count >= Backlog)
            {
                _tcp.Drops.Increment(TcpDropReason.ListenOverflow); // the accept queue is full: the peer retries
                return true;
            }
            tcb = _tcp.CreatePassive(this, info, syn, issFloor: null, cookieIss: new SequenceNumber(iss));
            if (tcb is null)
            {
                return true; // counted by reason
            }
            _pending.Add(tcb);
        }
        _tcp.Events.Increment(TcpEvent.SynCookiesAccepted);
        tcb.RestoreFromCookie(syn);
        tcb.OnSegment(ref segment);
        return true;
    }

    /// <summary>The SYN as a valid cookie remembers it: timestamps only if the ACK carries them (then its TSecr holds the options).</summary>
    private TcpRepr CookieSyn(in TcpRepr ack, uint peerIsn, int mss)
    {
        var syn = new TcpRepr
        {
            SourcePort = ack.SourcePort,
            DestinationPort = ack.DestinationPort,
            SequenceNumber = peerIsn,
            Flags = TcpFlags.Syn,
            MaxSegmentSize = (ushort)mss,
        };
        if (ack.Timestamps is TcpTimestamps ts && ConnectionOptions.Timestamps)
        {
            (byte? scale, bool sack) = TcpSynCookies.DecodeTimestamp(ts.Echo);
            syn.WindowScale = scale;
            syn.SackPermitted = sack;
            syn.Timestamps = new TcpTimestamps(ts.Value, 0);
        }
        return syn;
    }

    /// <summary>A passive connection reached ESTABLISHED: queue it for accept. Called under the connection's lock.</summary>
    internal void OnEstablished(TcpControlBlock tcb)
    {
        var connection = new TcpConnection(tcb);
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }
        }
        _accepted.Writer.TryWrite(connection);
    }

    /// <summary>Counts one more connection of this listener in the table; false when it holds <paramref name="limit"/>.</summary>
    internal bool TryAddChild(int limit)
    {
        if (Interlocked.Increment(ref _children) > limit)
        {
            Interlocked.Decrement(ref _children);
            return false;
        }
        return true;
    }

    /// <summary>One of its connections left the table.</summary>
    internal void OnChildGone() => Interlocked.Decrement(ref _children);

    /// <summary>A half-open connection died (RST, timeout) before it was established.</summary>
    internal void OnHalfOpenGone(TcpControlBlock tcb)
    {
        lock (_gate)
        {
            _pending.Remove(tcb);
        }
    }
}
