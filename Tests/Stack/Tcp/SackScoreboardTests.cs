using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using NetStack.Diagnostics;
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

    private static readonly Gen<(int Op, int A, int B)[]> ModelOperations =
        from count in Gen.Choose(0, 80)
        from ops in Gen.ArrayOf(
            from op in Gen.Choose(0, 13)
            from a in Gen.Choose(0, 40 * Mss)
            from b in Gen.Choose(1, 10 * Mss)
            select (op, a, b), count)
        select ops;

    /// <summary>
    /// The tree answers every query as the sorted array it replaced (<see cref="ArraySackScoreboard"/>, the linear
    /// reference model) does, record for record, on random sequences of sends, SACKs, ACKs, loss marks,
    /// retransmissions, probes, RTOs, reneging and RACK queries, with a clock that never goes back.
    /// </summary>
    [Property(MaxTest = 500)]
    public Property AnyOperationSequence_AnswersAsTheArrayModel() => Prop.ForAll(Arb.From(ModelOperations), ops =>
    {
        var tree = new SackScoreboard(seed: ops.Length + 1); // the tree's shape changes nothing it answers
        var model = new ArraySackScoreboard();
        SequenceNumber una = Start, max = Start;
        long time = 1;
        bool finSent = false;
        foreach ((int op, int a, int b) in ops)
        {
            time += a % 3 == 0 ? 0 : 1; // sometimes the same tick: one send opportunity
            int segmentSize = a % 5 == 0 ? Mss / 2 + 7 : Mss;
            DeliveryInfo treeInfo = tree.BeginDelivery(), modelInfo = model.BeginDelivery();
            switch (op)
            {
                case 0:
                case 1:
                    if (!finSent)
                    {
                        bool fin = a % 13 == 0;
                        tree.Append(max, b + (fin ? 1 : 0), time, fin, segmentSize);
                        model.Append(max, b + (fin ? 1 : 0), time, fin, segmentSize);
                        max += b + (fin ? 1 : 0);
                        finSent = fin;
                    }
                    break;
                case 2:
                    tree.Sack(una + a, una + a + b, ref treeInfo);
                    model.Sack(una + a, una + a + b, ref modelInfo);
                    break;
                case 3:
                    TcpSackList blocks = Blocks(((una + a).Value, (una + a + b).Value), ((una + b).Value, (una + b + a).Value), ((una - b).Value, (una + a / 2).Value));
                    Assert.Equal(model.ApplySackBlocks(blocks, una, una, max, ref modelInfo), tree.ApplySackBlocks(blocks, una, una, max, ref treeInfo));
                    break;
                case 4 when max > una:
                    SequenceNumber ack = una + Math.Min(a, max - una);
                    tree.AckUpTo(ack, ref treeInfo);
                    model.AckUpTo(ack, ref modelInfo);
                    una = ack;
                    break;
                case 5 when model.Count > 0:
                    Assert.Equal(model.MarkLost(a % model.Count), tree.MarkLost(a % model.Count));
                    break;
                case 6:
                    tree.MarkLostRange(una + a, una + a + b);
                    model.MarkLostRange(una + a, una + a + b);
                    break;
                case 7:
                    bool found = model.TryGetLostRun(b, out SequenceNumber start, out int length, out bool runFin);
                    Assert.Equal(found, tree.TryGetLostRun(b, out SequenceNumber treeStart, out int treeLength, out bool treeFin));
                    Assert.Equal((start, length, runFin), (treeStart, treeLength, treeFin));
                    if (found)
                    {
                        int resent = a % 2 == 0 || length <= Mss ? length : length - (length % Mss == 0 ? Mss : length % Mss);
                        tree.Retransmitted(start, resent, time, segmentSize);
                        model.Retransmitted(start, resent, time, segmentSize);
                    }
                    break;
                case 8 when model.Count > 0:
                    model.TailSegment(b, out SequenceNumber tail, out int tailLength, out bool tailFin);
                    tree.TailSegment(b, out SequenceNumber treeTail, out int treeTailLength, out bool treeTailFin);
                    Assert.Equal((tail, tailLength, tailFin), (treeTail, treeTailLength, treeTailFin));
                    tree.Retransmitted(tail, tailLength, time, Mss); // a tail loss probe
                    model.Retransmitted(tail, tailLength, time, Mss);
                    break;
                case 9:
                    Assert.Equal(model.MarkAllLost(), tree.MarkAllLost());
                    break;
                case 10:
                    tree.ClearSacks();
                    model.ClearSacks();
                    break;
                case 11:
                    // RACK's reference: a record's own transmission and end (as after it was delivered), or anywhere.
                    SentSegment reference = model.Count > 0 ? model[b % model.Count] : default;
                    long order = (a % 4) switch { 0 => long.MaxValue, 1 => a % 100, _ => reference.Order };
                    SequenceNumber end = a % 3 == 0 ? una + a : reference.End;
                    long expiredAt = time - (b % 30);
                    Assert.Equal(model.MarkLostSentBefore(order, end, expiredAt, out long waiting), tree.MarkLostSentBefore(order, end, expiredAt, out long treeWaiting));
                    Assert.Equal(waiting, treeWaiting);
                    break;
                case 12:
                    Assert.Equal(model.SplitAt(una + a), tree.SplitAt(una + a));
                    break;
                case 13 when a % 10 == 0:
                    tree.Clear();
                    model.Clear();
                    una = max;
                    break;
            }
            Assert.Equal(modelInfo, treeInfo);
            AssertSameAs(model, tree);
        }
    });

    private static void AssertSameAs(ArraySackScoreboard model, SackScoreboard tree)
    {
        Assert.Equal(model.Count, tree.Count);
        for (int i = 0; i < model.Count; i++)
        {
            Assert.Equal(model[i], tree[i]);
        }
        Assert.Equal(model.SackedBytes, tree.SackedBytes);
        Assert.Equal(model.LostBytes, tree.LostBytes);
        Assert.Equal(model.HighestSacked, tree.HighestSacked);
    }

    /// <summary>
    /// Per-ACK work (tree nodes visited, counted, never timed) grows with the logarithm of the records held: at
    /// 80,000 records within four times what it is at 100. The array it replaced moved and scanned O(n) records
    /// per ACK (ScoreboardWorkload against ArraySackScoreboard: hundreds of times more at 80,000).
    /// </summary>
    [Fact]
    public void Ack_80000Records_WorkPerAckWithinFourTimesThatAt100()
    {
        double small = TreeWorkPerAck(100);
        double large = TreeWorkPerAck(80_000);
        Assert.True(large <= 4 * small, $"{large:F0} nodes per ACK at 80,000 records, {small:F0} at 100");
    }

    private static double TreeWorkPerAck(int records)
    {
        var workload = new ScoreboardWorkload<SackScoreboard, TreeScoreboard>(records);
        for (int i = 0; i < 1000; i++)
        {
            workload.Ack(); // into the steady state: records split and retransmitted all over the board
        }
        long before = workload.Board.Work;
        for (int i = 0; i < 2000; i++)
        {
            workload.Ack();
        }
        Assert.Equal(records, workload.Board.Count);
        return (workload.Board.Work - before) / 2000.0;
    }

    /// <summary>
    /// A transfer without loss (new data at the tail, cumulative ACKs at the front, RACK's query on every ACK)
    /// visits no tree node at all: the clean tail answers it in O(1) per record, as the array before the tree did.
    /// </summary>
    [Fact]
    public void AppendAndAck_NoLoss_VisitsNoTreeNode()
    {
        var board = new SackScoreboard();
        SequenceNumber una = Start, nxt = Start;
        for (int round = 0; round < 10_000; round++)
        {
            for (int i = 0; i < 4; i++)
            {
                board.Append(nxt, Mss, sentAt: 4 * round + i, fin: false, Mss); // each its own transmission
                nxt += Mss;
            }
            DeliveryInfo info = board.BeginDelivery();
            una += 3 * Mss;
            board.AckUpTo(una, ref info);
            Assert.Equal(3 * Mss, info.NewlyDelivered);
            Assert.False(board.MarkLostSentBefore(info.NewestOrder, info.NewestEnd, 4 * round - 1_000, out _));
        }
        Assert.Equal(10_000, board.Count);
        Assert.Equal(0, board.Work);
        AssertInvariants(board);
    }

    /// <summary>
    /// RACK (RFC 8985 §6.2 step 5) marks an expired record of the clean tail lost: it moves into the tree, the
    /// records sent after the reference stay unmarked, and the oldest not yet expired sets the reordering timer.
    /// </summary>
    [Fact]
    public void MarkLostSentBefore_ExpiredTailRecords_AreMarkedLostAndTheNextWaits()
    {
        var board = new SackScoreboard();
        for (int i = 0; i < 6; i++)
        {
            board.Append(At(i), Mss, sentAt: 10 + i, fin: false, Mss);
        }
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(5), At(6), ref info); // the newest delivered: the reference
        Assert.True(board.MarkLostSentBefore(info.NewestOrder, info.NewestEnd, expiredAt: 12, out long waiting));
        Assert.Equal(3 * Mss, board.LostBytes); // sent at 10, 11, 12
        Assert.Equal(13, waiting);
        Assert.True(board.TryGetLostRun(int.MaxValue, out SequenceNumber start, out int length, out _));
        Assert.Equal((Start, 3 * Mss), (start, length));
        AssertInvariants(board);
    }

    /// <summary>
    /// Moving a long clean tail into the tree costs O(k) once (a treap built in one pass, then one merge), not
    /// O(k log k): each record enters the tree once however the ACKs fall, so the amortized per-ACK bound holds.
    /// </summary>
    [Fact]
    public void Sack_AfterLongCleanTail_MovesItIntoTheTreeInLinearWork()
    {
        const int records = 50_000;
        var board = new SackScoreboard(seed: 7);
        for (int i = 0; i < records; i++)
        {
            board.Append(At(i), Mss, sentAt: 10 + i, fin: false, Mss);
        }
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(records - 2), At(records - 1), ref info);
        Assert.Equal(Mss, board.SackedBytes);
        Assert.Equal(records, board.Count);
        Assert.True(board.Work <= 3 * records, $"{board.Work} nodes visited for {records} records");
        AssertInvariants(board);
    }

    /// <summary>A board of <see cref="SackScoreboard.MaxRecords"/> records of two segments, each its own transmission.</summary>
    private static SackScoreboard Full(ReasonCounters<TcpEvent> events)
    {
        var board = new SackScoreboard(events);
        for (int i = 0; i < SackScoreboard.MaxRecords; i++)
        {
            board.Append(At(2 * i), 2 * Mss, 10 + i, fin: false, Mss);
        }
        return board;
    }

    [Fact]
    public void Sack_AtMaxRecords_RoundsItsEdgesInwardToWholeRecordsAndCounts()
    {
        var events = new ReasonCounters<TcpEvent>();
        SackScoreboard board = Full(events);
        DeliveryInfo info = board.BeginDelivery();
        board.Sack(At(1), At(5), ref info); // half of record 0, record 1, half of record 2
        Assert.Equal(SackScoreboard.MaxRecords, board.Count);
        Assert.Equal(2 * Mss, board.SackedBytes); // only record 1: never a byte more than the peer reported
        Assert.Equal(2, events[TcpEvent.SackScoreboardFull]);
    }

    [Fact]
    public void Retransmitted_AtMaxRecords_PartOfALostRecord_TakesTheWholeRecordOutOfTheLost()
    {
        var events = new ReasonCounters<TcpEvent>();
        SackScoreboard board = Full(events);
        board.MarkLostRange(At(4), At(5)); // rounded out: the whole record 2 is lost
        Assert.Equal(2 * Mss, board.LostBytes);
        Assert.True(board.TryGetLostRun(int.MaxValue, out SequenceNumber start, out int length, out _));
        Assert.Equal((At(4), 2 * Mss), (start, length));
        board.Retransmitted(start, Mss, sentAt: 1_000_000, Mss); // the window had room for one segment
        Assert.Equal(0, board.LostBytes); // so the sender never resends the same segment forever
        Assert.True(board[2].Is(SentFlags.EverRetransmitted));
        Assert.Equal(SackScoreboard.MaxRecords, board.Count);
        Assert.Equal(2, events[TcpEvent.SackScoreboardFull]);
    }

    [Fact]
    public void Append_AtMaxRecords_NewDataJoinsTheTailRecord()
    {
        var events = new ReasonCounters<TcpEvent>();
        SackScoreboard board = Full(events);
        board.Append(At(2 * SackScoreboard.MaxRecords), Mss, sentAt: 1_000_000, fin: false, Mss);
        Assert.Equal(SackScoreboard.MaxRecords, board.Count);
        Assert.Equal(3 * Mss, board[SackScoreboard.MaxRecords - 1].Length);
        Assert.Equal(1, events[TcpEvent.SackScoreboardFull]);
    }
}
