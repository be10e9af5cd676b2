using NetStack.Diagnostics;
using NetStack.Tcp;
using NetStack.Tcp.Congestion;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The two loss recoveries on their own, over a scoreboard of ten sent segments: NewReno's duplicate and partial
/// ACKs (RFC 6582), SACK recovery with RACK (RFC 6675, RFC 8985), the shared end of recovery, the pipe and the
/// retransmission timeout.
/// </summary>
public class LossRecoveryTests
{
    private const int Mss = 1000;
    private static readonly SequenceNumber Iss = 5000;
    private static readonly SequenceNumber Una = Iss + 1;
    private static readonly SequenceNumber Max = Una + (10 * Mss);
    private static readonly TimeSpan Now = TimeSpan.FromSeconds(1);

    private sealed record Setup(LossRecovery Recovery, SackScoreboard Board, NewRenoCongestionControl Cc, TcpConnectionCounters Counters, ReasonCounters<TcpEvent> Events);

    private static Setup Make(bool sack)
    {
        var board = new SackScoreboard();
        for (int i = 0; i < 10; i++)
        {
            board.Append(Una + (i * Mss), Mss, TimeSpan.FromMilliseconds(i).Ticks, fin: false, Mss);
        }
        var cc = new NewRenoCongestionControl(Mss);
        cc.Initialize(Mss);
        var events = new ReasonCounters<TcpEvent>();
        var counters = new TcpConnectionCounters(events);
        var rtt = new RttEstimator(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(60));
        rtt.Sample(TimeSpan.FromMilliseconds(10));
        LossRecovery recovery = sack ? new SackLossRecovery(board, cc, counters, rtt, Iss) : new NewRenoLossRecovery(board, cc, counters, Iss);
        return new Setup(recovery, board, cc, counters, events);
    }

    private static void DuplicateAcks(Setup s, int count, bool carriedSack = false)
    {
        for (int i = 0; i < count; i++)
        {
            s.Recovery.OnDuplicateAck(Una, carriedSack, Una, Max, Mss, Now);
        }
    }

    /// <summary>The ACK of the first <paramref name="segments"/> segments, as the connection feeds it.</summary>
    private static DeliveryInfo Ack(Setup s, int segments)
    {
        DeliveryInfo info = s.Board.BeginDelivery();
        SequenceNumber ack = Una + (segments * Mss);
        s.Board.AckUpTo(ack, ref info);
        s.Recovery.OnCumulativeAck(ack, segments * Mss, duplicateSack: false, ref info, Now);
        return info;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc5681_3_2_ThirdDuplicateAckWithoutSackBlocks_ResendsTheFirstSegmentAndEntersRecovery(bool sack)
    {
        Setup s = Make(sack);
        DuplicateAcks(s, 2);
        Assert.Equal(RecoveryState.Open, s.Recovery.State);
        DuplicateAcks(s, 1);
        Assert.Equal(RecoveryState.Recovery, s.Recovery.State);
        Assert.Equal(Max, s.Recovery.RecoveryPoint);
        Assert.True(s.Board[0].Is(SentFlags.Lost));
        Assert.Equal(5 * Mss, s.Cc.CongestionWindow); // flight / 2 (RFC 5681 eq. 4)
        Assert.Equal(1, s.Counters.Recoveries);
        Assert.Equal(1, s.Events[TcpEvent.FastRetransmits]);
    }

    [Fact]
    public void Rfc6675_5_DuplicateAcksWithSackBlocks_AreLeftToTheScoreboardAndRack()
    {
        Setup s = Make(sack: true);
        DuplicateAcks(s, 5, carriedSack: true);
        Assert.Equal(RecoveryState.Open, s.Recovery.State);
        Assert.Equal(0, s.Board.LostBytes);
        Assert.Equal(10 * Mss, s.Recovery.Pipe(Max - Una));
    }

    [Fact]
    public void Rfc6582_3_2_SackBlocksFromAPeerWithoutSack_CountAsPlainDuplicates()
    {
        Setup s = Make(sack: false);
        DuplicateAcks(s, 3, carriedSack: true);
        Assert.Equal(RecoveryState.Recovery, s.Recovery.State);
    }

    [Fact]
    public void Rfc6582_3_2_PartialAck_ResendsTheNextHole()
    {
        Setup s = Make(sack: false);
        DuplicateAcks(s, 3);
        Ack(s, 1);
        Assert.Equal(RecoveryState.Recovery, s.Recovery.State);
        Assert.True(s.Board[0].Is(SentFlags.Lost)); // segment 1, now the first unacknowledged
        Assert.Equal(Una + Mss, s.Board[0].Start);
    }

    [Fact]
    public void Rfc6675_5_PartialAckWithSack_MarksNothing()
    {
        Setup s = Make(sack: true);
        DuplicateAcks(s, 3);
        Ack(s, 1);
        Assert.Equal(0, s.Board.LostBytes);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rfc6675_5_AckOfTheRecoveryPoint_EndsRecoveryAtSsthresh(bool sack)
    {
        Setup s = Make(sack);
        DuplicateAcks(s, 3);
        DeliveryInfo info = Ack(s, 10);
        Assert.Equal(RecoveryState.Open, s.Recovery.State);
        Assert.Equal(0, info.NewlyDelivered); // nothing for the congestion controller to grow on
        Assert.Equal(s.Cc.SlowStartThreshold, s.Cc.CongestionWindow);
    }

    [Fact]
    public void Rfc6582_3_2_DuplicatesBelowTheLastRecoveryPoint_DoNotBeginAnother()
    {
        Setup s = Make(sack: false);
        DuplicateAcks(s, 3);
        Ack(s, 2);
        s.Recovery.OnRetransmissionTimeout(Una + (2 * Mss), Max, retries: 1, Now);
        Ack(s, 10); // the timeout's recovery point: Open again, but "recover" stays at Max
        for (int i = 0; i < 3; i++)
        {
            s.Recovery.OnDuplicateAck(Una, carriedSack: false, Una, Max, Mss, Now); // an old ACK below "recover"
        }
        Assert.Equal(RecoveryState.Open, s.Recovery.State);
        Assert.Equal(1, s.Counters.Recoveries);
    }

    [Fact]
    public void Rfc6675_4_Pipe_LeavesOutSackedLostAndDuplicateAckedBytes()
    {
        Setup s = Make(sack: false);
        DuplicateAcks(s, 2); // two segments reported gone
        Assert.Equal(8 * Mss, s.Recovery.Pipe(Max - Una));
        DuplicateAcks(s, 1); // and the first marked lost
        Assert.Equal(6 * Mss, s.Recovery.Pipe(Max - Una));
        Assert.Equal(0, s.Recovery.Pipe(0)); // never negative
    }

    [Fact]
    public void Rfc6675_5_1_RetransmissionTimeout_DeemsEverythingNotSackedLost()
    {
        Setup s = Make(sack: true);
        DeliveryInfo info = s.Board.BeginDelivery();
        s.Board.Sack(Una + (5 * Mss), Una + (6 * Mss), ref info);
        s.Recovery.OnRetransmissionTimeout(Una, Max, retries: 1, Now);
        Assert.Equal(RecoveryState.Loss, s.Recovery.State);
        Assert.Equal(9 * Mss, s.Board.LostBytes);
        Assert.Equal(Mss, s.Board.SackedBytes);
        Assert.Equal(Mss, s.Cc.CongestionWindow); // the loss window
    }

    [Fact]
    public void Rfc2018_8_SecondTimeoutInARow_ForgetsTheSacks()
    {
        Setup s = Make(sack: true);
        DeliveryInfo info = s.Board.BeginDelivery();
        s.Board.Sack(Una + (5 * Mss), Una + (6 * Mss), ref info);
        s.Recovery.OnRetransmissionTimeout(Una, Max, retries: 2, Now);
        Assert.Equal(0, s.Board.SackedBytes);
        Assert.Equal(10 * Mss, s.Board.LostBytes);
    }

    [Fact]
    public void Rfc2883_OnSackBlocks_DuplicateSackIsCountedWithSackOnly()
    {
        var blocks = default(TcpSackList);
        blocks.TryAdd(new TcpSackBlock((Una - 100).Value, Una.Value));
        Setup sack = Make(sack: true);
        DeliveryInfo info = sack.Board.BeginDelivery();
        Assert.True(sack.Recovery.OnSackBlocks(blocks, Una, Una, Max, ref info));
        Assert.Equal(1, sack.Counters.DuplicateSacks);
        Assert.Equal(1, sack.Events[TcpEvent.DuplicateSacks]);
        Setup reno = Make(sack: false);
        Assert.False(reno.Recovery.OnSackBlocks(blocks, Una, Una, Max, ref info));
        Assert.Equal(0, reno.Counters.DuplicateSacks);
    }

    [Fact]
    public void Rfc8985_6_2_RackFindsALoss_BeginsRecoveryWithSack()
    {
        Setup s = Make(sack: true);
        DeliveryInfo info = s.Board.BeginDelivery();
        s.Board.Sack(Una + (9 * Mss), Max, ref info); // the last segment, sent at 9 ms, delivered
        s.Recovery.DetectLosses(info, Una, Max, Mss, TimeSpan.FromMilliseconds(30));
        Assert.Equal(RecoveryState.Recovery, s.Recovery.State);
        Assert.Equal(7 * Mss, s.Board.LostBytes); // RACK RTT 21 ms, window 2.5 ms: sent at 0..6 ms are lost, 7 and 8 wait
    }

    [Fact]
    public void Rfc8985_2_NewReno_HasNoRackOrProbe()
    {
        Setup s = Make(sack: false);
        DeliveryInfo info = s.Board.BeginDelivery();
        s.Board.Sack(Una + (9 * Mss), Max, ref info);
        s.Recovery.DetectLosses(info, Una, Max, Mss, TimeSpan.FromMilliseconds(30));
        s.Recovery.ArmProbe(persisting: false, Max - Una, Mss, TimeSpan.MaxValue, Now);
        Assert.Equal(RecoveryState.Open, s.Recovery.State);
        Assert.Equal(TimeSpan.MaxValue, s.Recovery.ProbeDeadline);
        Assert.False(s.Recovery.BeginProbe());
    }

    [Fact]
    public void Rfc8985_7_ProbeWhileRecovering_IsNotSent()
    {
        Setup s = Make(sack: true);
        s.Recovery.ArmProbe(persisting: false, Max - Una, Mss, TimeSpan.MaxValue, Now);
        Assert.NotEqual(TimeSpan.MaxValue, s.Recovery.ProbeDeadline);
        DuplicateAcks(s, 3);
        Assert.Equal(TimeSpan.MaxValue, s.Recovery.ProbeDeadline); // entering recovery disarms it
        Assert.False(s.Recovery.BeginProbe());
    }

    [Fact]
    public void Rfc8985_7_4_RetransmittedProbeThatRepairedATailLoss_IsACongestionEvent()
    {
        Setup s = Make(sack: true);
        Assert.True(s.Recovery.BeginProbe());
        s.Recovery.OnProbeSent(retransmitted: true, Max);
        long before = s.Cc.CongestionWindow;
        Ack(s, 10);
        Assert.Equal(before / 2, s.Cc.CongestionWindow);
        Assert.Equal(1, s.Counters.LossProbes);
        Assert.Equal(0, s.Counters.Recoveries); // not a fast recovery
    }
}
