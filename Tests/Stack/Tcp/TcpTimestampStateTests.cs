using NetStack.Diagnostics;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>The timestamp option's state on its own (RFC 7323): the TSval clock, TS.Recent's update rule, PAWS and TS.Recent's lifetime, echo RTT samples.</summary>
public class TcpTimestampStateTests
{
    private static readonly TimeSpan Start = TimeSpan.FromSeconds(1);
    private readonly ReasonCounters<TcpEvent> _events = new();

    private static TcpRepr Segment(uint tsval, uint echo = 0) => new() { Timestamps = new TcpTimestamps(tsval, echo) };

    private static TcpTimestampState Negotiated(uint peerValue = 1000)
    {
        var state = new TcpTimestampState(offset: 5);
        state.Negotiate(enabled: true, peerValue, Start);
        return state;
    }

    [Fact]
    public void Rfc7323_5_4_Value_IsMillisecondsPlusTheConnectionsOffset()
    {
        var state = new TcpTimestampState(offset: uint.MaxValue);
        Assert.Equal(1999u, state.Value(TimeSpan.FromSeconds(2))); // wraps modulo 2^32
    }

    [Fact]
    public void Rfc7323_5_3_R1_OlderTsval_FailsPaws()
    {
        TcpTimestampState state = Negotiated(1000);
        Assert.True(state.FailsPaws(Segment(999), Start, _events));
        Assert.False(state.FailsPaws(Segment(1000), Start, _events));
        Assert.False(state.FailsPaws(Segment(1000 + (1u << 30)), Start, _events));
        Assert.True(state.FailsPaws(Segment(1000 + (1u << 31) + 1), Start, _events)); // more than 2^31 ahead is behind
        Assert.False(state.FailsPaws(default, Start, _events)); // no option: nothing to check
    }

    [Fact]
    public void Rfc7323_NotNegotiated_NothingIsChecked()
    {
        var state = new TcpTimestampState(0);
        state.Negotiate(enabled: false, 1000, Start);
        Assert.False(state.FailsPaws(Segment(1), Start, _events));
        Assert.Equal(0u, state.Recent);
    }

    [Fact]
    public void Rfc7323_4_3_UpdateRecent_OnlyFromSegmentsAtOrBelowLastAckSent()
    {
        TcpTimestampState state = Negotiated(1000);
        state.UpdateRecent(Segment(1100), seq: 501, lastAckSent: 500, Start); // beyond Last.ACK.sent: not yet
        Assert.Equal(1000u, state.Recent);
        state.UpdateRecent(Segment(1100), seq: 500, lastAckSent: 500, Start);
        Assert.Equal(1100u, state.Recent);
        state.UpdateRecent(Segment(1050), seq: 400, lastAckSent: 500, Start); // older: never backwards
        Assert.Equal(1100u, state.Recent);
    }

    [Fact]
    public void Rfc7323_5_5_TsRecentIdleFor24Days_IsInvalidAndTheNextTsvalReplacesIt()
    {
        TcpTimestampState state = Negotiated(1000);
        TimeSpan idle = Start + TcpTimestampState.RecentLifetime;
        Assert.True(state.FailsPaws(Segment(10), idle, _events)); // 24 days exactly: still valid
        TimeSpan later = idle + TimeSpan.FromSeconds(1);
        Assert.False(state.FailsPaws(Segment(10), later, _events)); // the peer's clock wrapped meanwhile
        Assert.Equal(1, _events[TcpEvent.TimestampRecentExpired]);
        state.UpdateRecent(Segment(10), seq: 500, lastAckSent: 500, later);
        Assert.Equal(10u, state.Recent);
        Assert.True(state.FailsPaws(Segment(9), later, _events)); // valid again: PAWS as usual
    }

    [Fact]
    public void Rfc7323_4_1_Echo_MeasuresTheRtt()
    {
        TcpTimestampState state = Negotiated();
        TimeSpan sent = TimeSpan.FromMilliseconds(100);
        Assert.True(state.TryEchoSample(Segment(2000, state.Value(sent)), sent + TimeSpan.FromMilliseconds(30), out TimeSpan? sample));
        Assert.Equal(TimeSpan.FromMilliseconds(30), sample);
    }

    [Fact]
    public void Rfc7323_4_1_NoEcho_LeavesTheSampleToAnotherSource()
    {
        TcpTimestampState state = Negotiated();
        Assert.False(state.TryEchoSample(Segment(2000, echo: 0), TimeSpan.FromSeconds(1), out _));
        Assert.False(state.TryEchoSample(default, TimeSpan.FromSeconds(1), out _));
    }

    [Fact]
    public void IgnoreNextEcho_AfterASynCookie_TheEchoMeasuresNothingOnce()
    {
        TcpTimestampState state = Negotiated();
        state.IgnoreNextEcho();
        TcpRepr ack = Segment(2000, state.Value(TimeSpan.Zero));
        Assert.True(state.TryEchoSample(ack, TimeSpan.FromMilliseconds(5), out TimeSpan? ignored));
        Assert.Null(ignored);
        Assert.True(state.TryEchoSample(ack, TimeSpan.FromMilliseconds(5), out TimeSpan? sample));
        Assert.Equal(TimeSpan.FromMilliseconds(5), sample);
    }
}
