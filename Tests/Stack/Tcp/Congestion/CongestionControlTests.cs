using NetStack.Tcp;
using NetStack.Tcp.Congestion;

namespace NetStack.Tests.Stack.Tcp.Congestion;

/// <summary>The congestion controllers against the arithmetic of their RFCs: CUBIC (RFC 9438), HyStart++ (RFC 9406), NewReno (RFC 5681).</summary>
public class CongestionControlTests
{
    private const int Mss = 1000;
    private static readonly RoundInfo NoRound = new(default, default);

    /// <summary>Feeds <paramref name="cc"/> one ACK of one segment every <paramref name="rtt"/>/cwnd, for <paramref name="duration"/>.</summary>
    private static TimeSpan Run(CongestionController cc, TimeSpan start, TimeSpan duration, TimeSpan rtt)
    {
        TimeSpan now = start;
        TimeSpan end = start + duration;
        while (now < end)
        {
            long segments = Math.Max(1, cc.CongestionWindow / Mss);
            now += rtt / segments;
            cc.OnAck(Mss, now, rtt, rtt, cwndLimited: true, NoRound);
        }
        return now;
    }

    [Fact]
    public void Cubic_Reduces_By_Beta_And_Regains_W_max_After_K_RFC9438_4()
    {
        var cc = new CubicCongestionControl(Mss);
        cc.Initialize(Mss);
        // Leave slow start at 100 segments, then lose.
        cc.OnAck(90 * Mss, TimeSpan.Zero, null, TimeSpan.FromMilliseconds(10), true, NoRound);
        Assert.Equal(100 * Mss, cc.CongestionWindow);
        cc.OnCongestionEvent(100 * Mss, TimeSpan.FromSeconds(1));
        Assert.Equal(70 * Mss, cc.CongestionWindow);     // β_cubic = 0.7 (§4.6)
        Assert.Equal(70 * Mss, cc.SlowStartThreshold);
        Assert.Equal(100, cc.WMax, 6);
        cc.OnRecoveryEnd();

        // K = cbrt(W_max · (1 − β) / C) = cbrt(100 · 0.3 / 0.4) = cbrt(75) ≈ 4.217 s (§4.2). A 100 ms RTT keeps the
        // Reno-friendly estimate (+0.53 segment per RTT) below the cubic, so the cubic curve is what shows.
        double k = Math.Cbrt(75);
        var rtt = TimeSpan.FromMilliseconds(100);
        TimeSpan t0 = TimeSpan.FromSeconds(1);
        TimeSpan now = Run(cc, t0, TimeSpan.FromSeconds(k / 2), rtt);
        double halfway = (double)cc.CongestionWindow / Mss;
        double expectedHalfway = (0.4 * Math.Pow((k / 2) - k, 3)) + 100; // W_cubic(K/2), concave region
        Assert.InRange(halfway, expectedHalfway - 2, expectedHalfway + 2);
        now = Run(cc, now, TimeSpan.FromSeconds(k / 2), rtt);
        Assert.InRange((double)cc.CongestionWindow / Mss, 99, 102); // the plateau at W_max
        Run(cc, now, TimeSpan.FromSeconds(2), rtt);
        Assert.True(cc.CongestionWindow > 103 * Mss, "convex growth past W_max"); // W_cubic(K + 2) = 103.2
    }

    [Fact]
    public void Cubic_Fast_Convergence_Lowers_W_max_When_Losing_Below_It_RFC9438_4_7()
    {
        var cc = new CubicCongestionControl(Mss);
        cc.Initialize(Mss);
        cc.OnAck(90 * Mss, TimeSpan.Zero, null, TimeSpan.FromMilliseconds(10), true, NoRound);
        cc.OnCongestionEvent(100 * Mss, TimeSpan.Zero); // W_max 100, cwnd 70
        cc.OnRecoveryEnd();
        cc.OnCongestionEvent(70 * Mss, TimeSpan.FromSeconds(1)); // lost again below W_max
        Assert.Equal(70 * (1 + 0.7) / 2, cc.WMax, 6);
        Assert.Equal(49 * Mss, cc.CongestionWindow);
    }

    [Fact]
    public void Cubic_Tracks_The_Reno_Friendly_Estimate_When_It_Is_Larger_RFC9438_4_3()
    {
        var cc = new CubicCongestionControl(Mss);
        cc.Initialize(Mss);
        cc.OnCongestionEvent(10 * Mss, TimeSpan.Zero); // cwnd 10 (IW) → W_max 10, cwnd 7
        cc.OnRecoveryEnd();
        var rtt = TimeSpan.FromMilliseconds(100);
        Run(cc, TimeSpan.Zero, rtt, rtt); // one RTT: W_cubic(0.1) ≈ 7.43, W_est ≈ 7 + 0.53
        double cwnd = (double)cc.CongestionWindow / Mss;
        Assert.InRange(cwnd, 7.45, 7.6); // the Reno-friendly α_cubic = 3(1 − β)/(1 + β) per RTT
    }

    [Fact]
    public void Cubic_Timeout_Collapses_To_One_Segment_With_Beta_Ssthresh_RFC9438_4_8()
    {
        var cc = new CubicCongestionControl(Mss);
        cc.Initialize(Mss);
        cc.OnAck(40 * Mss, TimeSpan.Zero, null, TimeSpan.Zero, true, NoRound);
        cc.OnRetransmissionTimeout(50 * Mss, TimeSpan.FromSeconds(1));
        Assert.Equal(Mss, cc.CongestionWindow);
        Assert.Equal(35 * Mss, cc.SlowStartThreshold);
        Assert.False(cc.HyStart.Enabled);
    }

    [Fact]
    public void Application_Limited_Flight_Does_Not_Grow_The_Window_RFC7661()
    {
        foreach (CongestionController cc in new CongestionController[] { new CubicCongestionControl(Mss), new NewRenoCongestionControl(Mss) })
        {
            cc.Initialize(Mss);
            long before = cc.CongestionWindow;
            cc.OnAck(100 * Mss, TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(5), TimeSpan.FromMilliseconds(5), cwndLimited: false, NoRound);
            Assert.Equal(before, cc.CongestionWindow);
        }
    }

    [Fact]
    public void Slow_Start_Counts_Every_Byte_Of_A_Stretch_Ack_RFC3465()
    {
        var cc = new NewRenoCongestionControl(1448);
        cc.Initialize(1448);
        Assert.Equal(14480, cc.CongestionWindow); // RFC 6928 IW10
        cc.OnAck(45 * 1448, TimeSpan.Zero, null, TimeSpan.Zero, true, NoRound); // one ACK of a 64 KiB GRO segment
        Assert.Equal(55 * 1448, cc.CongestionWindow);
    }

    [Fact]
    public void NewReno_Halves_On_Loss_And_Grows_One_Segment_Per_Window_RFC5681()
    {
        var cc = new NewRenoCongestionControl(Mss);
        cc.Initialize(Mss);
        cc.OnAck(30 * Mss, TimeSpan.Zero, null, TimeSpan.Zero, true, NoRound);
        cc.OnCongestionEvent(40 * Mss, TimeSpan.Zero);
        Assert.Equal(20 * Mss, cc.SlowStartThreshold);
        Assert.Equal(20 * Mss, cc.CongestionWindow);
        cc.OnRecoveryEnd();
        cc.OnAck(20 * Mss, TimeSpan.Zero, null, TimeSpan.Zero, true, NoRound); // a window's worth
        Assert.Equal(21 * Mss, cc.CongestionWindow);
        cc.OnRetransmissionTimeout(21 * Mss, TimeSpan.Zero);
        Assert.Equal(Mss, cc.CongestionWindow);
        Assert.Equal(10 * Mss + (Mss / 2), cc.SlowStartThreshold);
    }

    /// <summary>Rounds of eight RTT samples each; returns the decisions of the last ACK of every round.</summary>
    private static List<HyStartDecision> Rounds(HyStartPlusPlus h, params double[] roundRttsMs)
    {
        var decisions = new List<HyStartDecision>();
        uint seq = 1000;
        foreach (double ms in roundRttsMs)
        {
            HyStartDecision last = HyStartDecision.SlowStart;
            for (int i = 0; i < 8; i++)
            {
                // The first ACK of a round passes the previous round's end; the round ends at seq + 100.
                var round = new RoundInfo(new SequenceNumber(i == 0 ? seq : seq - 50), new SequenceNumber(seq + 100));
                HyStartDecision decision = h.OnAck(round, TimeSpan.FromMilliseconds(ms + (i * 0.01)));
                last = last == HyStartDecision.ExitSlowStart ? last : decision;
            }
            decisions.Add(last);
            seq += 100;
        }
        return decisions;
    }

    [Fact]
    public void HyStart_Enters_Css_On_An_Rtt_Rise_Then_Leaves_Slow_Start_After_Five_Rounds_RFC9406_4_2()
    {
        var h = new HyStartPlusPlus();
        // 20 ms rounds, then 25 ms: a rise of 5 ms ≥ clamp(20/8, 4, 16) = 4 ms.
        List<HyStartDecision> d = Rounds(h, 20, 20, 25, 25, 25, 25, 25, 25);
        Assert.Equal(HyStartDecision.SlowStart, d[1]);
        Assert.Equal(HyStartDecision.Conservative, d[2]);
        Assert.Equal(HyStartDecision.Conservative, d[6]);
        Assert.Equal(HyStartDecision.ExitSlowStart, d[7]);
        Assert.False(h.Enabled);
    }

    [Fact]
    public void HyStart_Ignores_A_Rise_Below_The_Threshold_And_Returns_From_Css_When_It_Was_Spurious_RFC9406_4_2()
    {
        var small = new HyStartPlusPlus();
        Assert.All(Rounds(small, 20, 23, 23, 23), d => Assert.Equal(HyStartDecision.SlowStart, d)); // +3 ms < 4 ms
        var spurious = new HyStartPlusPlus();
        List<HyStartDecision> d = Rounds(spurious, 20, 26, 21);
        Assert.Equal(HyStartDecision.Conservative, d[1]);
        Assert.Equal(HyStartDecision.SlowStart, d[2]); // 21 < the 26 ms CSS baseline: back to slow start
        Assert.True(spurious.Enabled);
    }

    [Fact]
    public void Cubic_Slow_Start_Grows_A_Quarter_As_Fast_In_Css()
    {
        var cc = new CubicCongestionControl(Mss);
        cc.Initialize(Mss);
        uint seq = 0;
        void Round(double ms)
        {
            for (int i = 0; i < 8; i++)
            {
                cc.OnAck(4 * Mss, TimeSpan.Zero, TimeSpan.FromMilliseconds(ms), TimeSpan.FromMilliseconds(ms), true,
                    new RoundInfo(new SequenceNumber(i == 0 ? seq : seq - 1), new SequenceNumber(seq + 10)));
            }
            seq += 10;
        }
        Round(20);
        Round(20);
        long before = cc.CongestionWindow;
        Round(30); // CSS from the eighth sample of this round on
        Round(30);
        long cssGrowth = cc.CongestionWindow - before;
        Assert.True(cc.HyStart.InConservativeSlowStart);
        Assert.InRange(cssGrowth, 8 * Mss, (8 * 4 * Mss) + (8 * Mss)); // far below the 64 segments slow start would add
    }
}
