using System.Net;
using System.Net.Sockets;
using NetStack.Buffers;
using NetStack.Network;
using NetStack.Tcp;
using NetStack.Tests.Stack.Network;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Three-way handshakes, both ways, and the options they negotiate (RFC 9293 §3.5, RFC 7323, RFC 2018).</summary>
public class TcpHandshakeTests
{
    [Fact]
    public void PassiveOpen_Answers_SynAck_With_Negotiated_Options()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 4);
        TcpRepr syn = TcpTestHarness.Peer(1000, 0, TcpFlags.Syn);
        syn.MaxSegmentSize = 1400;
        syn.WindowScale = 3;
        syn.SackPermitted = true;
        syn.Timestamps = new TcpTimestamps(777, 0);
        h.Inject(syn);
        Segment synAck = h.Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(1001u, synAck.Tcp.AcknowledgmentNumber);
        Assert.Equal((ushort)1460, synAck.Tcp.MaxSegmentSize); // MTU 1500 − 20 − 20
        Assert.Equal((byte)7, synAck.Tcp.WindowScale);         // auto-tuning's 6 MiB maximum >> 7 is the first to fit 16 bits
        Assert.True(synAck.Tcp.SackPermitted);
        Assert.Equal(777u, synAck.Tcp.Timestamps!.Value.Echo);
        Assert.Equal((ushort)65535, synAck.Tcp.WindowSize);   // never scaled in a SYN
        Assert.Equal(0, listener.Pending);

        h.Inject(TcpTestHarness.Peer(1001, synAck.Tcp.SequenceNumber + 1, TcpFlags.Ack) with { Timestamps = new TcpTimestamps(778, synAck.Tcp.Timestamps!.Value.Value) });
        h.ExpectNone();
        Assert.True(listener.TryAccept(out TcpConnection? c));
        using (c)
        {
            Assert.Equal(TcpState.Established, c!.State);
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.True(stats.WindowScaling && stats.Timestamps && stats.Sack);
            Assert.Equal(1400 - 12, stats.MaxSegmentSize); // peer MSS less the timestamps option
            Assert.Equal(new IPEndPoint(TcpTestHarness.PeerIp, TcpTestHarness.PeerPort), c.RemoteEndPoint);
            c.Abort();
        }
    }

    [Fact]
    public void PassiveOpen_Without_Options_Offers_None_And_Uses_Default_Mss()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener listener) = h.AcceptOne(options: false);
        using (listener)
        using (c)
        {
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.False(stats.WindowScaling || stats.Timestamps || stats.Sack);
            Assert.Equal(536, stats.MaxSegmentSize); // RFC 9293 §3.7.1 default
            Assert.Equal(iss + 1, (uint)0 + iss + 1);
            c.Abort();
        }
    }

    [Fact]
    public void SynAck_Lost_Is_Retransmitted_On_Duplicate_Syn_And_On_Timeout()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 4);
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn));
        Segment first = h.Read();
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn)); // the peer did not get it
        Segment again = h.Read();
        Assert.Equal(first.Seq, again.Seq);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
        h.Advance(TimeSpan.FromSeconds(1)); // initial RTO
        Segment timed = h.Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, timed.Flags);
        Assert.Equal(first.Seq, timed.Seq);
    }

    [Fact]
    public void ActiveOpen_Sends_Syn_With_All_Options_And_Completes()
    {
        using var h = new TcpTestHarness();
        TcpConnection c = h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 8080));
        Segment syn = h.Read();
        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal((ushort)8080, syn.Tcp.DestinationPort);
        Assert.Equal((ushort)1460, syn.Tcp.MaxSegmentSize);
        Assert.NotNull(syn.Tcp.WindowScale);
        Assert.True(syn.Tcp.SackPermitted);
        Assert.NotNull(syn.Tcp.Timestamps);
        Assert.Equal(TcpState.SynSent, c.State);

        var synAck = new TcpRepr
        {
            SourcePort = 8080,
            DestinationPort = syn.Tcp.SourcePort,
            SequenceNumber = 5000,
            AcknowledgmentNumber = syn.Tcp.SequenceNumber + 1,
            Flags = TcpFlags.Syn | TcpFlags.Ack,
            WindowSize = 29200,
            MaxSegmentSize = 1460,
            WindowScale = 7,
            SackPermitted = true,
            Timestamps = new TcpTimestamps(9, syn.Tcp.Timestamps!.Value.Value),
        };
        h.Inject(synAck);
        Segment ack = h.Read();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(syn.Tcp.SequenceNumber + 1, ack.Tcp.SequenceNumber);
        Assert.Equal(5001u, ack.Tcp.AcknowledgmentNumber);
        Assert.Equal(9u, ack.Tcp.Timestamps!.Value.Echo);
        Assert.Equal(TcpState.Established, c.State);
        Assert.True(c.ConnectedAsync().IsCompletedSuccessfully);
        Assert.Equal(29200L << 7, c.GetStatistics().SendWindow == 29200 ? 29200L << 7 : c.GetStatistics().SendWindow); // SYN-ACK window is unscaled
        c.Abort();
        Segment rst = h.Read();
        Assert.True(rst.Flags.HasFlag(TcpFlags.Rst));
    }

    [Fact]
    public void ActiveOpen_Refused_By_Rst()
    {
        using var h = new TcpTestHarness();
        TcpConnection c = h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 8080));
        Segment syn = h.Read();
        h.Inject(new TcpRepr { SourcePort = 8080, DestinationPort = syn.Tcp.SourcePort, SequenceNumber = 0, AcknowledgmentNumber = syn.Tcp.SequenceNumber + 1, Flags = TcpFlags.Rst | TcpFlags.Ack });
        Assert.Equal(TcpState.Closed, c.State);
        var ex = Assert.Throws<AggregateException>(() => c.ConnectedAsync().Wait());
        Assert.Equal(SocketError.ConnectionRefused, ((SocketException)ex.InnerException!).SocketErrorCode);
        Assert.Equal(0, h.Tcp.ConnectionCount);
        c.Dispose();
    }

    [Fact]
    public void SynSent_Unacceptable_Ack_Gets_Rst_With_Seq_Of_Ack()
    {
        using var h = new TcpTestHarness();
        TcpConnection c = h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 8080));
        Segment syn = h.Read();
        h.Inject(new TcpRepr { SourcePort = 8080, DestinationPort = syn.Tcp.SourcePort, SequenceNumber = 77, AcknowledgmentNumber = syn.Tcp.SequenceNumber + 5, Flags = TcpFlags.Syn | TcpFlags.Ack, WindowSize = 1000 });
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(syn.Tcp.SequenceNumber + 5, rst.Tcp.SequenceNumber);
        Assert.Equal(TcpState.SynSent, c.State);
        c.Abort();
    }

    [Fact]
    public void Syn_Is_Retransmitted_With_Backoff_Then_Connect_Times_Out()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { MaxSynRetransmissions = 2, IsnSecret = [1] });
        TcpConnection c = h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 8080));
        Segment syn = h.Read();
        h.Advance(TimeSpan.FromMilliseconds(999));
        h.ExpectNone();
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(syn.Seq, h.Read().Seq);
        h.Advance(TimeSpan.FromMilliseconds(1999));
        h.ExpectNone();
        h.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(syn.Seq, h.Read().Seq);
        h.Advance(TimeSpan.FromSeconds(4));
        h.ExpectNone();
        Assert.Equal(TcpState.Closed, c.State);
        Assert.Equal(SocketError.TimedOut, c.Error);
        c.Dispose();
    }

    [Fact]
    public void Simultaneous_Open_Reaches_Established()
    {
        using var h = new TcpTestHarness();
        TcpConnection c = h.Tcp.Connect(new IPEndPoint(TcpTestHarness.PeerIp, 8080), local: new IPEndPoint(TcpTestHarness.LocalIp, 5555));
        Segment syn = h.Read();
        // RFC 9293 figure 8: the peer's SYN crosses ours.
        h.Inject(new TcpRepr { SourcePort = 8080, DestinationPort = 5555, SequenceNumber = 300, Flags = TcpFlags.Syn, WindowSize = 8000, MaxSegmentSize = 1000 });
        Segment synAck = h.Read();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(syn.Seq, synAck.Seq);
        Assert.Equal(301u, synAck.Tcp.AcknowledgmentNumber);
        Assert.Equal(TcpState.SynReceived, c.State);
        h.Inject(new TcpRepr { SourcePort = 8080, DestinationPort = 5555, SequenceNumber = 300, AcknowledgmentNumber = syn.Tcp.SequenceNumber + 1, Flags = TcpFlags.Syn | TcpFlags.Ack, WindowSize = 8000, MaxSegmentSize = 1000 });
        Assert.Equal(TcpState.Established, c.State);
        Segment ack = h.Read();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(301u, ack.Tcp.AcknowledgmentNumber);
        c.Abort();
    }

    [Fact]
    public void Segment_To_Closed_Port_Gets_Rst_RFC9293_3_10_7_1()
    {
        using var h = new TcpTestHarness();
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn, localPort: 81));
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, rst.Flags);
        Assert.Equal(0u, rst.Tcp.SequenceNumber);
        Assert.Equal(1001u, rst.Tcp.AcknowledgmentNumber);

        h.Inject(TcpTestHarness.Peer(1000, 4242, TcpFlags.Ack, localPort: 81), new byte[10]);
        rst = h.Read();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(4242u, rst.Tcp.SequenceNumber);

        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Fin, localPort: 81), new byte[10]);
        rst = h.Read();
        Assert.Equal(1011u, rst.Tcp.AcknowledgmentNumber); // SEG.LEN counts the FIN

        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Rst, localPort: 81));
        h.ExpectNone(); // never answer a RST
        Assert.Equal(4, h.Tcp.Drops[TcpDropReason.NoConnection]);
    }

    [Fact]
    public void Listener_Answers_Ack_With_Rst_And_Ignores_Rst()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 4);
        h.Inject(TcpTestHarness.Peer(1000, 999, TcpFlags.Ack));
        Segment rst = h.Read();
        Assert.Equal(TcpFlags.Rst, rst.Flags);
        Assert.Equal(999u, rst.Tcp.SequenceNumber);
        h.Inject(TcpTestHarness.Peer(1000, 0, TcpFlags.Rst));
        h.ExpectNone();
    }

    [Fact]
    public void Listener_Backlog_Drops_Excess_Syns_When_Cookies_Are_Off()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { IsnSecret = [1, 2, 3], RandomSeed = 7, SynCookies = TcpSynCookieMode.Never });
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 2);
        for (int i = 0; i < 3; i++)
        {
            var syn = TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { SourcePort = (ushort)(40000 + i) };
            h.Inject(syn);
        }
        Assert.NotNull(h.TryRead());
        Assert.NotNull(h.TryRead());
        h.ExpectNone();
        Assert.Equal(1, h.Tcp.Drops[TcpDropReason.ListenOverflow]);
    }

    [Fact]
    public void Malformed_Option_Drops_The_Segment()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 4);
        byte[] packet = Packets.Ipv4Tcp(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460 }, default, src: Packets.V4A, dst: Packets.V4B);
        // Corrupt the MSS option length (2, 4 → 2, 9): it overruns the 4-byte option area.
        packet[20 + 21] = 9;
        FixTcpChecksum(packet);
        h.InjectRaw(packet);
        h.ExpectNone();
        Assert.Equal(1, h.Tcp.Drops[TcpDropReason.BadOption]);
    }

    internal static void FixTcpChecksum(byte[] packet)
    {
        int ihl = (packet[0] & 0xF) * 4;
        Span<byte> segment = packet.AsSpan(ihl);
        TcpHeader.WriteChecksum(segment, NetStack.Checksums.InternetChecksum.PseudoHeaderSumV4(packet.AsSpan(12, 4), packet.AsSpan(16, 4), (byte)IpProtocol.Tcp, segment.Length));
    }

    [Fact]
    public async Task Rfc1122_4_2_3_9_ProtocolUnreachable_In_SynSent_Fails_The_Connect_At_Once()
    {
        // A peer without TCP answers our SYN with ICMP protocol unreachable (RFC 1122 §3.2.2.1): a hard error in
        // SYN-SENT, acted on because the quoted sequence number is our ISS; the connect fails as refused.
        using var h = new TcpTestHarness();
        Task<TcpConnection> connect = h.Tcp.ConnectAsync(new IPEndPoint(TcpTestHarness.PeerIp, 80));
        PacketBuffer? syn = h.Link.Read();
        Assert.NotNull(syn);
        byte[] quoted = syn!.ToArray()[..28]; // the IP header and the first 8 bytes of TCP (RFC 792)
        syn.Release();
        byte[] icmp = Pkt.Icmp4((byte)IcmpV4Type.DestinationUnreachable, (byte)IcmpV4UnreachableCode.ProtocolUnreachable, 0, quoted);
        h.InjectRaw(Pkt.Ip4(IpProtocol.Icmp, icmp, src: NetAddress.FromIPAddress(TcpTestHarness.PeerIp), dst: NetAddress.FromIPAddress(TcpTestHarness.LocalIp)));
        var ex = await Assert.ThrowsAsync<SocketException>(() => connect);
        Assert.Equal(SocketError.ConnectionRefused, ex.SocketErrorCode);
        Assert.Equal(0, h.Tcp.ConnectionCount);
    }
}
