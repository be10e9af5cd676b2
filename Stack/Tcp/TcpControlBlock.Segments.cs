// Layer: transport (TCP), the segment builder: every segment a connection sends is built here — header,
// window field (RFC 9293 §3.8.6.2.2, RFC 7323 §2.3), options (timestamps, SACK and D-SACK blocks), payload by
// reference from the send buffer, checksum or GSO metadata (ARCHITECTURE.md §2 step 2, §4) — and queued in the
// outbox, which Flush hands to the link once the lock is released.
using NetStack.Buffers;
using NetStack.Checksums;
using NetStack.Network;
using NetStack.Wire;

namespace NetStack.Tcp;

internal sealed partial class TcpControlBlock
{
    /// <summary>Sends our SYN (active open) or SYN-ACK (passive or simultaneous open).</summary>
    private void SendSyn(bool ack)
    {
        EmitSegment(_sender.Iss, ack ? TcpFlags.Syn | TcpFlags.Ack : TcpFlags.Syn, 0, 0);
        if (_sender.OnSynSent())
        {
            _rtt.StartTiming(_sender.Iss, Protocol.Now);
        }
        else
        {
            _rtt.CancelTiming(); // Karn
        }
        if (_rtxDeadline == Never)
        {
            ArmRetransmit();
        }
    }

    /// <summary>An ACK now: &lt;SEQ=SND.NXT&gt;&lt;ACK=RCV.NXT&gt;&lt;CTL=ACK&gt;.</summary>
    private void SendAck() => EmitSegment(_sender.Nxt, TcpFlags.Ack, 0, 0);

    /// <summary>
    /// A challenge ACK (RFC 5961 §3.2, §4.2), subject to the connection's limit on invalid-segment replies, then the
    /// protocol-wide rate limit (§7), in that order as Linux's tcp_send_challenge_ack.
    /// </summary>
    private void SendChallengeAck(in TcpSegment seg)
    {
        if (!InvalidReplyAllowed(seg))
        {
            return;
        }
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
        EmitSegment(_sender.Nxt, TcpFlags.Rst | TcpFlags.Ack, 0, 0);
        Protocol.Events.Increment(TcpEvent.ResetsSent);
    }

    /// <summary>&lt;SEQ=SEG.ACK&gt;&lt;CTL=RST&gt; for an unacceptable ACK in SYN-SENT/SYN-RECEIVED (RFC 9293 §3.10.7.3, §3.10.7.4).</summary>
    private void EmitBareReset(SequenceNumber seq)
    {
        EmitSegment(seq, TcpFlags.Rst, 0, 0);
        Protocol.Events.Increment(TcpEvent.ResetsSent);
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
            if (!_sack || _receiver.OutOfOrderCount == 0)
            {
                return _sender.Mss;
            }
            var probe = new TcpRepr { SackBlocks = _receiver.SackBlocks() };
            if (_timestamps.Enabled)
            {
                probe.Timestamps = default(TcpTimestamps);
            }
            int sackBytes = probe.OptionsLength - (_timestamps.Enabled ? 12 : 0);
            return Math.Max(_sender.Mss - sackBytes, TcpSender.MinimumSendMss);
        }
    }

    /// <summary>
    /// Builds one segment with payload from the send buffer (by reference) and queues it for the link. Payload
    /// over <paramref name="segmentSize"/> makes a GSO super-segment. Returns false when the payload could not be
    /// referenced (nothing is queued).
    /// </summary>
    private bool EmitSegment(SequenceNumber seq, TcpFlags flags, int bufferOffset, int length, int segmentSize = int.MaxValue)
    {
        var repr = new TcpRepr
        {
            SourcePort = Tuple.LocalPort,
            DestinationPort = Tuple.RemotePort,
            SequenceNumber = seq.Value,
            AcknowledgmentNumber = (flags & TcpFlags.Ack) != 0 ? _receiver.Nxt.Value : 0,
            Flags = flags,
        };
        AddWindowAndOptions(ref repr, pureAck: length == 0 && (flags & TcpFlags.Fin) == 0);
        int headerLength = repr.BufferLength;
        PacketBuffer packet = Protocol.Stack.Pool.Rent(headerLength, Route.Nic.MaxHeaderLength);
        Span<byte> header = packet.Append(headerLength);
        repr.Emit(header);
        if (length > 0 && !_sender.AppendPayload(packet, bufferOffset, length))
        {
            packet.Release();
            return false;
        }
        int wireSegments = SealChecksum(packet, header, length, segmentSize);
        if ((flags & TcpFlags.Ack) != 0)
        {
            _receiver.OnAckSent();
        }
        _counters.SegmentOut(wireSegments);
        Enqueue(packet);
        return true;
    }

    /// <summary>
    /// The window field (RFC 9293 §3.8.6.2.2; a SYN's unscaled, RFC 7323 §2.2; none on a bare RST) and the
    /// options: a SYN's negotiation, else timestamps and SACK blocks (RFC 2018 §4), a D-SACK first on the
    /// pure ACK that the duplicate caused (RFC 2883 §4).
    /// </summary>
    private void AddWindowAndOptions(ref TcpRepr repr, bool pureAck)
    {
        TcpFlags flags = repr.Flags;
        bool syn = (flags & TcpFlags.Syn) != 0;
        bool rst = (flags & TcpFlags.Rst) != 0;
        if (!rst || (flags & TcpFlags.Ack) != 0)
        {
            repr.WindowSize = rst ? (ushort)0 : syn ? _receiver.SynWindow() : _receiver.WindowField();
        }
        if (syn)
        {
            AddSynOptions(ref repr, synAck: (flags & TcpFlags.Ack) != 0);
            return;
        }
        if (rst)
        {
            return;
        }
        if (_timestamps.Enabled)
        {
            repr.Timestamps = _timestamps.Option(Protocol.Now);
        }
        if (_sack && _receiver.TryGetSackBlocks(pureAck, out TcpSackList blocks))
        {
            repr.SackBlocks = blocks;
        }
    }

    /// <summary>
    /// The checksum over the segment, or for a super-segment (payload over <paramref name="segmentSize"/>)
    /// <see cref="GsoOptions"/> with that MSS and the pseudo-header sum in the checksum field (CHECKSUM_PARTIAL,
    /// ARCHITECTURE.md §2 step 2, §4). Returns the wire segments it stands for.
    /// </summary>
    private int SealChecksum(PacketBuffer packet, Span<byte> header, int length, int segmentSize)
    {
        uint pseudo = NetworkStack.PseudoHeaderSum(Route, IpProtocol.Tcp, packet.Length);
        if (length <= segmentSize)
        {
            if (length > 0 && (Route.Nic.Link.Capabilities & LinkCapabilities.TxChecksumOffload) != 0)
            {
                // The device completes it (CHECKSUM_PARTIAL): no pass over the payload. Pure ACKs, a header's
                // sum, are finished here without asking the link.
                TcpHeader.WritePartialChecksum(header, pseudo);
                packet.Gso = new GsoOptions
                {
                    NeedsChecksum = true,
                    HeaderLength = (ushort)header.Length,
                    ChecksumStart = 0, // the network layer moves it past its header
                    ChecksumOffset = TcpHeader.ChecksumOffset,
                };
                return 1;
            }
            TcpHeader.SetChecksum(header, InternetChecksum.Finish(InternetChecksum.Sum(packet, 0, packet.Length, pseudo)));
            return 1;
        }
        int wireSegments = (length + segmentSize - 1) / segmentSize;
        TcpHeader.WritePartialChecksum(header, pseudo);
        packet.Gso = new GsoOptions
        {
            Type = Tuple.RemoteAddress.IsV4 ? GsoType.TcpV4 : GsoType.TcpV6,
            NeedsChecksum = true,
            HeaderLength = (ushort)header.Length, // the network layer adds its header to this and to ChecksumStart
            MaxSegmentSize = (ushort)segmentSize,
            ChecksumStart = 0,
            ChecksumOffset = TcpHeader.ChecksumOffset,
        };
        packet.SegmentsRepresented = wireSegments;
        return wireSegments;
    }
}
