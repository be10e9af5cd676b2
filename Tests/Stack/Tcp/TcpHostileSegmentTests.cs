using System.Net.Sockets;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>RST and SYN handling per RFC 5961, and segments a blind or broken peer might send.</summary>
public class TcpHostileSegmentTests
{
    private static TcpRepr PeerTs(uint seq, uint ack, TcpFlags flags, uint tsval = 200) =>
        TcpTestHarness.Peer(seq, ack, flags) with { Timestamps = new TcpTimestamps(tsval, 0) };

    [Fact]
    public async Task Exact_Rst_Resets_And_Read_Throws_ConnectionReset_RFC5961_3_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        using (c)
        {
            h.Inject(TcpTestHarness.Peer(1001, 0, TcpFlags.Rst));
            h.ExpectNone();
            Assert.Equal(TcpState.Closed, c.State);
            var ex = Assert.Throws<IOException>(() => c.TryRead(new byte[10]));
            Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(ex.InnerException).SocketErrorCode);
            var wex = await Assert.ThrowsAsync<IOException>(async () => await c.WriteAsync(new byte[1]));
            Assert.Equal(SocketError.ConnectionReset, ((SocketException)wex.InnerException!).SocketErrorCode);
            Assert.Equal(0, h.Tcp.ConnectionCount);
            _ = iss;
        }
    }

    [Fact]
    public void In_Window_Rst_Gets_Challenge_Ack_RFC5961_3_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(TcpTestHarness.Peer(1500, 0, TcpFlags.Rst));
            Segment challenge = h.Read();
            Assert.Equal(TcpFlags.Ack, challenge.Flags);
            Assert.Equal(iss + 1, challenge.Tcp.SequenceNumber);
            Assert.Equal(1001u, challenge.Tcp.AcknowledgmentNumber);
            Assert.Equal(TcpState.Established, c.State);
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.RstChallenged]);
            c.Abort();
        }
    }

    [Fact]
    public void Out_Of_Window_Rst_Is_Dropped_Silently()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, _, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(TcpTestHarness.Peer(1001 + (1u << 30), 0, TcpFlags.Rst));
            h.Inject(TcpTestHarness.Peer(900, 0, TcpFlags.Rst));
            h.ExpectNone();
            Assert.Equal(TcpState.Established, c.State);
            c.Abort();
        }
    }

    [Fact]
    public void Syn_In_Established_Gets_Challenge_Ack_RFC5961_4_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, 0, TcpFlags.Syn));
            Segment challenge = h.Read();
            Assert.Equal(TcpFlags.Ack, challenge.Flags);
            Assert.Equal(iss + 1, challenge.Tcp.SequenceNumber);
            Assert.Equal(1001u, challenge.Tcp.AcknowledgmentNumber);
            Assert.Equal(TcpState.Established, c.State);
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.SynChallenged]);
            c.Abort();
        }
    }

    [Fact]
    public void Rfc5961_7_ChallengeAcks_OfOneConnection_AreLimitedByTheInvalidReplyInterval()
    {
        // Linux's tcp_send_challenge_ack: the connection's own limit (tcp_invalid_ratelimit) comes first.
        using var h = new TcpTestHarness();
        (TcpConnection c, _, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            for (int i = 0; i < 5; i++)
            {
                h.Inject(TcpTestHarness.Peer(1500, 0, TcpFlags.Rst));
            }
            Assert.Equal(TcpFlags.Ack, h.Read().Flags);
            h.ExpectNone();
            Assert.Equal(1, h.Tcp.Events[TcpEvent.ChallengeAcks]);
            Assert.Equal(4, h.Tcp.Events[TcpEvent.InvalidRepliesSuppressed]);
            h.Advance(TimeSpan.FromMilliseconds(500));
            h.Inject(TcpTestHarness.Peer(1500, 0, TcpFlags.Rst));
            Assert.Equal(TcpFlags.Ack, h.Read().Flags);
            c.Abort();
        }
    }

    [Fact]
    public void InvalidSegments_WithoutData_AreAnsweredOncePerInterval_LinuxTcpInvalidRatelimit()
    {
        // PAWS failures, out-of-window and unacceptable ACKs without data share one reply per 500 ms: two stacks
        // that disagree about a connection cannot ping-pong ACKs, and a flood of forged ACKs draws one reply.
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: 500)); // TS.Recent = 500
            for (int i = 0; i < 5; i++)
            {
                h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: 400));              // PAWS
                h.Inject(PeerTs(1001 + (1u << 20), iss + 1, TcpFlags.Ack, tsval: 500)); // beyond the window
                h.Inject(PeerTs(1001, iss + 1000, TcpFlags.Ack, tsval: 500));           // ACK of data never sent
            }
            Assert.Equal(1001u, h.Read().Tcp.AcknowledgmentNumber);
            h.ExpectNone();
            Assert.Equal(14, h.Tcp.Events[TcpEvent.InvalidRepliesSuppressed]);
            Assert.Equal(5, h.Tcp.Drops[TcpDropReason.Paws]);
            Assert.Equal(5, h.Tcp.Drops[TcpDropReason.OutOfWindow]);
            Assert.Equal(5, h.Tcp.Drops[TcpDropReason.UnacceptableAck]);
            h.Inject(PeerTs(1001 + (1u << 20), iss + 1, TcpFlags.Ack, tsval: 500), new byte[10]); // data: always answered
            Assert.Equal(1001u, h.Read().Tcp.AcknowledgmentNumber);
            h.Advance(TimeSpan.FromMilliseconds(500));
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack, tsval: 400));
            Assert.Equal(1001u, h.Read().Tcp.AcknowledgmentNumber);
            c.Abort();
        }
    }

    [Fact]
    public void Data_Outside_The_Window_Is_Dropped_And_Acked()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001 + (1u << 20), iss + 1, TcpFlags.Ack), new byte[100]); // beyond the 256 KiB window
            Segment ack = h.Read();
            Assert.Equal(1001u, ack.Tcp.AcknowledgmentNumber);
            h.Inject(PeerTs(501, iss + 1, TcpFlags.Ack), new byte[100]); // wholly old
            Assert.Equal(1001u, h.Read().Tcp.AcknowledgmentNumber);
            Assert.Equal(-1, c.TryRead(new byte[10]));
            Assert.Equal(2, h.Tcp.Drops[TcpDropReason.OutOfWindow]);
            c.Abort();
        }
    }

    [Fact]
    public void Ack_Of_Unsent_Data_Is_Dropped_And_Acked_RFC5961_5_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1000, TcpFlags.Ack), new byte[10]);
            Segment ack = h.Read();
            Assert.Equal(1001u, ack.Tcp.AcknowledgmentNumber); // the data was not taken
            Assert.Equal(iss + 1, ack.Tcp.SequenceNumber);
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.UnacceptableAck]);
            Assert.Equal(-1, c.TryRead(new byte[10]));
            c.Abort();
        }
    }

    [Fact]
    public void Old_Timestamp_Is_Rejected_By_Paws_RFC7323_5()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh, tsval: 500), new byte[10]);
            h.Inject(PeerTs(1011, iss + 1, TcpFlags.Ack | TcpFlags.Psh, tsval: 400), new byte[10]); // older than TS.Recent
            Segment ack = h.Read();
            Assert.Equal(1011u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.Paws]);
            Assert.Equal(10, c.TryRead(new byte[100]));
            c.Abort();
        }
    }

    [Fact]
    public void Option_Length_Overrunning_The_Header_Drops_The_Segment()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            byte[] packet = Packets.Ipv4Tcp(PeerTs(1001, iss + 1, TcpFlags.Ack), new byte[10], src: Packets.V4A, dst: Packets.V4B);
            // NOP NOP TS(10): make the timestamps option claim 40 bytes, past the 12-byte option area.
            Assert.Equal((byte)TcpOptionKind.Timestamps, packet[20 + 22]);
            packet[20 + 23] = 40;
            TcpHandshakeTests.FixTcpChecksum(packet);
            h.InjectRaw(packet);
            h.Advance(TimeSpan.FromSeconds(1));
            h.ExpectNone();
            Assert.Equal(-1, c.TryRead(new byte[10]));
            Assert.Equal(1, h.Tcp.Drops[TcpDropReason.BadOption]);
            c.Abort();
        }
    }

    [Fact]
    public void Bad_Checksum_Is_Dropped()
    {
        using var h = new TcpTestHarness();
        using TcpConnectionListener l = h.Tcp.Listen(new System.Net.IPEndPoint(System.Net.IPAddress.Any, 80));
        byte[] packet = Packets.Ipv4Tcp(TcpTestHarness.Peer(1000, 0, TcpFlags.Syn), default, src: Packets.V4A, dst: Packets.V4B);
        packet[20 + 16] ^= 0xFF;
        h.InjectRaw(packet);
        h.ExpectNone(); // the channel endpoint's RX validation drops it before TCP
        Assert.Equal(0, l.Pending);
    }

    [Fact]
    public void Abort_Sends_Rst_And_Dispose_With_Unread_Data_Resets()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh), new byte[10]);
            c.Dispose(); // unread data: RST (RFC 2525 §2.17)
            Segment rst = h.Read();
            Assert.True(rst.Flags.HasFlag(TcpFlags.Rst));
            Assert.Equal(iss + 1, rst.Tcp.SequenceNumber);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }
}
