using NetStack.Network;
using NetStack.Simulation;
using NetStack.Tcp;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>SYN cookies on their own (RFC 4987 §3.6): what a cookie carries, what it is bound to, how long it lives.</summary>
public class TcpSynCookiesTests
{
    private static readonly TcpFourTuple Tuple = new(NetAddress.Parse("10.0.0.2"), 80, NetAddress.Parse("10.0.0.1"), 40000);

    [Fact]
    public void TryCheck_TheCookieItsSynGot_GivesBackTheMss()
    {
        var clock = new ManualClock();
        var cookies = new TcpSynCookies([1, 2, 3], clock);
        uint iss = cookies.Make(Tuple, peerIsn: 777, peerMss: 1460);
        Assert.True(cookies.TryCheck(Tuple, iss, 777, out int mss));
        Assert.Equal(1460, mss);
    }

    [Theory]
    [InlineData(100, 536)]    // below the table: its smallest entry
    [InlineData(1400, 1360)]  // the largest entry not above the peer's
    [InlineData(9000, 8960)]
    public void Make_PeerMss_IsRoundedDownToTheTable(int peerMss, int expected)
    {
        var cookies = new TcpSynCookies([1], new ManualClock());
        uint iss = cookies.Make(Tuple, 1, peerMss);
        Assert.True(cookies.TryCheck(Tuple, iss, 1, out int mss));
        Assert.Equal(expected, mss);
    }

    [Fact]
    public void TryCheck_AnotherTupleOrPeerIsn_Fails()
    {
        var cookies = new TcpSynCookies([1], new ManualClock());
        uint iss = cookies.Make(Tuple, 777, 1460);
        Assert.False(cookies.TryCheck(Tuple with { RemotePort = 40001 }, iss, 777, out _));
        Assert.False(cookies.TryCheck(Tuple, iss, 778, out _));
        Assert.False(cookies.TryCheck(Tuple, iss ^ 1, 777, out _));
    }

    [Fact]
    public void TryCheck_AnotherSecret_Fails()
    {
        var clock = new ManualClock();
        uint iss = new TcpSynCookies([1], clock).Make(Tuple, 777, 1460);
        Assert.False(new TcpSynCookies([2], clock).TryCheck(Tuple, iss, 777, out _));
    }

    [Fact]
    public void TryCheck_AfterThreePeriods_Fails()
    {
        var clock = new ManualClock();
        var cookies = new TcpSynCookies([1], clock);
        uint iss = cookies.Make(Tuple, 777, 1460);
        clock.Advance(TimeSpan.FromSeconds(64 * 2));
        Assert.True(cookies.TryCheck(Tuple, iss, 777, out _)); // two periods old: still good
        clock.Advance(TimeSpan.FromSeconds(64));
        Assert.False(cookies.TryCheck(Tuple, iss, 777, out _));
    }

    [Theory]
    [InlineData(null, false)]
    [InlineData((byte)0, true)]
    [InlineData((byte)14, false)]
    public void DecodeTimestamp_OfAnEncodedOne_GivesTheOptionsBack(byte? scale, bool sack)
    {
        uint tsval = TcpSynCookies.EncodeTimestamp(0x12345678, scale, sack);
        Assert.Equal(0x12345678u >> TcpSynCookies.TimestampBits, tsval >> TcpSynCookies.TimestampBits); // only the low bits change
        (byte? decodedScale, bool decodedSack) = TcpSynCookies.DecodeTimestamp(tsval);
        Assert.Equal(scale, decodedScale);
        Assert.Equal(sack, decodedSack);
    }
}
