using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>RFC 9293 §3.4: sequence-number comparisons modulo 2^32, checked across the wrap.</summary>
public class SequenceNumberTests
{
    private const uint NearWrap = 0xFFFF_FF00;

    [Fact]
    public void Comparisons_Hold_Across_The_Wrap()
    {
        SequenceNumber a = NearWrap;
        SequenceNumber b = a + 0x200; // wraps to 0x100
        Assert.Equal(0x100u, b.Value);
        Assert.True(a < b);
        Assert.True(b > a);
        Assert.True(a <= b && b >= a);
        Assert.False(a > b);
        Assert.Equal(0x200, b - a);
        Assert.Equal(-0x200, a - b);
        Assert.Equal(a, b - 0x200);
    }

    [Fact]
    public void Window_Test_Wraps()
    {
        SequenceNumber low = NearWrap;
        SequenceNumber high = low + 0x1000;
        Assert.True(((SequenceNumber)NearWrap).InWindow(low, high));
        Assert.True(((SequenceNumber)0u).InWindow(low, high));
        Assert.True(((SequenceNumber)0xEFFu).InWindow(low, high));
        Assert.False(((SequenceNumber)0xF00u).InWindow(low, high)); // high is exclusive
        Assert.False(((SequenceNumber)(NearWrap - 1)).InWindow(low, high));
        Assert.False(low.InWindow(low, low)); // empty window
    }

    [Fact]
    public void Half_Space_Apart_Is_The_Boundary()
    {
        SequenceNumber a = 0xFFFF_FFF0;
        Assert.True(a < a + int.MaxValue);
        SequenceNumber b = a + int.MinValue; // exactly 2^31 apart: RFC 1982 leaves it undefined; both read as "before"
        Assert.True(a < b && b < a);
    }

    [Fact]
    public void Max_Min_And_Ordering()
    {
        SequenceNumber a = uint.MaxValue, b = 5;
        Assert.Equal(b, SequenceNumber.Max(a, b));
        Assert.Equal(a, SequenceNumber.Min(a, b));
        Assert.Equal(-1, a.CompareTo(b));
        Assert.Equal(1, b.CompareTo(a));
        Assert.Equal(0, a.CompareTo(a));
        Assert.True(b.InRangeExclusiveInclusive(a, b));
        Assert.False(a.InRangeExclusiveInclusive(a, b));
    }

    [Theory]
    [InlineData(0xFFFF_FFFFu, 1)]
    [InlineData(0xFFFF_FF00u, 0x1000)]
    [InlineData(0x7FFF_FFFFu, 1)]
    [InlineData(0u, -1)]
    public void Add_Then_Subtract_Round_Trips(uint start, int delta)
    {
        SequenceNumber s = start;
        Assert.Equal(delta, (s + delta) - s);
        Assert.Equal(s, (s + delta) - delta);
        Assert.Equal(delta > 0, s + delta > s);
    }
}
