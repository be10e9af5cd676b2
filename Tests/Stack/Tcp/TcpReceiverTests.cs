using NetStack.Buffers;
using NetStack.Diagnostics;
using NetStack.Tcp;
using NetStack.Tests.Support;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The receiver on its own: segment acceptability (RFC 9293 §3.10.7.4 first), the advertised window and its
/// right edge (§3.8.6.2.2, RFC 7323 §2.3), the ACK policy (§3.8.6.3, RFC 5681 §4.2, GRO-aware), D-SACK reports
/// (RFC 2883), the FIN (§3.10.7.4 eighth), the reader and buffer auto-tuning.
/// </summary>
public sealed class TcpReceiverTests : IDisposable
{
    private const int Buffer = 10_000;
    private static readonly SequenceNumber Irs = 3000;
    private static readonly SequenceNumber Nxt = Irs + 1;
    private static readonly TimeSpan DelayedAck = TimeSpan.FromMilliseconds(40);
    private readonly LeakCheckedPool _pool = new();
    private readonly ReasonCounters<TcpEvent> _events = new();
    private readonly ReasonCounters<TcpDropReason> _drops = new();
    private readonly List<TcpReceiver> _receivers = [];

    public void Dispose()
    {
        foreach (TcpReceiver receiver in _receivers)
        {
            receiver.Clear();
        }
        _pool.Dispose();
    }

    /// <summary>A receiver after the peer's SYN, having advertised its whole buffer.</summary>
    private TcpReceiver Make(int buffer = Buffer, int maxOutOfOrder = 8)
    {
        var receiver = new TcpReceiver(buffer, maxOutOfOrder, DelayedAck, new TcpConnectionCounters(_events), _events, _drops);
        _receivers.Add(receiver);
        receiver.OnSyn(Irs);
        receiver.SynWindow();
        return receiver;
    }

    private int Accept(TcpReceiver receiver, SequenceNumber seq, int length, out bool delayedAckArmed, ushort gsoSize = 0)
    {
        using PacketBuffer packet = _pool.Pool.RentCopy(new byte[length]);
        if (gsoSize > 0)
        {
            packet.Gso = new GsoOptions { Type = GsoType.TcpV4, MaxSegmentSize = gsoSize };
        }
        return receiver.Accept(seq, packet, 0, length, TimeSpan.Zero, out delayedAckArmed);
    }

    [Theory]
    [InlineData(0, 0, true)]         // empty segment at RCV.NXT
    [InlineData(9_999, 0, true)]     // empty, last in the window
    [InlineData(10_000, 0, false)]   // empty, at the right edge
    [InlineData(-1, 0, false)]       // empty, before RCV.NXT
    [InlineData(-100, 101, true)]    // ends inside the window
    [InlineData(-100, 100, false)]   // wholly old
    [InlineData(9_999, 500, true)]   // begins inside the window
    [InlineData(10_000, 500, false)] // beyond it
    public void Rfc9293_3_10_7_4_First_AcceptabilityTable_OpenWindow(int offset, int length, bool acceptable)
    {
        Assert.Equal(acceptable, Make().IsAcceptable(Nxt + offset, length));
    }

    [Theory]
    [InlineData(0, 0, true)]     // RCV.WND = 0: only SEG.SEQ = RCV.NXT
    [InlineData(1, 0, false)]
    [InlineData(0, 100, true)]   // text at RCV.NXT: its ACK and RST still count, the text is trimmed
    [InlineData(1, 100, false)]
    public void Rfc9293_3_10_7_4_First_AcceptabilityTable_ZeroWindow(int offset, int length, bool acceptable)
    {
        TcpReceiver receiver = Make(buffer: 1000);
        Accept(receiver, Nxt, 1000, out _); // the window is full
        Assert.Equal(0, receiver.Window);
        Assert.Equal(acceptable, receiver.IsAcceptable(receiver.Nxt + offset, length));
    }

    [Fact]
    public void Rfc9293_3_8_6_3_EverySecondFullSizedSegment_IsAckedAtOnce()
    {
        TcpReceiver receiver = Make();
        Assert.Equal(1000, Accept(receiver, Nxt, 1000, out bool armed));
        Assert.True(armed);
        Assert.False(receiver.AckNow);
        Assert.Equal(DelayedAck, receiver.DelayedAckDeadline);
        Accept(receiver, Nxt + 1000, 1000, out bool armedAgain);
        Assert.False(armedAgain);
        Assert.True(receiver.AckNow);
        receiver.OnAckSent();
        Assert.False(receiver.AckNow);
        Assert.Equal(TimeSpan.MaxValue, receiver.DelayedAckDeadline);
        Assert.Equal(Nxt + 2000, receiver.LastAckSent);
    }

    [Fact]
    public void Rfc5681_4_2_OutOfOrderSegment_IsAckedAtOnceAndFillingTheHoleToo()
    {
        TcpReceiver receiver = Make();
        Assert.Equal(0, Accept(receiver, Nxt + 1000, 1000, out _));
        Assert.True(receiver.AckNow);
        Assert.Equal(Nxt, receiver.Nxt);
        receiver.OnAckSent();
        Assert.Equal(2000, Accept(receiver, Nxt, 1000, out _));
        Assert.True(receiver.AckNow);
    }

    [Fact]
    public void Rfc9293_3_8_6_3_CoalescedSegment_CountsTheWireSegmentsItStandsFor()
    {
        TcpReceiver receiver = Make();
        Accept(receiver, Nxt, 1000, out _);
        Accept(receiver, Nxt + 1000, 3000, out _, gsoSize: 1000); // GRO merged three 1000-byte segments
        Assert.True(receiver.AckNow);
        Assert.Equal(1, _events[TcpEvent.CoalescedSegmentsReceived]);
    }

    [Theory]
    [InlineData((ushort)1000, true)] // GRO: three of the peer's 1000-byte segments
    [InlineData((ushort)0, false)]   // one 3000-byte segment (the peer's MSS is then 3000)
    public void Rfc9293_3_8_6_3_LargeSegment_CountsAsWhatItsGsoMetadataSays(ushort gsoSize, bool ackNow)
    {
        TcpReceiver receiver = Make(buffer: 100_000);
        Accept(receiver, Nxt, 3000, out bool armed, gsoSize);
        Assert.Equal(ackNow, receiver.AckNow);
        Assert.Equal(!ackNow, armed);
    }

    [Fact]
    public void Rfc9293_3_8_6_2_2_WindowField_NeverMovesTheRightEdgeLeft()
    {
        TcpReceiver receiver = Make(buffer: 100_000);
        receiver.WindowScale = 7;
        SequenceNumber before = receiver.Adv;
        Accept(receiver, Nxt, 1400, out _);
        ushort field = receiver.WindowField(); // 98 600 bytes free: 770.3 units of 128, rounded down
        Assert.Equal(770, field);
        Assert.True(receiver.Adv >= before);
        Assert.True(receiver.Nxt + (field << 7) <= receiver.Adv); // the edge shown lies within what the buffer holds
    }

    /// <summary>
    /// The peer of a receiver whose application never reads: it sends 1-byte segments up to the edge each ACK
    /// shows it (RCV.NXT + window field · 2^scale) until the window is zero or <paramref name="most"/> were sent.
    /// Returns the bytes accepted.
    /// </summary>
    private int FloodOneByteSegments(TcpReceiver receiver, byte scale, int most)
    {
        receiver.WindowScale = scale;
        SequenceNumber edge = receiver.Nxt + (receiver.WindowField() << scale);
        int accepted = 0;
        for (int i = 0; i < most && receiver.Nxt < edge; i++)
        {
            accepted += Accept(receiver, receiver.Nxt, 1, out _);
            edge = receiver.Nxt + (receiver.WindowField() << scale); // every segment ACKed
        }
        return accepted;
    }

    [Fact]
    public void Rfc7323_2_4_OneByteSegments_NonReadingReceiver_WindowClosesAtTheBuffer()
    {
        TcpReceiver receiver = Make(buffer: 4096);
        int accepted = FloodOneByteSegments(receiver, scale: 3, most: 2 * 4096);
        Assert.Equal(0, receiver.WindowField());
        Assert.InRange(accepted, 4096 - 7, 4096); // what the SYN's window offered, less what a unit of 2^3 cannot show
    }

    [Fact]
    public void ReceiveMemory_OneByteSegments_PinAtMostTwiceThePayload()
    {
        TcpReceiver receiver = Make(buffer: 4096);
        int accepted = FloodOneByteSegments(receiver, scale: 3, most: 2 * 4096);
        long pinned = _pool.Pool.LiveChunks * 2048; // every chunk here is of the 2 KiB class
        Assert.True(pinned <= 2L * accepted, $"{pinned} bytes pinned for {accepted} bytes of payload");
    }

    [Fact]
    public void ReceiveMemory_OutOfOrderOneByteSegments_StayUnderTwiceTheBuffer()
    {
        TcpReceiver receiver = Make(buffer: 16_384, maxOutOfOrder: 1000);
        for (int i = 499; i >= 0; i--)
        {
            Accept(receiver, Nxt + 2 + (2 * i), 1, out _); // holes everywhere, arriving from the top down
        }
        long pinned = _pool.Pool.LiveChunks * 2048;
        Assert.True(pinned <= 2 * 16_384, $"{pinned} bytes pinned by out-of-order data");
        Assert.True(receiver.HeldBytes <= receiver.MemoryLimit);
        Assert.True(_drops[TcpDropReason.OutOfOrderPruned] > 0);
        Assert.True(receiver.TryGetSackBlocks(pureAck: false, out TcpSackList blocks));
        Assert.Equal((Nxt + 2).Value, blocks[0].Left); // what is nearest RCV.NXT was kept
    }

    [Fact]
    public void Rfc9293_3_8_6_2_2_SmallIncrease_IsNotAdvertisedUnlessForced()
    {
        TcpReceiver receiver = Make();
        Accept(receiver, Nxt, 1400, out _);
        Accept(receiver, Nxt + 1400, 1400, out _);
        receiver.BeginRead(100, out RxPiece[] pieces, out int count);
        Release(pieces, count);
        receiver.EndRead(100);
        Assert.Equal(0, receiver.UpdateWindow(force: false)); // 100 < min(buffer/2, MSS)
        Assert.Equal(100, receiver.UpdateWindow(force: true));
    }

    [Fact]
    public void WindowOpenedByRead_FromNearZero_IsWorthAnAck()
    {
        TcpReceiver receiver = Make(buffer: 4000);
        Accept(receiver, Nxt, 2000, out _);
        Accept(receiver, Nxt + 2000, 2000, out _);
        Assert.Equal(0, receiver.Window);
        int total = receiver.BeginRead(4000, out RxPiece[] pieces, out int count);
        Release(pieces, count);
        receiver.EndRead(total);
        Assert.True(receiver.WindowOpenedByRead());
        Assert.Equal(4000, receiver.Window);
    }

    [Fact]
    public void BeginRead_BytesBeingCopied_StillCountAgainstTheWindow()
    {
        TcpReceiver receiver = Make(buffer: 4000);
        Accept(receiver, Nxt, 2000, out _);
        Accept(receiver, Nxt + 2000, 2000, out _);
        int total = receiver.BeginRead(4000, out RxPiece[] pieces, out int count);
        Assert.Equal(0, receiver.UpdateWindow(force: true)); // nothing freed until the copy ends
        Assert.Throws<InvalidOperationException>(() => receiver.BeginRead(1, out _, out _));
        Release(pieces, count);
        receiver.EndRead(total);
        Assert.Equal(4000, receiver.UpdateWindow(force: true));
    }

    [Fact]
    public void Rfc2883_4_Duplicate_IsReportedFirstOnTheNextPureAckOnly()
    {
        TcpReceiver receiver = Make();
        receiver.NoteDuplicate(Nxt - 100, Nxt);
        Assert.False(receiver.TryGetSackBlocks(pureAck: false, out _)); // a data segment carries no D-SACK
        Assert.True(receiver.TryGetSackBlocks(pureAck: true, out TcpSackList blocks));
        Assert.Equal(new TcpSackBlock((Nxt - 100).Value, Nxt.Value), blocks[0]);
        Assert.False(receiver.TryGetSackBlocks(pureAck: true, out _)); // once
    }

    [Fact]
    public void Rfc9293_3_10_7_4_Eighth_FinAheadOfMissingData_WaitsForIt()
    {
        TcpReceiver receiver = Make();
        receiver.NoteFin(Nxt + 100);
        Assert.False(receiver.FinReady);
        Assert.True(receiver.AckNow);
        Accept(receiver, Nxt, 100, out _);
        Assert.True(receiver.FinReady);
        receiver.TakeFin();
        Assert.Equal(Nxt + 101, receiver.Nxt);
        Assert.True(receiver.FinReceived);
        Assert.False(receiver.FinReady);
    }

    [Fact]
    public void TuneBuffer_ReaderKeepingUpWithTheWindow_DoublesTheBuffer()
    {
        TcpReceiver receiver = Make(buffer: 4000);
        TimeSpan rtt = TimeSpan.FromMilliseconds(10);
        receiver.TuneBuffer(3000, TimeSpan.Zero, rtt, max: 1 << 20);
        Assert.Equal(4000, receiver.BufferLimit); // less than an RTT measured
        receiver.TuneBuffer(3000, rtt, rtt, max: 1 << 20);
        Assert.Equal(12_000, receiver.BufferLimit); // twice the 6000 bytes read in one RTT
        Assert.Equal(1, _events[TcpEvent.ReceiveBufferGrown]);
        receiver.TuneBuffer(1 << 20, 3 * rtt, rtt, max: 50_000);
        Assert.Equal(50_000, receiver.BufferLimit);
    }

    [Theory]
    [InlineData(262_144, 6_291_456, true, 7)]   // auto-tuning: scaled for its maximum
    [InlineData(262_144, 6_291_456, false, 3)]  // fixed: for the buffer itself
    [InlineData(65_535, 0, false, 0)]
    public void Rfc7323_2_3_OfferedScale_IsTheSmallestThatFitsTheLargestBuffer(int buffer, int max, bool autoTuning, int expected)
    {
        var options = new TcpConnectionOptions { ReceiveBufferSize = buffer, MaxReceiveBufferSize = max, BufferAutoTuning = autoTuning };
        Assert.Equal(expected, TcpReceiver.OfferedScale(options));
    }

    private static void Release(RxPiece[] pieces, int count)
    {
        for (int i = 0; i < count; i++)
        {
            pieces[i].Packet.Release();
            pieces[i] = default;
        }
    }
}
