// The modelled peers of StackScript: the packets they send (SYN, handshake, ACK, data, FIN, RST, any segment, UDP,
// fragments, ICMP errors about the stack's last packet), built with NetStack.Testing with fresh checksums.
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Testing;
using NetStack.Testing.Generators;
using NetStack.Wire;

namespace NetStack.Fuzz.Support;

public sealed partial class StackScript
{
    private void Handshake(Peer peer)
    {
        long overflowBefore = _tcp.Drops[TcpDropReason.ListenOverflow];
        long queueFullBefore = _stack.Drops[IpDropReason.LinkQueueFull];
        int pendingBefore = _listener.Pending;
        SendSyn(peer, ListenPort, 0xF);
        Drain();
        // A full listen queue, or a full link queue (back-pressure: the SYN-ACK waits for a retransmission), is no failure.
        if (_tcp.Drops[TcpDropReason.ListenOverflow] != overflowBefore || _stack.Drops[IpDropReason.LinkQueueFull] != queueFullBefore)
        {
            return;
        }
        Check.True(peer.SawSynAck, "a SYN from a fresh peer gets a SYN-ACK");
        Check.Equal(peer.Iss + 1, peer.SynAckAck, "the SYN-ACK acknowledges the SYN");
        Send(peer, TcpFlags.Ack, peer.SndNxt, peer.RcvNxt, [], timestamps: true);
        Drain();
        // A cookie handshake (the SYN found the SYN backlog full) is judged against the accept queue when its ACK
        // arrives: a full accept queue drops that ACK (RFC 4987 §3.6 leaves the retry to the peer).
        if (_tcp.Drops[TcpDropReason.ListenOverflow] != overflowBefore)
        {
            return;
        }
        Check.Equal(pendingBefore + 1, _listener.Pending, "a completed handshake is queued for accept");
    }

    private void SendSyn(Peer peer, ushort port, byte options)
    {
        peer.Fresh = false;
        var syn = new TcpRepr
        {
            SourcePort = peer.Port,
            DestinationPort = port,
            SequenceNumber = peer.Iss,
            Flags = TcpFlags.Syn,
            WindowSize = 65535,
            MaxSegmentSize = (options & 1) != 0 ? (ushort)(peer.V6 ? 1220 : 1460) : null,
            WindowScale = (options & 2) != 0 ? (byte)7 : null,
            SackPermitted = (options & 4) != 0,
            Timestamps = (options & 8) != 0 ? new TcpTimestamps(peer.TsVal, 0) : null,
        };
        peer.UseTimestamps = (options & 8) != 0;
        peer.SndNxt = peer.Iss + 1;
        peer.SawSynAck = false;
        Inject(Build(peer, syn, []));
    }

    private void SendData(Peer peer, int length, TcpFlags extra)
    {
        byte[] payload = new byte[length];
        for (int i = 0; i < payload.Length; i++)
        {
            payload[i] = (byte)(peer.SndNxt + (uint)i);
        }
        Send(peer, TcpFlags.Ack | extra, peer.SndNxt, peer.RcvNxt, payload);
        peer.SndNxt += (uint)length;
    }

    private void SendAnySegment(Peer peer, byte arg, ref PacketRecordReader reader)
    {
        var flags = (TcpFlags)(reader.NextByte() | ((arg & 0x80) != 0 ? 0x100 : 0));
        uint seq = peer.SndNxt + (uint)(sbyte)reader.NextByte() * (uint)((arg & 0x10) != 0 ? 1000 : 1);
        uint ack = peer.RcvNxt + (uint)(sbyte)reader.NextByte() * (uint)((arg & 0x20) != 0 ? 1000 : 1);
        int length = reader.NextByte() * ((arg & 0x40) != 0 ? 16 : 1);
        var tcp = new TcpRepr
        {
            SourcePort = peer.Port,
            DestinationPort = (arg & 4) != 0 ? (ushort)(ListenPort + 1) : ListenPort,
            SequenceNumber = seq,
            AcknowledgmentNumber = ack,
            Flags = flags,
            WindowSize = reader.NextUInt16(),
            UrgentPointer = (flags & TcpFlags.Urg) != 0 ? (ushort)(length / 2) : (ushort)0,
            Timestamps = (arg & 8) != 0 ? new TcpTimestamps(peer.TsVal++, peer.TsEcr) : null,
        };
        if ((arg & 8) != 0 && length > 0)
        {
            tcp.SackBlocks.TryAdd(new TcpSackBlock(peer.RcvNxt - 100, peer.RcvNxt + (uint)length));
        }
        Inject(Build(peer, tcp, new byte[length]));
        if (seq == peer.SndNxt)
        {
            peer.SndNxt += (uint)length + ((flags & TcpFlags.Syn) != 0 ? 1u : 0u) + ((flags & TcpFlags.Fin) != 0 ? 1u : 0u);
        }
    }

    private void Send(Peer peer, TcpFlags flags, uint seq, uint ack, byte[] payload, ushort window = 65535, bool timestamps = false)
    {
        var tcp = new TcpRepr
        {
            SourcePort = peer.Port,
            DestinationPort = ListenPort,
            SequenceNumber = seq,
            AcknowledgmentNumber = ack,
            Flags = flags,
            WindowSize = window,
            Timestamps = peer.UseTimestamps || timestamps ? new TcpTimestamps(peer.TsVal++, peer.TsEcr) : null,
        };
        Inject(Build(peer, tcp, payload));
    }

    private static byte[] Build(Peer peer, TcpRepr tcp, byte[] payload)
    {
        byte[] segment = new byte[tcp.BufferLength + payload.Length];
        tcp.Emit(segment);
        payload.CopyTo(segment, tcp.BufferLength);
        return Ip(peer, IpProtocol.Tcp, segment);
    }

    // A packet from a peer: it is no longer fresh (a later handshake from it is not checked).
    private static byte[] Ip(Peer peer, IpProtocol protocol, byte[] transport)
    {
        peer.Fresh = false;
        return peer.V6
            ? PacketGenerators.Ipv6Packet(protocol, new Ipv6Repr { HopLimit = 64, Source = PeerV6, Destination = LocalV6 }, [], transport)
            : PacketGenerators.Ipv4Packet(protocol, PeerV4, LocalV4, transport, identification: (ushort)peer.NextId++, dontFragment: false);
    }

    private void SendUdp(Peer peer, ushort port, int length)
    {
        byte[] datagram = new byte[8 + length];
        new UdpRepr { SourcePort = peer.Port, DestinationPort = port, PayloadLength = length }.Emit(datagram);
        Inject(Ip(peer, IpProtocol.Udp, datagram));
    }

    private void SendFragments(Peer peer, byte arg, byte cut)
    {
        byte[] packet;
        if ((arg & 8) != 0)
        {
            byte[] datagram = new byte[8 + 600];
            new UdpRepr { SourcePort = peer.Port, DestinationPort = UdpPort, PayloadLength = 600 }.Emit(datagram);
            packet = Ip(peer, IpProtocol.Udp, datagram);
        }
        else
        {
            byte[] payload = new byte[(arg >> 4) * 64 + 64];
            packet = Build(peer, new TcpRepr
            {
                SourcePort = peer.Port,
                DestinationPort = ListenPort,
                SequenceNumber = peer.SndNxt,
                AcknowledgmentNumber = peer.RcvNxt,
                Flags = TcpFlags.Ack,
                WindowSize = 65535,
            }, payload);
            peer.SndNxt += (uint)payload.Length;
        }
        int at = 8 * (cut + 1);
        byte[][] pieces;
        if (peer.V6)
        {
            int fragmentable = packet.Length - Ipv6Header.Length;
            at = Math.Max(at, FragmentGenerators.Ipv6MinimumFirstFragment(packet));
            pieces = FragmentGenerators.Ipv6Fragments(packet, (uint)peer.NextId++, at < fragmentable ? [at] : []);
        }
        else
        {
            int fragmentable = packet.Length - Ipv4Header.MinLength;
            pieces = FragmentGenerators.Ipv4Fragments(packet, at < fragmentable ? [at] : []);
        }
        if ((arg & 4) != 0)
        {
            Array.Reverse(pieces);
        }
        foreach (byte[] piece in pieces)
        {
            Inject(piece);
        }
    }

    private void SendIcmpError(byte arg, ushort value)
    {
        if (_lastSent is not { Length: > 0 } quoted)
        {
            return;
        }
        bool v6 = quoted[0] >> 4 == 6;
        byte[] quote = quoted[..Math.Min(quoted.Length, v6 ? 1232 - 48 : 548 - 28)];
        byte[] message;
        if (v6)
        {
            IcmpV6Repr repr = (arg & 3) switch
            {
                0 => IcmpV6Repr.PacketTooBig(value),
                1 => IcmpV6Repr.DestinationUnreachable((IcmpV6UnreachableCode)((arg >> 2) % 7)),
                2 => IcmpV6Repr.TimeExceeded((byte)((arg >> 2) & 1)),
                _ => IcmpV6Repr.ParameterProblem((byte)((arg >> 2) % 3), value),
            };
            message = new byte[repr.BufferLength + quote.Length];
            repr.Emit(message);
        }
        else
        {
            IcmpV4Repr repr = (arg & 3) switch
            {
                0 => IcmpV4Repr.FragmentationNeeded(value),
                1 => IcmpV4Repr.DestinationUnreachable((IcmpV4UnreachableCode)((arg >> 2) % 16)),
                2 => IcmpV4Repr.TimeExceeded((byte)((arg >> 2) & 1)),
                _ => IcmpV4Repr.ParameterProblem((byte)value),
            };
            message = new byte[repr.BufferLength + quote.Length];
            repr.Emit(message);
        }
        quote.CopyTo(message, message.Length - quote.Length);
        Peer from = _peers[v6 ? 1 : 0];
        Inject(Ip(from, v6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, message));
    }

    private sealed class Peer(bool v6, ushort port, uint iss)
    {
        public bool V6 { get; } = v6;

        public ushort Port { get; } = port;

        public uint Iss { get; } = iss;

        public bool Fresh { get; set; } = true;

        public uint SndNxt { get; set; } = iss;

        public uint RcvNxt { get; set; }

        public bool SawSynAck { get; set; }

        public uint SynAckAck { get; set; }

        public bool UseTimestamps { get; set; }

        public uint TsVal { get; set; } = 100;

        public uint TsEcr { get; set; }

        public int NextId { get; set; } = 1;
    }
}
