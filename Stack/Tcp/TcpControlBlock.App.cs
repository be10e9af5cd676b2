// Layer: transport (TCP). The user calls of RFC 9293 §3.10 (OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS) as the
// API objects make them: each takes the connection's lock briefly and never holds it across a copy or I/O.
using System.Net.Sockets;
using System.Runtime.InteropServices;
using NetStack.Buffers;
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private readonly TaskCompletionSource<bool> _establishedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _appClosed;

    internal Task<bool> Established => _establishedSignal.Task;

    /// <summary>Active OPEN (RFC 9293 §3.10.1): send SYN, enter SYN-SENT.</summary>
    internal void StartActiveOpen()
    {
        lock (Gate)
        {
            _receiver.WindowScale = Options.WindowScaling ? TcpReceiver.OfferedScale(Options) : (byte)0;
            _state = TcpState.SynSent;
            Protocol.Stack.Telemetry.TcpStateChanged(Tuple, Protocol.Now - OpenedAt, TcpState.Closed, _state);
            Protocol.Events.Increment(TcpEvent.ActiveOpens);
            SendSyn(ack: false);
            ArmTimer();
        }
        Flush();
    }

    /// <summary>Passive open from a listener's SYN (RFC 9293 §3.10.7.2): enter SYN-RECEIVED and answer SYN-ACK.</summary>
    internal void StartPassiveOpen(in TcpRepr syn)
    {
        lock (Gate)
        {
            _receiver.OnSyn(syn.SequenceNumber);
            ApplyPeerSynOptions(syn);
            _sender.TakeSynWindow(syn.WindowSize, _receiver.Irs, _sender.Iss);
            _state = TcpState.SynReceived;
            Protocol.Stack.Telemetry.TcpStateChanged(Tuple, Protocol.Now - OpenedAt, TcpState.Closed, _state);
            _receiver.NoteSynAckSent();
            SendSyn(ack: true);
            ArmTimer();
        }
        Flush();
    }

    /// <summary>
    /// The state the cookie SYN-ACK would have made (RFC 4987 §3.6), rebuilt when its ACK arrives: SYN-RECEIVED
    /// with our SYN (ISS = the cookie) sent and the peer's options as the cookie gave them back. The caller then
    /// feeds the ACK, which moves the connection to ESTABLISHED as usual.
    /// </summary>
    internal void RestoreFromCookie(in TcpRepr syn)
    {
        lock (Gate)
        {
            _receiver.OnSyn(syn.SequenceNumber);
            ApplyPeerSynOptions(syn);
            _sender.RestoreSynSent(_receiver.Irs);
            _receiver.RestoreSynAck();
            _state = TcpState.SynReceived;
            Protocol.Stack.Telemetry.TcpStateChanged(Tuple, Protocol.Now - OpenedAt, TcpState.Closed, _state);
            _timestamps.IgnoreNextEcho(); // the cookie rewrote our TSval's low bits: its echo is no RTT sample
        }
    }

    /// <summary>
    /// RECEIVE (RFC 9293 §3.10.3): copies readable bytes into <paramref name="destination"/> — pieces are taken
    /// under the lock and copied after it is released. Returns the byte count; 0 with <paramref name="endOfStream"/>
    /// after the peer's FIN, or with <paramref name="wouldBlock"/> when nothing is readable yet.
    /// </summary>
    internal int Receive(Span<byte> destination, out bool endOfStream, out bool wouldBlock)
    {
        int total;
        RxPiece[] pieces;
        int count;
        lock (Gate)
        {
            if (NothingReadable(out endOfStream, out wouldBlock) || destination.IsEmpty)
            {
                return 0;
            }
            total = _receiver.BeginRead(destination.Length, out pieces, out count);
        }
        int copied = 0;
        for (int i = 0; i < count; i++)
        {
            ref RxPiece piece = ref pieces[i];
            piece.Packet.CopyTo(piece.Offset, destination.Slice(copied, piece.Length));
            copied += piece.Length;
            piece.Packet.Release();
            piece = default;
        }
        EndRead(total);
        return total;
    }

    /// <summary>
    /// RECEIVE by reference: adds the readable bytes (up to <paramref name="max"/>) to <paramref name="destination"/>
    /// as views of the pooled chunks the receive queue holds, for a scatter-gather write elsewhere — no copy. The
    /// bytes stay held, counted against the window, until <see cref="EndReceiveByReference"/>, which releases them
    /// and opens the window; one such read at a time, and no copying read meanwhile.
    /// </summary>
    internal int BeginReceiveByReference(IList<ArraySegment<byte>> destination, int max, out bool endOfStream, out bool wouldBlock)
    {
        int total;
        lock (Gate)
        {
            if (NothingReadable(out endOfStream, out wouldBlock) || max <= 0)
            {
                return 0;
            }
            total = _receiver.BeginRead(max, out _heldPieces, out _heldCount);
            _heldTotal = total;
        }
        for (int i = 0; i < _heldCount; i++)
        {
            AddViews(_heldPieces![i], destination);
        }
        return total;
    }

    /// <summary>Ends a <see cref="BeginReceiveByReference"/>: the held bytes are consumed, their chunks released, the window opens.</summary>
    internal void EndReceiveByReference()
    {
        RxPiece[]? pieces = _heldPieces;
        if (pieces is null)
        {
            return;
        }
        for (int i = 0; i < _heldCount; i++)
        {
            pieces[i].Packet.Release();
            pieces[i] = default;
        }
        int total = _heldTotal;
        _heldPieces = null;
        _heldCount = _heldTotal = 0;
        EndRead(total);
    }

    private RxPiece[]? _heldPieces; // a by-reference read in progress (one reader at a time: TcpReceiver.BeginRead)
    private int _heldCount;
    private int _heldTotal;

    /// <summary>The pieces of a packet's bytes [offset, +length) as array views (pooled chunks are arrays).</summary>
    private static void AddViews(in RxPiece piece, IList<ArraySegment<byte>> destination)
    {
        int offset = piece.Offset, length = piece.Length;
        PacketBuffer packet = piece.Packet;
        for (int f = 0; f < packet.FragmentCount && length > 0; f++)
        {
            Memory<byte> fragment = packet.GetFragmentMemory(f);
            if (offset >= fragment.Length)
            {
                offset -= fragment.Length;
                continue;
            }
            int take = Math.Min(fragment.Length - offset, length);
            if (!MemoryMarshal.TryGetArray((ReadOnlyMemory<byte>)fragment.Slice(offset, take), out ArraySegment<byte> view))
            {
                throw new InvalidOperationException("A packet fragment is not array-backed.");
            }
            destination.Add(view);
            length -= take;
            offset = 0;
        }
    }

    /// <summary>Under the lock: true when there is nothing to read now (end of stream, or not yet); throws a pending error.</summary>
    private bool NothingReadable(out bool endOfStream, out bool wouldBlock)
    {
        endOfStream = false;
        wouldBlock = false;
        if (_receiver.ReadyBytes != 0)
        {
            return false;
        }
        if (_error != SocketError.Success && _error != SocketError.Shutdown)
        {
            ThrowError();
        }
        endOfStream = _receiver.FinReceived || _state == TcpState.Closed;
        wouldBlock = !endOfStream;
        return true;
    }

    /// <summary>A reader finished with <paramref name="total"/> bytes: auto-tuning, and a window update when the read opened the window.</summary>
    private void EndRead(int total)
    {
        lock (Gate)
        {
            _receiver.EndRead(total);
            if (Options.BufferAutoTuning && !Protocol.Memory.UnderPressure && !Protocol.Memory.AboveHard)
            {
                TimeSpan rtt = _rtt.HasSample ? _rtt.SmoothedRtt : TimeSpan.FromMilliseconds(1);
                _receiver.TuneBuffer(total, Protocol.Now, rtt < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : rtt, Options.MaxReceiveBufferSize);
            }
            if (_state is not TcpState.Closed and not TcpState.SynSent and not TcpState.SynReceived && !_receiver.FinReceived && _receiver.WindowOpenedByRead())
            {
                SendAck(); // a window update (RFC 9293 §3.8.6.2.2)
            }
        }
        Flush();
    }

    /// <summary>
    /// SEND by reference: <paramref name="chunk"/>'s bytes join the send buffer without a copy, and the buffer owns
    /// the caller's reference. False (the caller keeps its reference) while the send buffer is full: its bound is the
    /// back-pressure, as for a copying send; the chunk may overshoot it once.
    /// </summary>
    internal bool SendByReference(PacketBuffer chunk)
    {
        lock (Gate)
        {
            ThrowIfCannotSend();
            if (SendSpace <= 0)
            {
                return false;
            }
            _sender.AppendChunk(chunk);
            Output();
            ArmTimer();
        }
        Flush();
        return true;
    }

    /// <summary>Lowers the MSS we announce (and use) to <paramref name="mss"/>, before the SYN-ACK: MSS clamping to a relayed path.</summary>
    internal void ClampMss(int mss)
    {
        lock (Gate)
        {
            _ourMss = Math.Max(Math.Min(mss, _ourMss), Math.Min(TcpSender.MinimumSendMss, _ourMss));
        }
    }

    /// <summary>SEND: copies up to the free send-buffer space; returns the bytes taken (0: the buffer is full).</summary>
    internal int Send(ReadOnlySpan<byte> data)
    {
        int total = 0;
        int sinceOutput = 0;
        while (total < data.Length)
        {
            Span<byte> region;
            lock (Gate)
            {
                ThrowIfCannotSend();
                int space = SendSpace;
                if (space <= 0)
                {
                    break;
                }
                region = _sender.Reserve(Math.Min(space, data.Length - total));
            }
            data.Slice(total, region.Length).CopyTo(region); // the one copy in: application → send buffer
            bool output;
            lock (Gate)
            {
                _sender.Commit(region.Length);
                total += region.Length;
                sinceOutput += region.Length;
                // One send opportunity per 64 KiB copied (or at the end), not per buffer chunk: super-segments
                // stay as large as GSO allows, and the first bytes still leave while the rest is copied.
                output = total == data.Length || sinceOutput >= MaxSendBurst || _sender.BufferSpace <= 0;
                if (output)
                {
                    sinceOutput = 0;
                    Output();
                    ArmTimer();
                }
            }
            if (output)
            {
                Flush();
            }
        }
        if (sinceOutput > 0)
        {
            lock (Gate)
            {
                Output();
                ArmTimer();
            }
            Flush();
        }
        return total;
    }

    /// <summary>Bytes copied into the send buffer before the next send opportunity (one full super-segment).</summary>
    private const int MaxSendBurst = 64 * 1024;

    private void ThrowIfCannotSend()
    {
        if (_error != SocketError.Success)
        {
            ThrowError();
        }
        if (_sender.FinQueued || _appClosed)
        {
            throw new IOException("The connection's send side is shut down.", new SocketException((int)SocketError.Shutdown));
        }
        if (_state is not (TcpState.Established or TcpState.CloseWait))
        {
            throw new IOException("The connection is not open.", new SocketException((int)SocketError.NotConnected));
        }
    }

    internal void ThrowError() => throw new IOException(_error switch
    {
        SocketError.ConnectionReset => "The connection was reset by the peer.",
        SocketError.ConnectionRefused => "The connection was refused.",
        SocketError.TimedOut => "The connection timed out.",
        SocketError.ConnectionAborted => "The connection was aborted.",
        _ => "The connection failed: " + _error,
    }, new SocketException((int)_error));

    /// <summary>CLOSE of the send side (RFC 9293 §3.10.4): queue FIN after the data.</summary>
    internal void ShutdownSend()
    {
        lock (Gate)
        {
            ShutdownSendLocked();
        }
        Flush();
    }

    private void ShutdownSendLocked()
    {
        if (_sender.FinQueued)
        {
            return;
        }
        switch (_state)
        {
            case TcpState.Established:
                _sender.QueueFin();
                SetState(TcpState.FinWait1);
                break;
            case TcpState.CloseWait:
                _sender.QueueFin();
                SetState(TcpState.LastAck);
                break;
            case TcpState.SynSent:
                Terminate(SocketError.ConnectionAborted); // RFC 9293 §3.10.4: delete the TCB
                return;
            default:
                return;
        }
        Output();
        ArmTimer();
    }

    /// <summary>The application is done with the connection: graceful close, or RST when unread data would be lost.</summary>
    internal void Close()
    {
        lock (Gate)
        {
            if (_appClosed)
            {
                return;
            }
            _appClosed = true;
            if (_state == TcpState.Closed)
            {
                _receiver.Clear();
                RechargeMemory();
                return;
            }
            if (_receiver.ReadyBytes > 0 && _state is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.FinWait2)
            {
                // RFC 2525 §2.17: closing with unread data sends RST so the peer knows it was not read.
                SendReset();
                Terminate(SocketError.ConnectionAborted);
            }
            else
            {
                ShutdownSendLocked();
                if (_state == TcpState.FinWait2)
                {
                    _closeDeadline = Protocol.Now + Protocol.Options.FinWait2Timeout;
                    ArmTimer();
                }
                _receiver.Clear();
                BecomeOrphan();
            }
            SignalAll(); // a pending read or write sees the disposed stream (NetworkStream semantics)
        }
        Flush();
    }

    /// <summary>ABORT (RFC 9293 §3.10.5): RST in a synchronized state, then delete the TCB.</summary>
    internal void Abort()
    {
        lock (Gate)
        {
            _appClosed = true;
            if (_state == TcpState.Closed)
            {
                _receiver.Clear();
                RechargeMemory();
                return;
            }
            if (_state is not (TcpState.SynSent or TcpState.TimeWait))
            {
                SendReset();
            }
            Terminate(SocketError.ConnectionAborted);
            _receiver.Clear();
        }
        Flush();
    }

    /// <summary>Completes when data, EOF or an error can be read.</summary>
    internal ValueTask WaitReadableAsync(CancellationToken cancellationToken)
    {
        lock (Gate)
        {
            if (_receiver.ReadyBytes > 0 || _receiver.FinReceived || _state == TcpState.Closed || _error != SocketError.Success)
            {
                return ValueTask.CompletedTask;
            }
            return _readWaiter.Arm(cancellationToken);
        }
    }

    /// <summary>Completes when send-buffer space frees up, or the connection can no longer send.</summary>
    internal ValueTask WaitWritableAsync(CancellationToken cancellationToken)
    {
        lock (Gate)
        {
            if (SendSpace > 0 || _state is not (TcpState.Established or TcpState.CloseWait) || _error != SocketError.Success)
            {
                return ValueTask.CompletedTask;
            }
            return _writeWaiter.Arm(cancellationToken);
        }
    }

    /// <summary>Blocks the calling thread until data, EOF or an error can be read (synchronous Stream.Read).</summary>
    internal void WaitReadable()
    {
        lock (Gate)
        {
            if (_receiver.ReadyBytes > 0 || _receiver.FinReceived || _state == TcpState.Closed || _error != SocketError.Success)
            {
                return;
            }
            _readWaiter.ArmBlocking();
        }
        _readWaiter.Block();
    }

    /// <summary>Blocks the calling thread until send-buffer space frees up or the connection can no longer send (synchronous Stream.Write).</summary>
    internal void WaitWritable()
    {
        lock (Gate)
        {
            if (SendSpace > 0 || _state is not (TcpState.Established or TcpState.CloseWait) || _error != SocketError.Success)
            {
                return;
            }
            _writeWaiter.ArmBlocking();
        }
        _writeWaiter.Block();
    }

    /// <summary>
    /// Room for the application's bytes: the send buffer's, and above the TCP memory budget's hard limit only up to
    /// the buffer's set size (Linux's sk_wmem_schedule fails there, and the writer waits for its ACKs).
    /// </summary>
    private int SendSpace
    {
        get
        {
            int space = _sender.BufferSpace;
            return space > 0 && Protocol.Memory.AboveHard ? Math.Min(space, Options.SendBufferSize - _sender.Buffered) : space;
        }
    }

    private void SignalReadable() => _readWaiter.Set();

    private void SignalWritable() => _writeWaiter.Set();

    private void SignalAll()
    {
        SignalReadable();
        SignalWritable();
    }

    /// <summary>Turns Nagle's algorithm off (true) or on; turning it off sends what Nagle held back.</summary>
    internal void SetNoDelay(bool noDelay)
    {
        lock (Gate)
        {
            if (Options.NoDelay == noDelay)
            {
                return;
            }
            Options = Options with { NoDelay = noDelay };
            Output();
            ArmTimer();
        }
        Flush();
    }

    /// <summary>Turns keepalive probes on or off; the idle time counts from the last segment received.</summary>
    internal void SetKeepAlive(bool keepAlive)
    {
        lock (Gate)
        {
            if (Options.KeepAlive == keepAlive)
            {
                return;
            }
            Options = Options with { KeepAlive = keepAlive };
            _keepaliveProbes = 0;
            _keepaliveDeadline = keepAlive && _state is TcpState.Established or TcpState.CloseWait ? _lastReceived + Options.KeepAliveIdle : Never;
            ArmTimer();
        }
    }

    /// <summary>A snapshot of the connection's counters and variables.</summary>
    internal TcpConnectionStatistics GetStatistics()
    {
        lock (Gate)
        {
            return new TcpConnectionStatistics
            {
                State = _state,
                SmoothedRtt = _rtt.SmoothedRtt,
                RttVariance = _rtt.RttVariance,
                RetransmissionTimeout = _rtt.Rto,
                CongestionWindow = _cc.CongestionWindow,
                SlowStartThreshold = _cc.SlowStartThreshold,
                CongestionControl = _cc.Algorithm,
                SendBufferSize = _sender.BufferLimit,
                ReceiveBufferSize = _receiver.BufferLimit,
                SendWindow = _sender.Window,
                ReceiveWindow = _receiver.Window,
                MaxSegmentSize = _sender.Mss,
                BytesSent = _counters.BytesSent,
                BytesReceived = _counters.BytesReceived,
                BytesRetransmitted = _counters.BytesRetransmitted,
                SegmentsSent = _counters.SegmentsSent,
                SegmentsReceived = _counters.SegmentsReceived,
                Retransmissions = _counters.Retransmissions,
                Timeouts = _counters.Timeouts,
                FastRetransmits = _counters.Recoveries, // each fast recovery begins with one fast retransmit
                Recoveries = _counters.Recoveries,
                LossProbes = _counters.LossProbes,
                DuplicateSacks = _counters.DuplicateSacks,
                SackedBytes = _scoreboard.SackedBytes,
                LostBytes = _scoreboard.LostBytes,
                WindowScaling = _windowScaling,
                Timestamps = _timestamps.Enabled,
                Sack = _sack,
                SendQueued = _sender.Buffered,
                ReceiveQueued = _receiver.ReadyBytes,
            };
        }
    }
}
