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
    [InlineData("10.0.0.1", 100, 536)]    // below the table: its smallest entry
    [InlineData("10.0.0.1", 1400, 1300)]  // the largest entry not above the peer's (Linux's msstab)
    [InlineData("10.0.0.1", 9000, 1460)]
    [InlineData("fd00::1", 1400, 1220)]
    [InlineData("fd00::1", 9000, 8940)]
    public void Make_PeerMss_IsRoundedDownToTheTable(string peer, int peerMss, int expected)
    {
        var cookies = new TcpSynCookies([1], new ManualClock());
        NetAddress remote = NetAddress.Parse(peer);
        TcpFourTuple tuple = remote.IsV4 ? Tuple : new TcpFourTuple(NetAddress.Parse("fd00::2"), 80, remote, 40000);
        uint iss = cookies.Make(tuple, 1, peerMss);
        Assert.True(cookies.TryCheck(tuple, iss, 1, out int mss));
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
    public void TryCheck_PastThePreviousSlot_Fails()
    {
        var clock = new ManualClock();
        var cookies = new TcpSynCookies([1], clock);
        clock.Advance(TimeSpan.FromSeconds(63));
        uint iss = cookies.Make(Tuple, 777, 1460); // late in its slot
        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.True(cookies.TryCheck(Tuple, iss, 777, out _)); // the previous slot: still good
        clock.Advance(TimeSpan.FromSeconds(62)); // 127 s: the end of the next slot
        Assert.True(cookies.TryCheck(Tuple, iss, 777, out _));
        clock.Advance(TimeSpan.FromSeconds(1)); // two slots on
        Assert.False(cookies.TryCheck(Tuple, iss, 777, out _));
    }

    [Fact]
    public void TryCheck_EveryAckNumberSharingTheCookiesTopBits_OnlyTheCookieItselfIsAccepted()
    {
        // The acceptance rate of forged ACKs, measured exhaustively: an attacker who knows a cookie's top 10 bits (the
        // time field and two bits of the MSS index of the old layout, learnt from any SYN-ACK) searches the 2^22 ACK
        // numbers under them. With a 21-bit MAC behind them, 2 were accepted (one per index value, 2^-21 per guess);
        // with a 30-bit MAC checked against two slots a guess succeeds with probability 2^-29, so this block holds
        // 2^22 · 2^-29 = 1/128 forgeries on average besides the cookie itself.
        var clock = new ManualClock();
        var cookies = new TcpSynCookies([1, 2, 3], clock);
        clock.Advance(TimeSpan.FromSeconds(100)); // slot 1: the current and the previous slot are both tried
        uint real = cookies.Make(Tuple, 777, 1460);
        uint block = real & 0xFFC0_0000;
        int accepted = 0;
        for (uint low = 0; low < 1u << 22; low++)
        {
            if (cookies.TryCheck(Tuple, block | low, 777, out _))
            {
                accepted++;
            }
        }
        Assert.Equal(1, accepted);
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
