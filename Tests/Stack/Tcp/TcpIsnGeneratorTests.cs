using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>Initial sequence numbers per RFC 6528 §3 (ISN = M + F(4-tuple, secret)) and the timestamp offset (RFC 7323 §5.4).</summary>
public class TcpIsnGeneratorTests
{
    private static readonly TcpFourTuple Tuple = new(NetAddress.Parse("10.0.0.2"), 80, NetAddress.Parse("10.0.0.1"), 40000);

    [Fact]
    public void Rfc6528_3_SameTupleAndTime_GiveTheSameIsn()
    {
        var clock = new ManualClock();
        Assert.Equal(new TcpIsnGenerator([1], clock).Next(Tuple), new TcpIsnGenerator([1], clock).Next(Tuple));
    }

    [Fact]
    public void Rfc6528_3_AnotherTupleOrSecret_GivesAnotherIsn()
    {
        var clock = new ManualClock();
        var isn = new TcpIsnGenerator([1], clock);
        Assert.NotEqual(isn.Next(Tuple), isn.Next(Tuple with { RemotePort = 40001 }));
        Assert.NotEqual(isn.Next(Tuple), new TcpIsnGenerator([2], clock).Next(Tuple));
    }

    [Fact]
    public void Rfc6528_3_Isn_AdvancesWithTheFourMicrosecondClock()
    {
        var clock = new ManualClock();
        var isn = new TcpIsnGenerator([1], clock);
        SequenceNumber first = isn.Next(Tuple);
        clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(250, isn.Next(Tuple) - first); // 1 ms = 250 × 4 µs
    }

    [Fact]
    public void Rfc7323_5_4_TimestampOffset_IsStablePerTupleAndDiffersBetweenTuples()
    {
        var clock = new ManualClock();
        var isn = new TcpIsnGenerator([1], clock);
        uint offset = isn.TimestampOffset(Tuple);
        clock.Advance(TimeSpan.FromSeconds(10));
        Assert.Equal(offset, isn.TimestampOffset(Tuple));
        Assert.NotEqual(offset, isn.TimestampOffset(Tuple with { LocalPort = 81 }));
    }

    [Fact]
    public void Rfc6528_3_F_DependsOnEveryTupleField_AndIsApartFromTheTimestampOffset()
    {
        var clock = new ManualClock();
        var isn = new TcpIsnGenerator([1], clock);
        SequenceNumber first = isn.Next(Tuple);
        Assert.NotEqual(first, isn.Next(Tuple with { LocalAddress = NetAddress.Parse("10.0.0.3") }));
        Assert.NotEqual(first, isn.Next(Tuple with { RemoteAddress = NetAddress.Parse("10.0.0.9") }));
        Assert.NotEqual(first, isn.Next(Tuple with { LocalPort = 81 }));
        Assert.NotEqual(first, isn.Next(new TcpFourTuple(Tuple.RemoteAddress, Tuple.RemotePort, Tuple.LocalAddress, Tuple.LocalPort)));
        Assert.NotEqual(first, isn.Next(Tuple with { LocalAddress = NetAddress.Parse("fd00::2"), RemoteAddress = NetAddress.Parse("fd00::1") }));
        uint m = unchecked((uint)(clock.GetUtcNow().UtcTicks / 40));
        Assert.NotEqual(unchecked(first.Value - m), isn.TimestampOffset(Tuple)); // F of another domain
    }
}
