using System.Net;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// Loss recovery, exact packets on the virtual clock: SACK scoreboard and fast recovery (RFC 6675), RACK's
/// reordering window and Tail Loss Probe (RFC 8985), D-SACK both ways (RFC 2883), NewReno partial ACKs without
/// SACK (RFC 6582).
/// </summary>
public class TcpRecoveryTests
{
    private const int Mss = 1448;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(10);

    /// <summary>A passive connection whose handshake took <see cref="Rtt"/> (so RTT estimates are not zero).</summary>
    private static (TcpConnection Connection, uint Iss, TcpConnectionListener Listener) Open(TcpTestHarness h, bool sack = true, uint tsval = 100)
    {
        TcpConnectionListener listener = h.Tcp.Listen(new IPEndPoint(IPAddress.Any, 80), 8, new TcpConnectionOptions { NoDelay = true });
        TcpRepr syn = TcpTestHarness.Peer(1000, 0, TcpFlags.Syn) with { MaxSegmentSize = 1460, WindowScale = 2, SackPermitted = sack, Timestamps = new TcpTimestamps(tsval, 0) };
        h.Inject(syn);
        Segment synAck = h.Read();
        h.Advance(Rtt);
        h.Inject(TcpTestHarness.Peer(1001, synAck.Tcp.SequenceNumber + 1, TcpFlags.Ack) with { Timestamps = new TcpTimestamps(tsval + 10, synAck.Tcp.Timestamps!.Value.Value) });
        Assert.True(listener.TryAccept(out TcpConnection? c));
        return (c!, synAck.Tcp.SequenceNumber, listener);
    }

    private static TcpRepr Ack(uint ack, uint tsval, params (uint Left, uint Right)[] sack)
    {
        var repr = TcpTestHarness.Peer(1001, ack, TcpFlags.Ack) with { Timestamps = new TcpTimestamps(tsval, 0) };
        foreach ((uint left, uint right) in sack)
        {
            repr.SackBlocks.TryAdd(new TcpSackBlock(left, right));
        }
        return repr;
    }

    private static List<Segment> ReadAll(TcpTestHarness h)
    {
        var list = new List<Segment>();
        while (h.TryRead() is Segment s)
        {
            list.Add(s);
        }
        return list;
    }

    private static uint Seg(uint iss, int index) => iss + 1 + (uint)(index * Mss); // start of the index-th segment (0-based)

    [Fact]
    public void Sack_Hole_Is_Resent_Alone_And_Recovery_Ends_At_The_Recovery_Point_RFC6675_5()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            Assert.Equal(10 * Mss, c.TryWrite(TcpDataTests.Packets(10 * Mss)));
            Assert.Equal(10, ReadAll(h).Count); // the initial window
            h.Advance(Rtt);
            // Segments 0 and 1 arrived, 2 was lost, 3..9 arrived.
            h.Inject(Ack(Seg(iss, 2), 200, (Seg(iss, 3), Seg(iss, 10))));
            List<Segment> resent = ReadAll(h);
            Assert.Single(resent);
            Assert.Equal(Seg(iss, 2), resent[0].Tcp.SequenceNumber);
            Assert.Equal(Mss, resent[0].Payload.Length);
            TcpConnectionStatistics during = c.GetStatistics();
            Assert.Equal(1, during.FastRetransmits);
            Assert.Equal(7 * Mss, during.SackedBytes);
            Assert.Equal((long)(10 * Mss * 0.7), during.CongestionWindow); // CUBIC's β on entering recovery
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 10), 201));
            TcpConnectionStatistics after = c.GetStatistics();
            Assert.Equal(0, after.SackedBytes);
            Assert.Equal(1, after.Retransmissions);
            Assert.Equal(after.SlowStartThreshold, after.CongestionWindow);
            c.Abort();
        }
    }

    [Fact]
    public void Rack_Waits_The_Reordering_Window_Before_Deeming_Older_Segments_Lost_RFC8985_6_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(10 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            // Only segment 4 reported: fewer than DupThresh SACKed, so RACK allows min_RTT/4 = 2.5 ms of reordering.
            h.Inject(Ack(Seg(iss, 0), 200, (Seg(iss, 4), Seg(iss, 5))));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(2));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(0.5)); // the reordering timer fires: 0..3 are lost
            List<Segment> resent = ReadAll(h);
            Assert.NotEmpty(resent);
            Assert.Equal(Seg(iss, 0), resent[0].Tcp.SequenceNumber);
            Assert.All(resent, s => Assert.True(new SequenceNumber(s.Tcp.SequenceNumber) < new SequenceNumber(Seg(iss, 4))));
            Assert.Equal(1, c.GetStatistics().FastRetransmits);
            c.Abort();
        }
    }

    [Fact]
    public void Reordering_Seen_Keeps_Rack_From_Resending_When_The_Hole_Fills_In_Time_RFC8985_6_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(10 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 0), 200, (Seg(iss, 3), Seg(iss, 4))));     // 3 overtook 0..2
            h.Advance(TimeSpan.FromMilliseconds(1));
            h.Inject(Ack(Seg(iss, 4), 201));                                   // ...which were only late
            h.Inject(Ack(Seg(iss, 4), 202, (Seg(iss, 6), Seg(iss, 10))));     // 5 is late too: 4 segments SACKed
            h.ExpectNone(); // reordering was seen, so the reordering window applies even past DupThresh
            h.Inject(Ack(Seg(iss, 10), 203));
            h.Advance(TimeSpan.FromSeconds(1));
            Assert.Empty(ReadAll(h));
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.Equal(0, stats.Retransmissions);
            Assert.Equal(0, stats.FastRetransmits);
            c.Abort();
        }
    }

    [Fact]
    public void Tail_Loss_Probe_Resends_The_Last_Segment_After_Two_Srtt_And_Rack_Repairs_The_Rest_RFC8985_7()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(5 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 3), 200)); // 3 and 4, the tail, were lost: no SACK can tell
            TimeSpan srtt = c.GetStatistics().SmoothedRtt;
            TimeSpan pto = 2 * srtt + TimeSpan.FromMilliseconds(2); // two segments in flight: 2·SRTT plus Linux's 2 ms slack
            h.Advance(pto - TimeSpan.FromMilliseconds(1));
            h.ExpectNone();
            h.Advance(TimeSpan.FromMilliseconds(1));
            Segment probe = h.Read();
            Assert.Equal(Seg(iss, 4), probe.Tcp.SequenceNumber); // no new data: the last segment again
            Assert.Equal(1, c.GetStatistics().LossProbes);
            h.ExpectNone();
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 3), 201, (Seg(iss, 4), Seg(iss, 5)))); // the probe arrived: 3 is known lost now
            Segment repair = h.Read();
            Assert.Equal(Seg(iss, 3), repair.Tcp.SequenceNumber);
            Assert.Equal(0, c.GetStatistics().Timeouts); // no RTO was needed
            c.Abort();
        }
    }

    [Theory]
    [InlineData(true, 2)]
    [InlineData(false, 1)]
    public void Probe_Of_New_Data_Is_One_Send_Unit_Two_Segments_With_Gso_RFC8985_7_3(bool gso, int segments)
    {
        // The flight's only ACK is lost (GRO merged the flight, the receiver answered it once): the probe must draw
        // an ACK at once, and two full segments do (RFC 5681 §4.2); one would wait out the delayed-ACK timer.
        using var h = new TcpTestHarness(gso: gso ? GsoSupport.Host : GsoSupport.None);
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(20 * Mss)); // ten segments go (the initial window), ten wait for the cwnd
            int sent = 0;
            while (h.Link.Read() is { } p)
            {
                sent += p.SegmentsRepresented;
                p.Release();
            }
            Assert.Equal(10, sent);
            TimeSpan pto = (2 * c.GetStatistics().SmoothedRtt) + TimeSpan.FromMilliseconds(2);
            h.Advance(pto - TimeSpan.FromMilliseconds(1));
            Assert.Null(h.Link.Read());
            h.Advance(TimeSpan.FromMilliseconds(1));
            using (NetStack.Buffers.PacketBuffer? probe = h.Link.Read())
            {
                Assert.NotNull(probe);
                Assert.Equal(segments, probe!.SegmentsRepresented);
                Assert.Equal(20 + 32 + (segments * Mss), probe.Length);
                Assert.Equal(Seg(iss, 10), System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(probe.ToArray().AsSpan(24)));
            }
            Assert.Null(h.Link.Read());
            Assert.Equal(1, c.GetStatistics().LossProbes);
            c.Abort();
            h.Link.Drain();
        }
    }

    [Fact]
    public void First_Half_Of_A_Lost_Two_Segment_Probe_Is_Repaired_By_Rack_Without_An_Rto_RFC8985_6_2()
    {
        // The flight's ACK was lost, the probe's first segment too; the SACK of its second segment must repair
        // the first (same transmission, lower sequence: sent before it) within the reordering window.
        using var h = new TcpTestHarness(gso: GsoSupport.Host);
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(20 * Mss));
            while (h.Link.Read() is { } p)
            {
                p.Release();
            }
            h.Advance((2 * c.GetStatistics().SmoothedRtt) + TimeSpan.FromMilliseconds(2));
            using (NetStack.Buffers.PacketBuffer? probe = h.Link.Read())
            {
                Assert.Equal(2, probe!.SegmentsRepresented); // segments 10 and 11
            }
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 10), 300, (Seg(iss, 11), Seg(iss, 12)))); // 0–9 arrived, 10 lost, 11 arrived
            h.Advance(Rtt); // past any reordering window (min_RTT/4)
            // The ACK opened the window: new data may go first; the repair follows within the reordering window.
            var sent = new List<(uint Seq, int Length)>();
            while (h.Link.Read() is { } p) // a GSO link: checksums are left partial, so read the raw packets
            {
                sent.Add((System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(p.ToArray().AsSpan(24)), p.Length - 20 - 32));
                p.Release();
            }
            Assert.Contains((Seg(iss, 10), Mss), sent);
            Assert.Equal(0, c.GetStatistics().Timeouts);
            c.Abort();
            h.Link.Drain();
        }
    }

    [Fact]
    public void Probe_Sends_New_Data_When_The_Windows_Allow_RFC8985_7_3()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            h.Inject(Ack(Seg(iss, 0), 150) with { WindowSize = 2 * Mss / 4 }); // the peer's window (scale 2): two segments
            c.TryWrite(TcpDataTests.Packets(3 * Mss));
            Assert.Equal(2, ReadAll(h).Count);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 1), 200) with { WindowSize = 2 * Mss / 4 }); // one ACKed, room for the third now...
            Segment third = h.Read();                                           // ...which goes at once
            Assert.Equal(Seg(iss, 2), third.Tcp.SequenceNumber);
            c.TryWrite(TcpDataTests.Packets(Mss)); // a fourth, held by the peer's window
            h.ExpectNone();
            h.Inject(Ack(Seg(iss, 1), 201) with { WindowSize = 8 * Mss / 4 }); // a window update with nothing ACKed
            Segment fourth = h.Read();
            Assert.Equal(Seg(iss, 3), fourth.Tcp.SequenceNumber);
            h.Advance(TimeSpan.FromMilliseconds(300));
            Segment probe = h.Read();
            Assert.Equal(Seg(iss, 3), probe.Tcp.SequenceNumber); // nothing new to send: the last segment again
            c.Abort();
        }
    }

    [Fact]
    public void Dsack_From_The_Peer_Is_Counted_And_Changes_Nothing_Else_RFC2883()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(4 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 2), 200));
            h.Inject(Ack(Seg(iss, 2), 201, (Seg(iss, 0), Seg(iss, 1)))); // segment 0 arrived twice
            h.ExpectNone();
            TcpConnectionStatistics stats = c.GetStatistics();
            Assert.Equal(1, stats.DuplicateSacks);
            Assert.Equal(0, stats.SackedBytes);
            Assert.Equal(0, stats.FastRetransmits);
            c.Abort();
        }
    }

    [Fact]
    public void Duplicate_Data_Is_Reported_With_A_Dsack_Block_RFC2883_4_1()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            byte[] data = TcpDataTests.Packets(500);
            TcpRepr segment = TcpTestHarness.Peer(1001, iss + 1, TcpFlags.Ack | TcpFlags.Psh) with { Timestamps = new TcpTimestamps(200, 0) };
            h.Inject(segment, data);
            h.Advance(TimeSpan.FromMilliseconds(40));
            Assert.Equal(1501u, h.Read().Tcp.AcknowledgmentNumber);
            h.Inject(segment with { Timestamps = new TcpTimestamps(201, 0) }, data); // the same segment again
            Segment ack = h.Read();
            Assert.Equal(1501u, ack.Tcp.AcknowledgmentNumber);
            Assert.Equal(1, ack.Tcp.SackBlocks.Count);
            Assert.Equal(new TcpSackBlock(1001, 1501), ack.Tcp.SackBlocks[0]); // below the ACK: a D-SACK
            h.Inject(segment with { SequenceNumber = 1501, Timestamps = new TcpTimestamps(202, 0) }, data);
            h.Advance(TimeSpan.FromMilliseconds(40));
            Assert.Equal(0, h.Read().Tcp.SackBlocks.Count); // reported once
            c.Abort();
        }
    }

    [Fact]
    public void Without_Sack_A_Partial_Ack_Resends_The_Next_Hole_At_Once_RFC6582_3_2()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h, sack: false);
        using (l)
        {
            Assert.False(c.GetStatistics().Sack);
            c.TryWrite(TcpDataTests.Packets(10 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            // 0 and 5 were lost: three duplicate ACKs for 0.
            for (uint i = 0; i < 3; i++)
            {
                h.Inject(Ack(Seg(iss, 0), 200 + i));
            }
            Segment first = h.Read();
            Assert.Equal(Seg(iss, 0), first.Tcp.SequenceNumber);
            Assert.Equal(1, c.GetStatistics().FastRetransmits);
            ReadAll(h);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 5), 210)); // partial: below the recovery point
            Segment second = h.Read();
            Assert.Equal(Seg(iss, 5), second.Tcp.SequenceNumber);
            Assert.Equal(1, c.GetStatistics().FastRetransmits); // the same recovery episode
            h.Inject(Ack(Seg(iss, 10), 211));
            Assert.Equal(c.GetStatistics().SlowStartThreshold, c.GetStatistics().CongestionWindow);
            c.Abort();
        }
    }

    [Fact]
    public void Retransmission_Timeout_Resends_From_Snd_Una_Skipping_What_Was_Sacked_RFC6675_5_1()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(10 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            h.Inject(Ack(Seg(iss, 0), 200, (Seg(iss, 1), Seg(iss, 4)))); // 0 lost, 1..3 SACKed, the rest unheard
            List<Segment> fast = ReadAll(h);
            Assert.Equal(Seg(iss, 0), fast[0].Tcp.SequenceNumber);
            // Nothing more comes back: the RTO fires, cwnd collapses to one segment, 0 goes first again.
            h.Advance(c.GetStatistics().RetransmissionTimeout);
            List<Segment> afterRto = ReadAll(h);
            Assert.Single(afterRto);
            Assert.Equal(Seg(iss, 0), afterRto[0].Tcp.SequenceNumber);
            Assert.Equal(1, c.GetStatistics().Timeouts);
            Assert.Equal(Mss, c.GetStatistics().CongestionWindow);
            h.Inject(Ack(Seg(iss, 4), 300)); // 0..3 now cumulatively ACKed
            List<Segment> next = ReadAll(h);
            Assert.Equal(2, next.Count); // slow start: two segments for the one newly delivered
            Assert.Equal(Seg(iss, 4), next[0].Tcp.SequenceNumber); // resumes at 4: the SACKed 1..3 were not resent
            Assert.Equal(Seg(iss, 5), next[1].Tcp.SequenceNumber);
            c.Abort();
        }
    }

    [Fact]
    public void Sack_Blocks_With_Odd_Edges_Cannot_Cut_The_Scoreboard_Byte_By_Byte_CVE_2019_11477()
    {
        using var h = new TcpTestHarness();
        (TcpConnection c, uint iss, TcpConnectionListener l) = Open(h);
        using (l)
        {
            c.TryWrite(TcpDataTests.Packets(10 * Mss));
            ReadAll(h);
            h.Advance(Rtt);
            uint tsval = 200;
            // Three-byte blocks at odd offsets across the whole flight, a few per ACK, again and again.
            for (int round = 0; round < 50; round++)
            {
                for (int k = 0; k < 3; k++)
                {
                    uint left = Seg(iss, 1) + (uint)((round * 97) + (k * 3001)) % (8 * Mss);
                    h.Inject(Ack(Seg(iss, 0), tsval++, (left, left + 3)));
                }
            }
            Assert.InRange(c.ControlBlock.ScoreboardRecords, 1, 12); // at most one per segment sent (10), not per byte
            Assert.Equal(0, c.GetStatistics().SackedBytes);           // no whole segment was reported
            c.Abort();
        }
    }
}
