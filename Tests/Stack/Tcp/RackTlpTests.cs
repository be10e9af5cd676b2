using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// RACK-TLP on its own (RFC 8985), over a scoreboard and an RTT estimator: the reordering window, the time-based
/// loss verdict and its timer (§6), the probe timeout and the end of a probe episode (§7).
/// </summary>
public class RackTlpTests
{
    private const int Mss = 100;
    private static readonly SequenceNumber Start = 1000;
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    /// <summary>Four one-segment records sent at 1, 2, 3 and 4 ms; an RTT estimator with one 10 ms sample.</summary>
    private static (SackScoreboard Board, RttEstimator Rtt, RackTlp Rack) Make()
    {
        var board = new SackScoreboard();
        for (int i = 0; i < 4; i++)
        {
            board.Append(Start + (i * Mss), Mss, ((i + 1) * Ms).Ticks, fin: false, Mss);
        }
        var rtt = new RttEstimator(TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(60));
        rtt.Sample(10 * Ms);
        return (board, rtt, new RackTlp(board, rtt));
    }

    private static DeliveryInfo Sack(SackScoreboard board, int segment)
    {
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(Start + (segment * Mss), Start + ((segment + 1) * Mss), ref info);
        return info;
    }

    [Fact]
    public void Rfc8985_6_2_SegmentSentBeforeADeliveredOne_IsLostOnceItsRttAndTheWindowHavePassed()
    {
        (SackScoreboard board, _, RackTlp rack) = Make();
        DeliveryInfo info = Sack(board, 3); // sent at 4 ms: RACK's RTT is 10 ms, the window min_RTT/4 = 2.5 ms
        Assert.True(rack.DetectLosses(info, 14 * Ms, recovering: false, Mss));
        Assert.True(board[0].Is(SentFlags.Lost));   // 1 + 10 + 2.5 < 14
        Assert.False(board[1].Is(SentFlags.Lost));  // 2 + 12.5 > 14: waits
        Assert.Equal(TimeSpan.FromMilliseconds(14.5), rack.ReorderDeadline);
    }

    [Fact]
    public void Rfc8985_6_3_ReorderTimeout_MarksTheSegmentThatWaited()
    {
        (SackScoreboard board, _, RackTlp rack) = Make();
        rack.DetectLosses(Sack(board, 3), 14 * Ms, recovering: false, Mss);
        Assert.True(rack.OnReorderTimeout(TimeSpan.FromMilliseconds(14.5), recovering: false, Mss));
        Assert.True(board[1].Is(SentFlags.Lost));
        Assert.False(board[2].Is(SentFlags.Lost));
        Assert.Equal(TimeSpan.FromMilliseconds(15.5), rack.ReorderDeadline);
    }

    [Fact]
    public void Rfc8985_6_2_InRecoveryWithoutReordering_TheWindowIsZero()
    {
        (SackScoreboard board, _, RackTlp rack) = Make();
        Assert.True(rack.DetectLosses(Sack(board, 3), 13 * Ms, recovering: true, Mss));
        Assert.True(board[1].Is(SentFlags.Lost)); // 2 + 10 < 13, no window
        Assert.True(board[2].Is(SentFlags.Lost)); // 3 + 10 = 13
    }

    [Fact]
    public void Rfc8985_6_2_DuplicateSacks_WidenTheWindowButNotPastSrtt()
    {
        (SackScoreboard board, _, RackTlp rack) = Make();
        rack.OnDuplicateSack(); // window 2 · 2.5 ms = 5 ms
        rack.DetectLosses(Sack(board, 3), 14 * Ms, recovering: false, Mss);
        Assert.False(board[0].Is(SentFlags.Lost)); // 1 + 10 + 5 > 14
        Assert.Equal(16 * Ms, rack.ReorderDeadline);
        for (int i = 0; i < 20; i++)
        {
            rack.OnDuplicateSack(); // capped: at most SRTT
        }
        Assert.False(rack.OnReorderTimeout(20 * Ms, recovering: false, Mss));
        Assert.Equal(21 * Ms, rack.ReorderDeadline); // 1 + 10 + 10
    }

    [Fact]
    public void Rfc8985_6_2_NothingDeliveredYet_DetectsNothing()
    {
        (SackScoreboard board, _, RackTlp rack) = Make();
        Assert.False(rack.DetectLosses(default, TimeSpan.FromSeconds(1), recovering: false, Mss));
        Assert.Equal(0, board.LostBytes);
        Assert.Equal(TimeSpan.MaxValue, rack.ReorderDeadline);
    }

    [Theory]
    [InlineData(Mss, 220)]     // one segment in flight: 2·SRTT + WCDelAckT (200 ms)
    [InlineData(3 * Mss, 22)]  // more: 2·SRTT + 2 ms of slack
    public void Rfc8985_7_2_ProbeTimeout_IsTwoSrttPlusTheDelayedAckAllowance(long flight, int expectedMs)
    {
        (_, _, RackTlp rack) = Make();
        rack.ArmProbe(allowed: true, TimeSpan.Zero, flight, Mss, rtoDeadline: TimeSpan.MaxValue);
        Assert.Equal(expectedMs * Ms, rack.ProbeDeadline);
    }

    [Fact]
    public void Rfc8985_7_2_ProbeTimeout_IsNeverLaterThanTheRto()
    {
        (_, _, RackTlp rack) = Make();
        rack.ArmProbe(allowed: true, TimeSpan.Zero, 3 * Mss, Mss, rtoDeadline: 15 * Ms);
        Assert.Equal(15 * Ms, rack.ProbeDeadline);
    }

    [Fact]
    public void Rfc8985_7_2_WithoutAnRttSample_NoProbeIsArmed()
    {
        var board = new SackScoreboard();
        var rack = new RackTlp(board, new RttEstimator(TimeSpan.FromSeconds(1), Ms, TimeSpan.FromSeconds(60)));
        rack.ArmProbe(allowed: true, TimeSpan.Zero, Mss, Mss, TimeSpan.MaxValue);
        Assert.Equal(TimeSpan.MaxValue, rack.ProbeDeadline);
    }

    [Fact]
    public void Rfc8985_7_2_ProbeOutstanding_NoSecondProbeIsArmed()
    {
        (_, _, RackTlp rack) = Make();
        rack.OnProbeSent(retransmitted: false, Start + (4 * Mss));
        rack.ArmProbe(allowed: true, TimeSpan.Zero, Mss, Mss, TimeSpan.MaxValue);
        Assert.Equal(TimeSpan.MaxValue, rack.ProbeDeadline);
    }

    [Fact]
    public void Rfc8985_7_4_AckPastARetransmittedProbe_RepairedATailLoss()
    {
        (_, _, RackTlp rack) = Make();
        SequenceNumber high = Start + (4 * Mss);
        rack.OnProbeSent(retransmitted: true, high);
        Assert.False(rack.OnAck(high - 1, duplicateSack: false)); // below the probe: the episode goes on
        Assert.True(rack.OnAck(high, duplicateSack: false));
        Assert.False(rack.OnAck(high, duplicateSack: false));     // the episode ended
    }

    [Fact]
    public void Rfc8985_7_4_ProbeReportedAsDuplicate_RepairedNothing()
    {
        (_, _, RackTlp rack) = Make();
        rack.OnProbeSent(retransmitted: true, Start + (4 * Mss));
        Assert.False(rack.OnAck(Start + (4 * Mss), duplicateSack: true));
    }
}
