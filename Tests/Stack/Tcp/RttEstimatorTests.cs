using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>The RFC 6298 arithmetic of the RTT estimator, sample by sample, and RACK's min RTT (RFC 8985 §6.1).</summary>
public class RttEstimatorTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    private static RttEstimator Make(TimeSpan? min = null, TimeSpan? max = null) =>
        new(TimeSpan.FromSeconds(1), min ?? TimeSpan.FromMilliseconds(200), max ?? TimeSpan.FromSeconds(60));

    [Fact]
    public void Rfc6298_2_1_BeforeAnySample_RtoIsTheInitialOne()
    {
        RttEstimator rtt = Make();
        Assert.False(rtt.HasSample);
        Assert.Equal(TimeSpan.FromSeconds(1), rtt.Rto);
        Assert.Equal(TimeSpan.MaxValue, rtt.MinRtt);
    }

    [Fact]
    public void Rfc6298_2_1_InitialRtoOutsideTheBounds_IsClamped()
    {
        Assert.Equal(TimeSpan.FromSeconds(3), new RttEstimator(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(3), TimeSpan.FromSeconds(60)).Rto);
    }

    [Fact]
    public void Rfc6298_2_2_FirstSample_SetsSrttAndHalfOfItAsVariance()
    {
        RttEstimator rtt = Make();
        rtt.Sample(100 * Ms);
        Assert.Equal(100 * Ms, rtt.SmoothedRtt);
        Assert.Equal(50 * Ms, rtt.RttVariance);
        Assert.Equal(300 * Ms, rtt.Rto); // SRTT + 4·RTTVAR
    }

    [Fact]
    public void Rfc6298_2_3_LaterSample_SmoothsWithAlphaAndBeta()
    {
        RttEstimator rtt = Make();
        rtt.Sample(100 * Ms);
        rtt.Sample(200 * Ms);
        Assert.Equal(TimeSpan.FromMilliseconds(62.5), rtt.RttVariance);  // 3/4·50 + 1/4·|100 − 200|
        Assert.Equal(TimeSpan.FromMilliseconds(112.5), rtt.SmoothedRtt); // 7/8·100 + 1/8·200
        Assert.Equal(TimeSpan.FromMilliseconds(362.5), rtt.Rto);
    }

    [Fact]
    public void Rfc6298_2_4_SmallRto_IsRaisedToTheMinimum()
    {
        RttEstimator rtt = Make();
        rtt.Sample(10 * Ms);
        Assert.Equal(200 * Ms, rtt.Rto);
    }

    [Fact]
    public void Rfc6298_2_VarianceBelowTheClockGranularity_CountsAsG()
    {
        RttEstimator rtt = Make(min: TimeSpan.FromTicks(1));
        for (int i = 0; i < 50; i++)
        {
            rtt.Sample(10 * Ms); // RTTVAR decays towards zero
        }
        Assert.Equal(rtt.SmoothedRtt + Ms, rtt.Rto);
    }

    [Fact]
    public void Rfc6298_5_5_Backoff_DoublesUpToTheMaximum()
    {
        RttEstimator rtt = Make(max: TimeSpan.FromSeconds(3));
        rtt.Backoff();
        Assert.Equal(TimeSpan.FromSeconds(2), rtt.Rto);
        rtt.Backoff();
        Assert.Equal(TimeSpan.FromSeconds(3), rtt.Rto);
    }

    [Fact]
    public void Sample_AfterBackoff_ResetsTheRto()
    {
        RttEstimator rtt = Make();
        rtt.Backoff();
        rtt.Sample(100 * Ms);
        Assert.Equal(300 * Ms, rtt.Rto);
    }

    [Fact]
    public void Sample_Negative_IsIgnored()
    {
        RttEstimator rtt = Make();
        rtt.Sample(-Ms);
        Assert.False(rtt.HasSample);
        Assert.Equal(TimeSpan.MaxValue, rtt.MinRtt);
    }

    [Fact]
    public void MinRtt_IsTheSmallestSample()
    {
        RttEstimator rtt = Make();
        rtt.Sample(30 * Ms);
        rtt.Sample(10 * Ms);
        rtt.Sample(20 * Ms);
        Assert.Equal(10 * Ms, rtt.MinRtt);
    }

    [Fact]
    public void Rfc6298_3_TimedSegment_IsMeasuredByTheFirstAckPastIt()
    {
        RttEstimator rtt = Make();
        rtt.StartTiming(100, TimeSpan.FromSeconds(1));
        Assert.False(rtt.TryCompleteTiming(100, TimeSpan.FromSeconds(2), out _)); // not past it
        Assert.True(rtt.TryCompleteTiming(101, TimeSpan.FromSeconds(1.25), out TimeSpan sample));
        Assert.Equal(TimeSpan.FromMilliseconds(250), sample);
        Assert.False(rtt.TryCompleteTiming(102, TimeSpan.FromSeconds(3), out _)); // once
    }

    [Fact]
    public void Rfc6298_3_Karn_RetransmittedTimedSegment_IsNotMeasured()
    {
        RttEstimator rtt = Make();
        rtt.StartTiming(100, TimeSpan.Zero);
        rtt.CancelTiming();
        Assert.False(rtt.TryCompleteTiming(101, TimeSpan.FromSeconds(1), out _));
    }
}
