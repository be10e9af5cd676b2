// Layer: transport (TCP), send side: segmentization under the send window and congestion window, Nagle
// (RFC 9293 §3.7.4) and sender-side SWS avoidance (RFC 9293 §3.8.6.2.1), FIN, and the segment builder.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    private long _bytesSent;
    private long _bytesRetransmitted;
    private long _segmentsSent;
    private long _retransmits;

    /// <summary>Sequence number just past the application's data (where our FIN goes).</summary>
    private SequenceNumber DataEnd => _sndUna + _sendBuffer.Length + (_state is TcpState.SynSent or TcpState.SynReceived ? 1 : 0);

    private bool FinSent => _finQueued && _sndMax == DataEnd + 1;

    private static bool CanSendData(TcpState state) =>
        state is TcpState.Established or TcpState.CloseWait or TcpState.FinWait1 or TcpState.Closing or TcpState.LastAck;

    /// <summary>
    /// Sends what the windows allow (RFC 9293 §3.8.6.2.1, RFC 5681 §3.1): first what is marked lost, then new
    /// data, within min(peer window, cwnd − pipe) (RFC 6675 §5). The caller holds the lock.
    /// </summary>
    private void Output()
    {
        if (!CanSendData(_state) || _linkBlocked)
        {
            return;
        }
        // The segmentation decision, once per send opportunity (ARCHITECTURE.md §2 outbound step 2): one MSS, or with GSO
        // the most whole segments a 64 KiB super-segment holds.
        int mss = CurrentMss;
        int maxChunk = MaxSuperSegmentPayload(mss);
        int linkRoom = Route.Nic.Link.OutboundSpace - _outbox.Count;
        if (!RetransmitLost(mss, maxChunk, ref linkRoom))
        {
            _cwndLimited = !_linkBlocked;
            return; // the window (or the link) is spent on repairs
        }
        SequenceNumber dataEnd = DataEnd;
        bool cwndLimited = false;
        while (true)
        {
            int available = dataEnd - _sndNxt;
            long receiveRoom = _sndWnd - (_sndNxt - _sndUna);
            long congestionRoom = _cc.CongestionWindow - Pipe;
            long usable = Math.Min(receiveRoom, congestionRoom);
            bool finPending = _finQueued && _sndNxt <= dataEnd;
            if (available <= 0)
            {
                if (finPending && _sndNxt == dataEnd)
                {
                    SendData(_sndNxt, 0, fin: true); // FIN takes no window (it is one sequence number)
                }
                break;
            }
            int length = (int)Math.Min(Math.Min(available, maxChunk), Math.Max(usable, 0));
            if (length > mss && length % mss != 0)
            {
                // The short last segment of a super-segment follows full ones, so it is never sent "idle": it goes
                // only where Nagle and SWS avoidance would let it go after them, as it would without GSO.
                int tail = length % mss;
                bool tailIsEnd = length == available;
                if (!tailIsEnd || !(finPending || Options.NoDelay || tail >= _maxSndWnd / 2 || _overrideSws))
                {
                    length -= tail;
                }
            }
            if (length < mss && length < available && congestionRoom < receiveRoom && congestionRoom < mss)
            {
                cwndLimited = true; // the congestion window, not the peer or the application, stopped us
            }
            if (length <= 0)
            {
                if (_sndWnd == 0 && _sndMax == _sndUna)
                {
                    StartPersist(); // RFC 9293 §3.8.6.1: probe a zero window
                }
                break;
            }
            bool fin = finPending && length == available;
            if (length < mss && !fin)
            {
                // Nagle: with data in flight, wait for an ACK before sending a small segment (unless NoDelay).
                // SWS: a small segment goes only if it empties the queue, or is at least half the peer's largest window.
                bool idle = _sndNxt == _sndUna;
                bool allQueued = length == available;
                if (!((allQueued && (idle || Options.NoDelay)) || length >= _maxSndWnd / 2 || _overrideSws))
                {
                    if (_sndMax == _sndUna && !_persisting && _rtxDeadline == Never)
                    {
                        ArmRetransmit(); // window-limited: the override timer (RFC 9293 §3.8.6.2.1) resends later
                    }
                    break;
                }
            }
            if (!TakeLinkRoom(ref linkRoom))
            {
                break;
            }
            SendData(_sndNxt, length, fin);
        }
        // RFC 7661 in spirit (Linux's is_cwnd_limited): the window grows only while it is what limits the flight.
        _cwndLimited = cwndLimited || Pipe >= _cc.CongestionWindow - mss;
        ArmLossProbe();
    }

    /// <summary>
    /// Payload of the largest segment we hand the link: with GSO (host or software) as many whole MSS-sized
    /// segments as fit a 64 KiB IP packet with the largest headers, else one MSS.
    /// </summary>
    private int MaxSuperSegmentPayload(int mss)
    {
        ILinkEndpoint link = Route.Nic.Link;
        if (link.SupportedGso == GsoSupport.None || link.GsoMaxSize <= 0)
        {
            return mss;
        }
        int headers = (Tuple.RemoteAddress.IsV4 ? Ipv4Header.MinLength : Ipv6Header.Length) + TcpHeader.MaxLength;
        int room = Math.Min(link.GsoMaxSize, ushort.MaxValue) - headers;
        return Math.Max(mss, room / mss * mss);
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

    /// <summary>Sends <paramref name="length"/> new bytes at <paramref name="seq"/> (= SND.NXT), with FIN when asked, and records them in flight.</summary>
    private void SendData(SequenceNumber seq, int length, bool fin)
    {
        int segmentSize = CurrentMss;
        if (!EmitSegment(seq, DataFlags(seq, length, fin), seq - _sndUna, length, segmentSize))
        {
            return;
        }
        int sequenceLength = length + (fin ? 1 : 0);
        _sent.Append(seq, sequenceLength, Protocol.Now.Ticks, fin, segmentSize);
        _bytesSent += length;
        _sndNxt = seq + sequenceLength;
        if (_sndNxt > _sndMax)
        {
            _sndMax = _sndNxt;
        }
        if (_rtxDeadline == Never && !_persisting)
        {
            ArmRetransmit();
        }
    }

    /// <summary>Sends our SYN (active open) or SYN-ACK (passive or simultaneous open).</summary>
    private void SendSyn(bool ack)
    {
        EmitSegment(_iss, ack ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, 0, 0);
        if (_sndMax == _iss)
        {
            _sndNxt = _sndMax = _iss + 1;
            _rttTiming = true;
            _rttSequence = _iss;
            _rttStart = Protocol.Now;
        }
        else
        {
            _rttTiming = false; // Karn
        }
        if (_rtxDeadline == Never)
        {
            ArmRetransmit();
        }
    }

    /// <summary>An ACK now: &lt;SEQ=SND.NXT&gt;&lt;ACK=RCV.NXT&gt;&lt;CTL=ACK&gt;.</summary>
    private void SendAck() => EmitSegment(AcceptableSequence, TcpFlags.Ack, 0, 0);

    /// <summary>
    /// The sequence number for a segment without text: the highest sent (SND.NXT may have gone back after an
    /// RTO, and the peer would find an older number unacceptable), but never past the peer's window.
    /// </summary>
    private SequenceNumber AcceptableSequence
    {
        get
        {
            SequenceNumber windowEnd = _sndUna + (int)Math.Min(_sndWnd, int.MaxValue / 2);
            return _sndMax <= windowEnd ? _sndMax : SequenceNumber.Max(windowEnd, _sndNxt);
        }
    }

    /// <summary>A challenge ACK (RFC 5961 §3.2, §4.2), subject to the protocol-wide rate limit (§7).</summary>
    private void SendChallengeAck()
    {
        if (Protocol.TryTakeChallengeAck())
        {
            Protocol.Events.Increment(TcpEvent.ChallengeAcks);
            SendAck();
        }
        else
        {
            Protocol.Events.Increment(TcpEvent.ChallengeAcksSuppressed);
        }
    }

    /// <summary>A reset &lt;SEQ=SND.NXT&gt;&lt;CTL=RST&gt; (abort, data after close).</summary>
    private void SendReset()
    {
        EmitSegment(AcceptableSequence, TcpFlags.Rst | TcpFlags.Ack, 0, 0);
        Protocol.Events.Increment(TcpEvent.ResetsSent);
    }

    /// <summary>The window field: free receive space, scaled, never moving the right edge left (RFC 9293 §3.8.6.2.2).</summary>
    private ushort WindowField(bool syn)
    {
        if (syn)
        {
            int window = Math.Min(_receiveBufferLimit, ushort.MaxValue);
            _rcvAdv = _rcvNxt + window;
            return (ushort)window;
        }
        UpdateReceiveWindow(force: false);
        long scaled = (long)(_rcvAdv - _rcvNxt + (1 << _rcvScale) - 1) >> _rcvScale; // round up: the edge never retreats
        if (scaled > ushort.MaxValue)
        {
            scaled = ushort.MaxValue;
        }
        _rcvAdv = SequenceNumber.Max(_rcvAdv, _rcvNxt + (int)(scaled << _rcvScale));
        return (ushort)scaled;
    }

    /// <summary>
    /// Payload bytes that fit a segment sent now: the effective MSS (which already allows for timestamps) less
    /// the SACK option our ACK will carry while data is out of order (RFC 9293 §3.7.1: the MSS counts options;
    /// RFC 2018 §4). Without this a full segment with SACK blocks would exceed the path MTU.
    /// </summary>
    private int CurrentMss
    {
        get
        {
            if (!_sack || _receiveQueue.OutOfOrderCount == 0)
            {
                return _effectiveMss;
            }
            var probe = new TcpRepr { SackBlocks = _receiveQueue.SackBlocks() };
            if (_timestamps)
            {
                probe.Timestamps = default(TcpTimestamps);
            }
            int sackBytes = probe.OptionsLength - (_timestamps ? 12 : 0);
            return Math.Max(_effectiveMss - sackBytes, MinimumSendMss);
        }
    }

    /// <summary>
    /// Builds one segment with payload from the send buffer (by reference) and queues it for the link. Payload
    /// over <paramref name="segmentSize"/> makes a GSO super-segment: <see cref="GsoOptions"/> with that MSS and
    /// the pseudo-header sum in the checksum field (CHECKSUM_PARTIAL, ARCHITECTURE.md §2 step 2, §4).
    /// </summary>
    private bool EmitSegment(SequenceNumber seq, TcpFlags flags, int bufferOffset, int length, int segmentSize = int.MaxValue)
    {
        bool syn = (flags & TcpFlags.Syn) != 0;
        var repr = new TcpRepr
        {
            SourcePort = Tuple.LocalPort,
            DestinationPort = Tuple.RemotePort,
            SequenceNumber = seq.Value,
            AcknowledgmentNumber = (flags & TcpFlags.Ack) != 0 ? _rcvNxt.Value : 0,
            Flags = flags,
        };
        if ((flags & TcpFlags.Rst) == 0 || (flags & TcpFlags.Ack) != 0)
        {
            repr.WindowSize = (flags & TcpFlags.Rst) != 0 ? (ushort)0 : WindowField(syn);
        }
        if (syn)
        {
            AddSynOptions(ref repr, synAck: (flags & TcpFlags.Ack) != 0);
        }
        else if ((flags & TcpFlags.Rst) == 0)
        {
            if (_timestamps)
            {
                repr.Timestamps = new TcpTimestamps(TimestampNow, _tsRecent);
            }
            if (_sack && length == 0 && (flags & TcpFlags.Fin) == 0 && _duplicateReceived is TcpSackBlock duplicate)
            {
                repr.SackBlocks = _receiveQueue.SackBlocks(duplicate); // RFC 2883 §4: D-SACK first, on the ACK it caused
                _duplicateReceived = null;
            }
            else if (_sack && _receiveQueue.OutOfOrderCount > 0)
            {
                repr.SackBlocks = _receiveQueue.SackBlocks(); // RFC 2018 §4
            }
        }
        int headerLength = repr.BufferLength;
        PacketBuffer packet = Protocol.Stack.Pool.Rent(headerLength, Route.Nic.MaxHeaderLength);
        Span<byte> header = packet.Append(headerLength);
        repr.Emit(header);
        if (length > 0 && !_sendBuffer.AppendTo(packet, bufferOffset, length))
        {
            packet.Release();
            return false;
        }
        uint pseudo = NetworkStack.PseudoHeaderSum(Route, IpProtocol.Tcp, packet.Length);
        int wireSegments = 1;
        if (length > segmentSize)
        {
            wireSegments = (length + segmentSize - 1) / segmentSize;
            TcpHeader.WritePartialChecksum(header, pseudo);
            packet.Gso = new GsoOptions
            {
                Type = Tuple.RemoteAddress.IsV4 ? GsoType.TcpV4 : GsoType.TcpV6,
                NeedsChecksum = true,
                HeaderLength = (ushort)headerLength, // the network layer adds its header to this and to ChecksumStart
                MaxSegmentSize = (ushort)segmentSize,
                ChecksumStart = 0,
                ChecksumOffset = TcpHeader.ChecksumOffset,
            };
            packet.SegmentsRepresented = wireSegments;
        }
        else
        {
            TcpHeader.SetChecksum(header, InternetChecksum.Finish(InternetChecksum.Sum(packet, 0, packet.Length, pseudo)));
        }
        if ((flags & TcpFlags.Ack) != 0)
        {
            _lastAckSent = _rcvNxt;
            _delackDeadline = Never;
            _ackNow = false;
            _segmentsSinceAck = 0;
        }
        _segmentsSent += wireSegments;
        Protocol.Events.Add(TcpEvent.SegmentsSent, wireSegments);
        if (wireSegments > 1)
        {
            Protocol.Events.Increment(TcpEvent.SuperSegmentsSent);
        }
        Enqueue(packet);
        return true;
    }
}
