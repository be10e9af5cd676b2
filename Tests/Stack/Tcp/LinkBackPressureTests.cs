using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Link back-pressure on its own: blocking, resuming, and the retry interval's back-off.</summary>
public class LinkBackPressureTests
{
    private static readonly TimeSpan Ms = TimeSpan.FromMilliseconds(1);

    [Fact]
    public void Block_QueueFull_RetriesAfterOneMillisecond()
    {
        var link = new LinkBackPressure();
        link.Block(backOff: false, 10 * Ms);
        Assert.True(link.Blocked);
        Assert.Equal(11 * Ms, link.RetryDeadline);
    }

    [Fact]
    public void Block_RepeatedRefusals_DoubleTheIntervalUpTo64Milliseconds()
    {
        var link = new LinkBackPressure();
        link.Block(backOff: true, TimeSpan.Zero); // not blocked before: the shortest interval
        Assert.Equal(Ms, link.RetryDeadline);
        TimeSpan[] expected = [2 * Ms, 4 * Ms, 8 * Ms, 16 * Ms, 32 * Ms, 64 * Ms, 64 * Ms];
        foreach (TimeSpan interval in expected)
        {
            link.Block(backOff: true, TimeSpan.Zero);
            Assert.Equal(interval, link.RetryDeadline);
        }
    }

    [Fact]
    public void Resume_ClearsTheBlockAndTheRetry()
    {
        var link = new LinkBackPressure();
        link.Block(backOff: true, TimeSpan.Zero);
        link.Block(backOff: true, TimeSpan.Zero);
        link.Resume();
        Assert.False(link.Blocked);
        Assert.Equal(TimeSpan.MaxValue, link.RetryDeadline);
        link.Block(backOff: true, TimeSpan.Zero); // the back-off starts over
        Assert.Equal(Ms, link.RetryDeadline);
    }
}
