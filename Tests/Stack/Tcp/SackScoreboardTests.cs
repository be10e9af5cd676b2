using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Tcp;
using NetStack.Wire;

namespace NetStack.Tests.Stack.Tcp;

/// <summary>
/// The SACK scoreboard on its own: records, byte accounting, SACK edges rounded to segment boundaries (the
/// CVE-2019-11477 "SACK panic" bound), loss marks, retransmission records, D-SACK detection (RFC 2883 §4), and
/// its invariants under random operation sequences.
/// </summary>
public class SackScoreboardTests
{
    private const int Mss = 100;
    private static readonly SequenceNumber Start = 1000;

    /// <summary>A scoreboard with <paramref name="segments"/> MSS segments sent as one transmission (one record).</summary>
    private static SackScoreboard Sent(int segments, long sentAt = 10)
    {
        var board = new SackScoreboard();
        board.Append(Start, segments * Mss, sentAt, fin: false, Mss);
        return board;
    }

    private static TcpSackList Blocks(params (uint Left, uint Right)[] blocks)
    {
        var list = default(TcpSackList);
        foreach ((uint left, uint right) in blocks)
        {
            list.TryAdd(new TcpSackBlock(left, right));
        }
        return list;
    }

    private static SequenceNumber At(int segment) => Start + (segment * Mss);

    /// <summary>The invariants the type's documentation states.</summary>
    private static void AssertInvariants(SackScoreboard board)
    {
        long sacked = 0, lost = 0;
        for (int i = 0; i < board.Count; i++)
        {
            SentSegment s = board[i];
            Assert.True(s.Length > 0, $"record {i} is empty");
            Assert.False(s.Is(SentFlags.Sacked) && s.Is(SentFlags.Lost), $"record {i} is both SACKed and lost");
            if (i > 0)
            {
                Assert.Equal(board[i - 1].End, s.Start);
            }
            if (s.Is(SentFlags.Sacked))
            {
                sacked += s.Length;
            }
            else if (s.Is(SentFlags.Lost))
            {
                lost += s.Length;
            }
        }
        Assert.Equal(sacked, board.SackedBytes);
        Assert.Equal(lost, board.LostBytes);
    }

    [Fact]
    public void Append_SameSendOpportunity_ExtendsOneRecord()
    {
        SackScoreboard board = Sent(2);
        board.Append(At(2), 3 * Mss, 10, fin: false, Mss);
        Assert.Equal(1, board.Count);
        Assert.Equal(5 * Mss, board[0].Length);
    }

    [Fact]
    public void Append_LaterTransmission_StartsNewRecord()
    {
        SackScoreboard board = Sent(2);
        board.Append(At(2), Mss, 11, fin: false, Mss);
        board.Append(At(3), 1, 11, fin: true, Mss);
        Assert.Equal(3, board.Count);
        Assert.True(board[1].Order < board[2].Order);
        Assert.True(board[2].Is(SentFlags.Fin));
    }

    [Fact]
    public void AckUpTo_PartlyCoveredRecord_TrimsItAndNotesTheDelivery()
    {
        SackScoreboard board = Sent(4);
        DeliveryInfo info = board.BeginDelivery();
        board.AckUpTo(At(1) + 50, ref info);
        Assert.Equal(1, board.Count);
        Assert.Equal(At(1) + 50, board[0].Start);
        Assert.Equal(Mss + 50, info.NewlyDelivered);
        Assert.Equal(10, info.RttSampleSentAt); // never retransmitted: an unambiguous RTT sample (RFC 6298 §3)
        Assert.False(info.Reordered);
        AssertInvariants(board);
    }

    [Fact]
    public void AckUpTo_Everything_EmptiesTheBoard()
    {
        SackScoreboard board = Sent(3);
        DeliveryInfo info = board.BeginDelivery();
        board.AckUpTo(At(3), ref info);
        Assert.Equal(0, board.Count);
        Assert.Equal(At(3), board.HighestSacked);
    }

    [Fact]
    public void Sack_OddEdges_AreRoundedInwardToSegmentBoundaries()
    {
        SackScoreboard board = Sent(10);
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(1) + 50, At(3) + 1, ref info);
        Assert.Equal(Mss, board.SackedBytes); // only segment 2 is wholly inside the block
        Assert.Equal(3, board.Count);
        Assert.Equal(Mss, info.NewlyDelivered);
        Assert.Equal(At(3), board.HighestSacked);
        AssertInvariants(board);
    }

    [Fact]
    public void Sack_ByteSizedBlocks_MakeAtMostOneRecordPerSegment()
    {
        SackScoreboard board = Sent(10);
        DeliveryInfo info = board.BeginDelivery();
        for (int b = 1; b < 10 * Mss; b += 3)
        {
            board.Sack(Start + b, Start + b + 1, ref info); // the "SACK panic" pattern (CVE-2019-11477)
        }
        Assert.InRange(board.Count, 1, 10);
        Assert.Equal(0, board.SackedBytes);
        AssertInvariants(board);
    }

    [Fact]
    public void Sack_BelowTheHighestSacked_ReportsReordering()
    {
        SackScoreboard board = Sent(10);
        DeliveryInfo first = board.BeginDelivery();
        board.Sack(At(6), At(7), ref first);
        DeliveryInfo second = board.BeginDelivery();
        board.Sack(At(3), At(4), ref second);
        Assert.False(first.Reordered);
        Assert.True(second.Reordered); // RFC 8985 §6.2 step 3
    }

    [Fact]
    public void MarkLost_SackedRecord_IsLeftAlone()
    {
        SackScoreboard board = Sent(4);
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(1), At(2), ref info);
        Assert.Equal(3 * Mss, board.MarkAllLost());
        Assert.Equal(0, board.MarkLost(1));
        Assert.Equal(Mss, board.SackedBytes);
        Assert.Equal(3 * Mss, board.LostBytes);
        AssertInvariants(board);
    }

    [Fact]
    public void MarkLostRange_SplitsAtItsEdges()
    {
        SackScoreboard board = Sent(6);
        board.MarkLostRange(At(2), At(4));
        Assert.Equal(3, board.Count);
        Assert.Equal(2 * Mss, board.LostBytes);
        Assert.True(board[1].Is(SentFlags.Lost) && board[1].Start == At(2));
        AssertInvariants(board);
    }

    [Fact]
    public void TryGetLostRun_StopsAtTheFirstRecordNotLost()
    {
        SackScoreboard board = Sent(8);
        board.MarkLostRange(At(1), At(3));
        board.MarkLostRange(At(5), At(6));
        Assert.True(board.TryGetLostRun(int.MaxValue, out SequenceNumber start, out int length, out bool fin));
        Assert.Equal(At(1), start);
        Assert.Equal(2 * Mss, length);
        Assert.False(fin);
        Assert.True(board.TryGetLostRun(1, out _, out int limited, out _));
        Assert.Equal(2 * Mss, limited); // whole records: one record passes the limit
    }

    [Fact]
    public void TryGetLostRun_NothingLost_IsFalse()
    {
        Assert.False(Sent(3).TryGetLostRun(int.MaxValue, out _, out _, out _));
    }

    [Fact]
    public void Retransmitted_LostRun_BecomesOneRecordInFlightAgain()
    {
        SackScoreboard board = Sent(6);
        board.MarkLostRange(At(1), At(2));
        board.MarkLostRange(At(2), At(4));
        board.Retransmitted(At(1), 3 * Mss, sentAt: 50, Mss);
        Assert.Equal(3, board.Count);
        SentSegment merged = board[1];
        Assert.Equal(3 * Mss, merged.Length);
        Assert.True(merged.Is(SentFlags.EverRetransmitted) && !merged.Is(SentFlags.Lost));
        Assert.Equal(50, merged.SentAt);
        Assert.Equal(0, board.LostBytes); // in flight again
        AssertInvariants(board);
    }

    [Fact]
    public void AckUpTo_RetransmittedRecord_GivesNoRttSample()
    {
        SackScoreboard board = Sent(2);
        board.MarkAllLost();
        board.Retransmitted(Start, 2 * Mss, sentAt: 50, Mss);
        DeliveryInfo info = board.BeginDelivery();
        board.AckUpTo(At(2), ref info);
        Assert.Equal(0, info.RttSampleSentAt); // Karn (RFC 6298 §3)
        Assert.True(info.NewestWasRetransmitted);
    }

    [Fact]
    public void SplitAt_FinRecord_KeepsTheFinOnTheRightPart()
    {
        var board = new SackScoreboard();
        board.Append(Start, 2 * Mss + 1, 10, fin: true, Mss);
        Assert.Equal(1, board.SplitAt(At(1)));
        Assert.False(board[0].Is(SentFlags.Fin));
        Assert.True(board[1].Is(SentFlags.Fin));
    }

    [Fact]
    public void ClearSacks_ReceiverReneged_CountsTheBytesInFlightAgain()
    {
        SackScoreboard board = Sent(4);
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(2), At(4), ref info);
        board.ClearSacks(); // RFC 2018 §8
        Assert.Equal(0, board.SackedBytes);
        Assert.Equal(Start, board.HighestSacked);
        AssertInvariants(board);
    }

    [Fact]
    public void Rfc2883_4_FirstBlockBelowTheAck_IsDuplicateSackAndNotApplied()
    {
        SackScoreboard board = Sent(4);
        DeliveryInfo info = board.BeginDelivery();
        Assert.True(board.ApplySackBlocks(Blocks((Start.Value - 100, Start.Value)), Start, Start, At(4), ref info));
        Assert.Equal(0, board.SackedBytes);
    }

    [Fact]
    public void Rfc2883_4_FirstBlockInsideTheSecond_IsDuplicateSackAndTheSecondApplies()
    {
        SackScoreboard board = Sent(6);
        DeliveryInfo info = board.BeginDelivery();
        bool duplicate = board.ApplySackBlocks(Blocks((At(3).Value, At(4).Value), (At(2).Value, At(5).Value)), Start, Start, At(6), ref info);
        Assert.True(duplicate);
        Assert.Equal(3 * Mss, board.SackedBytes);
    }

    [Fact]
    public void ApplySackBlocks_OrdinaryBlocks_AreNotDuplicates()
    {
        SackScoreboard board = Sent(6);
        DeliveryInfo info = board.BeginDelivery();
        Assert.False(board.ApplySackBlocks(Blocks((At(4).Value, At(5).Value), (At(2).Value, At(3).Value)), Start, Start, At(6), ref info));
        Assert.Equal(2 * Mss, board.SackedBytes);
    }

    [Fact]
    public void ApplySackBlocks_MalformedOrOutsideTheFlight_AreIgnored()
    {
        SackScoreboard board = Sent(4);
        DeliveryInfo info = board.BeginDelivery();
        TcpSackList blocks = Blocks(
            (At(2).Value, At(1).Value),                 // right before left
            (At(0).Value, At(0).Value + (1u << 31)),    // longer than 2^30
            (At(4).Value, At(8).Value));                // beyond SND.NXT
        Assert.False(board.ApplySackBlocks(blocks, At(1), Start, At(4), ref info));
        Assert.Equal(0, board.SackedBytes);
        Assert.Equal(0, info.NewlyDelivered);
    }

    private static readonly Gen<(int Op, int A, int B)[]> Operations =
        from count in Gen.Choose(0, 60)
        from ops in Gen.ArrayOf(
            from op in Gen.Choose(0, 6)
            from a in Gen.Choose(0, 40 * Mss)
            from b in Gen.Choose(1, 10 * Mss)
            select (op, a, b), count)
        select ops;

    [Property(MaxTest = 300)]
    public Property AnyOperationSequence_KeepsTheInvariants() => Prop.ForAll(Arb.From(Operations), ops =>
    {
        var board = new SackScoreboard();
        SequenceNumber una = Start, max = Start;
        long time = 1;
        foreach ((int op, int a, int b) in ops)
        {
            time++;
            DeliveryInfo info = board.BeginDelivery();
            switch (op)
            {
                case 0:
                case 1:
                    board.Append(max, b, time, fin: false, Mss);
                    max += b;
                    break;
                case 2:
                    board.Sack(una + a, una + a + b, ref info);
                    break;
                case 3 when max > una:
                    SequenceNumber ack = una + Math.Min(a, max - una);
                    board.AckUpTo(ack, ref info);
                    una = ack;
                    break;
                case 4 when board.Count > 0:
                    board.MarkLost(a % board.Count);
                    break;
                case 5:
                    board.MarkLostRange(una + a, una + a + b);
                    break;
                case 6 when board.TryGetLostRun(b, out SequenceNumber start, out int length, out _):
                    board.Retransmitted(start, length, time, Mss);
                    break;
            }
            AssertInvariants(board);
            if (board.Count > 0)
            {
                Assert.True(board[0].Start >= una && board[board.Count - 1].End == max);
            }
        }
    });
}
