using System.Net.Sockets;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Data transfer, ACK policy, SACK, FIN sequences (RFC 9293 §3.6, §3.8.6.3, §3.10.7.4; RFC 2018).</summary>
public class TcpDataTests
{
    private static TcpRepr PeerTs(uint seq, uint ack, TcpFlags flags, uint tsval = 200, ushort window = 65535) =>
        TcpTestHarness.Peer(seq, ack, flags, window: window) with { Timestamps = new TcpTimestamps(tsval, 0) };

    [Fact]
    public void Data_Is_Acked_After_The_Delayed_Ack_Timeout()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh), Packets(100));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(39));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Segment ack = h.Read();
            Assert.Equal(TcpFlags.Ack, ack.Flags);
            Assert.Equal(1101u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(iss + 1, ack.Tcp.SequenceNumber);
            Assert.Equal(200u, ack.Tcp.Timestamps!.Value.Echo);
            var buffer = new byte[200];
            Assert.Equal(100, c.TryRead(buffer));
            Assert.Equal(Packets(100), buffer[..100]);
            Assert.Equal(-1, c.TryRead(buffer));
            c.Abort();
        }
    }

    [Fact]
    public void Every_Second_Full_Segment_Is_Acked_At_Once()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            int mss = 1448;
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack), Packets(mss));
            h.ExpectNone();
            h.Inject(PeerTs((uint)(1001 + mss), iss + 1, TcpFlags.Ack), Packets(mss));
            Segment ack = h.Read();
            Assert.Equal((uint)(1001 + (2 * mss)), ack.Tcp.AcknowledgmentNumber);
            c.Abort();
        }
    }

    [Fact]
    public void Out_Of_Order_Data_Is_Acked_At_Once_With_Sack_Blocks()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1101, iss + 1, TcpFlags.Ack), Packets(100));
            Segment dup = h.Read();
            Assert.Equal(1001u, dup.Tcp.AcknowledgmentNumber);
            Assert.Equal(1, dup.Tcp.SackBlocks.Count);
            Assert.Equal(new TcpSackBlock(1101, 1201), dup.Tcp.SackBlocks[0]);

            h.Inject(PeerTs(1301, iss + 1, TcpFlags.Ack), Packets(100));
            dup = h.Read();
            Assert.Equal(2, dup.Tcp.SackBlocks.Count);
            Assert.Equal(new TcpSackBlock(1301, 1401), dup.Tcp.SackBlocks[0]); // the latest first (RFC 2018 §4)
            Assert.Equal(new TcpSackBlock(1101, 1201), dup.Tcp.SackBlocks[1]);

            // Overlapping the hole and both blocks: trimmed, the hole fills, everything becomes in order.
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack), Packets(400, seed: 9));
            Segment ack = h.Read();
            Assert.Equal(1401u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(0, ack.Tcp.SackBlocks.Count);
            var buffer = new byte[1000];
            Assert.Equal(400, c.TryRead(buffer));
            Assert.Equal(Packets(400, seed: 9), buffer[..400]); // the in-order segment is taken whole; the held duplicates go
            Assert.Equal(-1, c.TryRead(buffer));
            c.Abort();
        }
    }

    [Fact]
    public void Written_Data_Goes_Out_With_Psh_Then_A_Loss_Probe_Then_Retransmissions_With_Backoff()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            Assert.Equal(10, c.TryWrite(Packets(10)));
            Segment data = h.Read();
            Assert.Equal(TcpFlags.Ack | TcpFlags.Psh, data.Flags);
            Assert.Equal(iss + 1, data.Tcp.SequenceNumber);
            Assert.Equal(1001u, data.Tcp.AcknowledgmentNumber);
            Assert.Equal(Packets(10), data.Payload);
            TimeSpan rto = c.GetStatistics().RetransmissionTimeout;
            Assert.Equal(TimeSpan.FromMilliseconds(200), rto); // RTT 0 from the handshake, clamped to MinRto
            // RFC 8985 §7.2: the probe (2·SRTT + the delayed-ACK allowance for one segment) would come after the
            // RTO, so it goes at the RTO's time in its place and re-arms the RTO.
            h.Advance(rto - TimeSpan.FromMilliseconds(1));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal(data.Payload, h.Read().Payload);
            Assert.Equal(1, c.GetStatistics().LossProbes);
            Assert.Equal(0, c.GetStatistics().Timeouts);
            h.Advance(rto - TimeSpan.FromMilliseconds(1));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Equal(data.Payload, h.Read().Payload); // the RTO (RFC 6298 §5.4)
            Assert.Equal(1, c.GetStatistics().Timeouts);
            h.Advance(2 * rto - TimeSpan.FromMilliseconds(1)); // backed off (§5.5)
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Segment third = h.Read();
            Assert.Equal(iss + 1, third.Tcp.SequenceNumber);
            Assert.Equal(2, c.GetStatistics().Timeouts);
            h.Inject(PeerTs(1001, iss + 11, TcpFlags.Ack));
            h.Advance(TimeSpan.FromSeconds(5));
            h.ExpectNone();
            Assert.Equal(0, c.GetStatistics().SendQueued);
            c.Abort();
        }
    }

    [Fact]
    public void Retransmission_Limit_Fails_The_Connection()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { MaxRetransmissions = 3, IsnSecret = [1] });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.TryWrite(Packets(10));
            for (int i = 0; i < 10; i++)
            {
                h.Advance(TimeSpan.FromSeconds(10));
            }
            Assert.Equal(TcpState.Closed, c.State);
            var ex = Assert.Throws<IOException>(() => c.TryRead(new byte[10]));
            Assert.Equal(SocketError.TimedOut, ((SocketException)ex.InnerException!).SocketErrorCode);
            Assert.Equal(0, h.Tcp.ConnectionCount);
            c.Dispose();
            _ = iss;
        }
    }

    [Fact]
    public void Nagle_Holds_Small_Segments_Until_Acked_Unless_NoDelay()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.TryWrite(Packets(10));
            Assert.Equal(10, h.Read().Payload.Length);
            c.TryWrite(Packets(10));
            c.TryWrite(Packets(10));
            h.ExpectNone(); // small data waits for the ACK
            h.Inject(PeerTs(1001, iss + 11, TcpFlags.Ack));
            Segment coalesced = h.Read();
            Assert.Equal(20, coalesced.Payload.Length);
            c.Abort();
        }

        using var h2 = new TcpTestHarness();
        (TcpConnection c2, _, TcpConnectionListener l2) = h2.AcceptOne(connectionOptions: new TcpConnectionOptions { NoDelay = true });
        using (l2)
        {
            c2.TryWrite(Packets(10));
            c2.TryWrite(Packets(10));
            Assert.Equal(10, h2.Read().Payload.Length);
            Assert.Equal(10, h2.Read().Payload.Length);
            c2.Abort();
        }
    }

    [Fact]
    public void Three_Duplicate_Acks_Trigger_Fast_Retransmit()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(connectionOptions: new TcpConnectionOptions { NoDelay = true });
        using (l)
        {
            c.TryWrite(Packets(1448 * 5));
            for (int i = 0; i < 5; i++)
            {
                Assert.Equal(1448, h.Read().Payload.Length);
            }
            for (int i = 0; i < 3; i++)
            {
                h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack) with { SackBlocks = default });
            }
            Segment again = h.Read();
            Assert.Equal(iss + 1, again.Tcp.SequenceNumber);
            Assert.Equal(1, c.GetStatistics().FastRetransmits);
            c.Abort();
        }
    }

    [Fact]
    public void Zero_Window_Is_Probed_With_Backoff_Then_Data_Resumes()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.TryWrite(Packets(100));
            h.Read();
            h.Inject(PeerTs(1001, iss + 101, TcpFlags.Ack, window: 0));
            c.TryWrite(Packets(50));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(200));
            Segment probe = h.Read();
            Assert.Single(probe.Payload);
            Assert.Equal(iss + 101, probe.Tcp.SequenceNumber);
            h.Inject(PeerTs(1001, iss + 101, TcpFlags.Ack, window: 0));
            h.Advance(TimeSpan.FromMilliseconds(399));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Assert.Single(h.Read().Payload);
            h.Inject(PeerTs(1001, iss + 101, TcpFlags.Ack, window: 1000));
            Segment rest = h.Read();
            Assert.Equal(iss + 101, rest.Tcp.SequenceNumber);
            Assert.Equal(50, rest.Payload.Length);
            Assert.Equal(TcpState.Established, c.State);
            c.Abort();
        }
    }

    [Fact]
    public void Zero_Receive_Window_Answers_Probe_And_Sends_Update_After_Read()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne(connectionOptions: new TcpConnectionOptions { ReceiveBufferSize = 4096 }, options: false);
        using (l)
        {
            uint seq = 1001;
            for (int i = 0; i < 8; i++)
            {
                h.Inject(TcpTestHarness.Peer(seq, iss + 1, TcpFlags.Ack), Packets(512));
                seq += 512;
            }
            Segment last = h.Read();
            while (h.TryRead() is Segment s)
            {
                last = s;
            }
            Assert.Equal(seq, last.Tcp.AcknowledgmentNumber);
            Assert.Equal((ushort)0, last.Tcp.WindowSize);
            h.Inject(TcpTestHarness.Peer(seq, iss + 1, TcpFlags.Ack), Packets(1)); // a probe
            Segment answer = h.Read();
            Assert.Equal(seq, answer.Tcp.AcknowledgmentNumber);
            Assert.Equal((ushort)0, answer.Tcp.WindowSize);
            Assert.Equal(4096, c.TryRead(new byte[8192]));
            Segment update = h.Read();
            Assert.Equal(0, h.Pool.Pool.LiveBuffers); // the copy out released every inbound packet
            Assert.Equal(seq, update.Tcp.AcknowledgmentNumber);
            Assert.Equal((ushort)4096, update.Tcp.WindowSize);
            c.Abort();
        }
    }

    [Fact]
    public void Peer_Closes_First_Then_We_Close_RFC9293_3_6()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Fin), Packets(5));
            Segment ack = h.Read();
            Assert.Equal(1007u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(TcpState.CloseWait, c.State);
            var buffer = new byte[10];
            Assert.Equal(5, c.TryRead(buffer));
            Assert.Equal(0, c.TryRead(buffer)); // end of stream
            c.TryWrite(Packets(3)); // half-close: we may still send
            Assert.Equal(3, h.Read().Payload.Length);
            c.ShutdownSend();
            Segment fin = h.Read();
            Assert.Equal(TcpFlags.Ack | TcpFlags.Fin, fin.Flags);
            Assert.Equal(iss + 4, fin.Tcp.SequenceNumber);
            Assert.Equal(TcpState.LastAck, c.State);
            h.Inject(PeerTs(1007, iss + 5, TcpFlags.Ack));
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(0, h.Tcp.ConnectionCount);
            c.Dispose();
        }
    }

    [Fact]
    public void We_Close_First_Then_TimeWait_Lasts_Two_Msl()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { MaximumSegmentLifetime = TimeSpan.FromSeconds(10), IsnSecret = [1] });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.Dispose();
            Segment fin = h.Read();
            Assert.Equal(TcpFlags.Ack | TcpFlags.Fin, fin.Flags);
            Assert.Equal(TcpState.FinWait1, c.State);
            h.Inject(PeerTs(1001, iss + 2, TcpFlags.Ack));
            Assert.Equal(TcpState.FinWait2, c.State);
            h.Inject(PeerTs(1001, iss + 2, TcpFlags.Ack | TcpFlags.Fin));
            Assert.Equal(1002u, h.Read().Tcp.AcknowledgmentNumber);
            Assert.Equal(TcpState.TimeWait, c.State);
            h.Inject(PeerTs(1001, iss + 2, TcpFlags.Ack | TcpFlags.Fin, tsval: 201)); // retransmitted FIN: ACK again
            Assert.Equal(1002u, h.Read().Tcp.AcknowledgmentNumber);
            h.Advance(TimeSpan.FromSeconds(19));
            Assert.Equal(1, h.Tcp.ConnectionCount);
            h.Advance(TimeSpan.FromSeconds(1));
            Assert.Equal(0, h.Tcp.ConnectionCount);
            Assert.Equal(TcpState.Closed, c.State);
        }
    }

    [Fact]
    public void Simultaneous_Close_Goes_Through_Closing()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.ShutdownSend();
            h.Read();
            h.Inject(PeerTs(1001, iss + 1, TcpFlags.Ack | TcpFlags.Fin)); // the peer's FIN crosses ours
            Assert.Equal(TcpState.Closing, c.State);
            Assert.Equal(1002u, h.Read().Tcp.AcknowledgmentNumber);
            h.Inject(PeerTs(1002, iss + 2, TcpFlags.Ack));
            Assert.Equal(TcpState.TimeWait, c.State);
            c.Dispose();
        }
    }

    [Fact]
    public void FinWait2_Times_Out_When_Orphaned()
    {
        using var h = new TcpTestHarness(new TcpProtocolOptions { FinWait2Timeout = TimeSpan.FromSeconds(5), IsnSecret = [1] });
        (TcpConnection c, uint iss, TcpConnectionListener l) = h.AcceptOne();
        using (l)
        {
            c.Dispose();
            h.Read();
            h.Inject(PeerTs(1001, iss + 2, TcpFlags.Ack));
            Assert.Equal(TcpState.FinWait2, c.State);
            h.Advance(TimeSpan.FromSeconds(5));
            Assert.Equal(TcpState.Closed, c.State);
            Assert.Equal(0, h.Tcp.ConnectionCount);
        }
    }

    internal static byte[] Packets(int length, int seed = 1) => Support.Packets.Payload(length, seed);
}
