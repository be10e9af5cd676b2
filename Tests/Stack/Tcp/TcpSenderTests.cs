using NetStack.Buffers;
using NetStack.Link.Channels;
using NetStack.Tcp;
using NetStack.Tests.Support;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The sender on its own: the send sequence space and the window update rule (RFC 9293 §3.10.7.4 fifth), ACK
/// acceptability (RFC 5961 §5.2), the segmentation decision (MSS, GSO super-segments, Nagle, SWS avoidance, zero
/// window, FIN) and link room.
/// </summary>
public sealed class TcpSenderTests : IDisposable
{
    private const int Mss = 1000;
    private static readonly SequenceNumber Iss = 7000;
    private readonly LeakCheckedPool _pool = new();
    private readonly List<TcpSender> _senders = [];

    public void Dispose()
    {
        foreach (TcpSender sender in _senders)
        {
            sender.ClearBuffer();
        }
        _pool.Dispose();
    }

    /// <summary>An established sender (our SYN acknowledged) with <paramref name="queued"/> bytes queued and the peer's <paramref name="window"/>.</summary>
    private TcpSender Established(int queued, ushort window = 60000)
    {
        var sender = new TcpSender(Iss, _pool.Pool, 1 << 20, Mss);
        _senders.Add(sender);
        sender.OnSynSent();
        sender.AcknowledgeSyn(Iss + 1);
        sender.TakeSynWindow(window, 1, Iss + 1);
        while (queued > 0)
        {
            Span<byte> region = sender.Reserve(queued);
            sender.Commit(region.Length);
            queued -= region.Length;
        }
        return sender;
    }

    private static SendOpportunity Opportunity(int maxChunk = Mss, int linkRoom = 100) => new() { Mss = Mss, MaxChunk = maxChunk, LinkRoom = linkRoom };

    private static SendStep Next(TcpSender sender, ref SendOpportunity op, out int length, long congestionRoom = 1 << 20, bool noDelay = false) =>
        sender.NextSegment(ref op, sender.DataEnd(false), congestionRoom, noDelay, overrideSws: false, out length, out _);

    [Fact]
    public void OnSynSent_Twice_TakesIssOnce()
    {
        var sender = new TcpSender(Iss, _pool.Pool, 1024, Mss);
        Assert.True(sender.OnSynSent());
        Assert.False(sender.OnSynSent()); // a retransmitted SYN (Karn: no RTT timing)
        Assert.Equal(Iss + 1, sender.Nxt);
        Assert.Equal(Iss, sender.Una);
    }

    [Fact]
    public void Rfc9293_3_10_7_4_Fifth_OlderSegment_LeavesTheWindowAlone()
    {
        TcpSender sender = Established(0);
        Assert.True(sender.TryUpdateWindow(100, Iss + 1, 30000));
        Assert.False(sender.TryUpdateWindow(99, Iss + 1, 10));       // SND.WL1 > SEG.SEQ
        sender.OnSent(10);
        Assert.True(sender.TryUpdateWindow(100, Iss + 11, 20000));  // same SEG.SEQ, newer ACK
        Assert.False(sender.TryUpdateWindow(100, Iss + 1, 10));     // same SEG.SEQ, older ACK
        Assert.Equal(20000, sender.Window);
        Assert.Equal(60000, sender.MaxWindow);                      // the largest seen stays
    }

    [Fact]
    public void Rfc7323_2_3_WindowField_IsScaledOutsideTheSyn()
    {
        TcpSender sender = Established(0, window: 100);
        sender.WindowScale = 7;
        sender.TryUpdateWindow(2, Iss + 1, 100);
        Assert.Equal(100 << 7, sender.Window);
    }

    [Fact]
    public void Rfc5961_5_2_AckAcceptability_SpansMaxSndWndBelowUnaToSndNxt()
    {
        TcpSender sender = Established(0, window: 1000);
        sender.OnSent(2000);
        Assert.True(sender.IsAcceptableAck(sender.Nxt));
        Assert.False(sender.IsAcceptableAck(sender.Nxt + 1));       // data never sent
        Assert.True(sender.IsAcceptableAck(sender.Una - 1000));
        Assert.False(sender.IsAcceptableAck(sender.Una - 1001));    // older than MAX.SND.WND
    }

    [Fact]
    public void Acknowledge_DataAndFin_ReleasesOnlyTheData()
    {
        TcpSender sender = Established(100);
        sender.QueueFin();
        SequenceNumber dataEnd = sender.DataEnd(false);
        sender.OnSent(101);
        Assert.True(sender.FinSent(dataEnd));
        Assert.Equal(100, sender.Acknowledge(dataEnd + 1, dataEnd));
        Assert.Equal(0, sender.Buffered);
        Assert.Equal(sender.Nxt, sender.Una);
    }

    [Fact]
    public void NextSegment_PlentyQueued_SendsOneMss()
    {
        TcpSender sender = Established(5000);
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int length));
        Assert.Equal(Mss, length);
    }

    [Fact]
    public void NextSegment_Gso_CutsTheSuperSegmentIntoWholeSegmentsAndHoldsTheShortTail()
    {
        TcpSender sender = Established(3500);
        SendOpportunity op = Opportunity(maxChunk: 10 * Mss);
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int length));
        Assert.Equal(3 * Mss, length);
        sender.OnSent(length);
        Assert.Equal(SendStep.HeldBack, Next(sender, ref op, out _)); // Nagle: 500 bytes with data in flight
    }

    [Fact]
    public void NextSegment_GsoWithNoDelay_SendsTheTailInTheSuperSegment()
    {
        TcpSender sender = Established(3500);
        SendOpportunity op = Opportunity(maxChunk: 10 * Mss);
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int length, noDelay: true));
        Assert.Equal(3500, length);
    }

    [Fact]
    public void Rfc9293_3_7_4_Nagle_SmallSegmentWithDataInFlight_IsHeldBackUnlessNoDelay()
    {
        TcpSender sender = Established(1500);
        SendOpportunity op = Opportunity();
        Next(sender, ref op, out int first);
        sender.OnSent(first);
        Assert.Equal(SendStep.HeldBack, Next(sender, ref op, out _));
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int second, noDelay: true));
        Assert.Equal(500, second);
    }

    [Fact]
    public void Rfc9293_3_7_4_Nagle_SmallSegmentWithNothingInFlight_Goes()
    {
        TcpSender sender = Established(300);
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int length));
        Assert.Equal(300, length);
    }

    [Fact]
    public void Rfc9293_3_8_6_2_1_Sws_SegmentOfHalfThePeersLargestWindow_Goes()
    {
        TcpSender sender = Established(1500, window: 800);
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.Segment, Next(sender, ref op, out int length));
        Assert.Equal(800, length); // not all queued, but ≥ MAX.SND.WND / 2
    }

    [Fact]
    public void Rfc9293_3_8_6_1_ZeroWindowWithNothingInFlight_AsksForAProbe()
    {
        TcpSender sender = Established(100, window: 0);
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.ZeroWindow, Next(sender, ref op, out _));
    }

    [Fact]
    public void NextSegment_AllDataSentAndFinQueued_IsABareFin()
    {
        TcpSender sender = Established(0);
        sender.QueueFin();
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.Fin, sender.NextSegment(ref op, sender.DataEnd(false), 1 << 20, false, false, out int length, out bool fin));
        Assert.Equal(0, length);
        Assert.True(fin);
    }

    [Fact]
    public void NextSegment_LastDataWithFinQueued_CarriesTheFin()
    {
        TcpSender sender = Established(400);
        sender.QueueFin();
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.Segment, sender.NextSegment(ref op, sender.DataEnd(false), 1 << 20, false, false, out int length, out bool fin));
        Assert.Equal(400, length);
        Assert.True(fin);
    }

    [Fact]
    public void Rfc7661_CongestionWindowBelowOneSegment_MarksTheOpportunityCwndLimited()
    {
        TcpSender sender = Established(3000);
        SendOpportunity op = Opportunity();
        Assert.Equal(SendStep.HeldBack, Next(sender, ref op, out _, congestionRoom: 500));
        Assert.True(op.CwndLimited);
    }

    [Fact]
    public void TakeLinkRoom_NoRoom_BlocksTheSender()
    {
        TcpSender sender = Established(0);
        SendOpportunity op = Opportunity(linkRoom: 1);
        Assert.True(sender.TakeLinkRoom(ref op, TimeSpan.Zero));
        Assert.False(sender.Link.Blocked);
        Assert.False(sender.TakeLinkRoom(ref op, TimeSpan.Zero));
        Assert.True(sender.Link.Blocked);
    }

    [Fact]
    public void SetMss_BelowTheFloor_IsRaisedToMinimumSendMss()
    {
        TcpSender sender = Established(0);
        sender.SetMss(1); // a peer announcing MSS 1 (CVE-2019-11479)
        Assert.Equal(TcpSender.MinimumSendMss, sender.Mss);
    }

    [Fact]
    public void MaxSuperSegmentPayload_WithGso_IsWholeSegmentsUnder64KiB()
    {
        var gso = new ChannelEndpoint(new ChannelEndpointOptions { Gso = GsoSupport.Host, GsoMaxSize = 65535 });
        var none = new ChannelEndpoint(new ChannelEndpointOptions { Gso = GsoSupport.None });
        Assert.Equal(45 * 1448, TcpSender.MaxSuperSegmentPayload(gso, 1448, ipv4: true)); // 65535 − 20 − 60 = 65455
        Assert.Equal(1448, TcpSender.MaxSuperSegmentPayload(none, 1448, ipv4: true));
        gso.Close();
        none.Close();
    }

    [Fact]
    public void GrowBuffer_TwiceTheCongestionWindow_UpToTheMaximum()
    {
        var sender = new TcpSender(Iss, _pool.Pool, 1000, Mss);
        Assert.True(sender.GrowBuffer(2000, 1 << 20));
        Assert.Equal(4000, sender.BufferLimit);
        Assert.False(sender.GrowBuffer(1000, 1 << 20)); // never shrinks
        Assert.True(sender.GrowBuffer(1 << 20, 5000));
        Assert.Equal(5000, sender.BufferLimit);
    }

    [Fact]
    public void TryProbeWithNewData_UpToTwoSegmentsInThePeersWindow()
    {
        TcpSender sender = Established(5000, window: 1500);
        Assert.True(sender.TryProbeWithNewData(Mss, 10 * Mss, sender.DataEnd(false), out int length, out bool fin));
        Assert.Equal(1500, length);
        Assert.False(fin);
        sender.OnSent(1500);
        Assert.False(sender.TryProbeWithNewData(Mss, 10 * Mss, sender.DataEnd(false), out _, out _)); // the window is full
    }

    [Fact]
    public void RewindToUna_AfterAZeroWindowProbe_CountsTheProbeUnsent()
    {
        TcpSender sender = Established(100, window: 0);
        sender.OnSent(1);
        sender.RewindToUna();
        Assert.Equal(sender.Una, sender.Nxt);
        Assert.Equal(0, sender.Outstanding);
    }
}
